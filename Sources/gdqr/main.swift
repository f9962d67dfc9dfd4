import ArgumentParser
import TensorEngine
import Trainer

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version, CPU target, SIMD width and threads.")
    func run() {
        print("gdqr \(BuildInfo.version)")
        print("cpu target: \(BuildInfo.targetCPU) (host: \(BuildInfo.hostCPUModel))")
        print("simd width: \(BuildInfo.simdWidthFloats) floats")
        print("threads: \(Engine.defaultThreads)")
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernels against this machine's FMA peak.",
        subcommands: [BenchGemm.self, BenchConv.self, BenchTrain.self, BenchInfer.self, BenchAllReduce.self])
}

struct Gdqr: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gdqr", abstract: "GDQR 4-bit training, export and inference.",
        version: BuildInfo.version, subcommands: [TrainCommand.self, Info.self, Bench.self, SelfTestMPI.self, Export.self, Eval.self, Infer.self, Inspect.self, ScenesCommand.self, Report.self, ConfigCommand.self])
}

CommandLineEntry.main(Gdqr.self)
