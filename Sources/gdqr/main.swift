import ArgumentParser
import TensorEngine
import Trainer
import TrainerCLI

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the version, the CPU, the kernel level and kernels chosen, and threads.")
    func run() {
        let level = CPULevel.current
        print("gdqr \(BuildInfo.version)")
        print("cpu: \(BuildInfo.hostCPUModel)")
        print("cpu features: \(CPULevel.cpuFeatures.joined(separator: " "))")
        print("isa level: \(level)" + (level == CPULevel.best ? "" : " (forced by GDQR_ISA; best \(CPULevel.best))"))
        print("compiled for: \(BuildInfo.targetCPU), kernels for v3 and v4")
        for (name, kernel) in level.kernels.sorted(by: { $0.key < $1.key }) { print("kernel \(name): \(kernel)") }
        print("threads: \(Engine.defaultThreads)")
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernels against this machine's FMA peak.",
        subcommands: [BenchGemm.self, BenchConv.self, BenchTrain.self, BenchInfer.self, BenchAllReduce.self, BenchLoader.self])
}

struct Gdqr: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gdqr", abstract: "GDQR 4-bit training, export and inference.",
        version: BuildInfo.version, subcommands: [TrainCommand.self, Info.self, Bench.self, SelfTestMPI.self, Export.self, Eval.self, Infer.self, Inspect.self, ScenesCommand.self, Report.self, ConfigCommand.self, DataCommand.self])
}

CommandLineEntry.main(Gdqr.self)
