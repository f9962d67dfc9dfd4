import ArgumentParser
import Trainer
import TrainerCLI
import EngineBench
import TensorEngine

struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Convolution GFLOP/s, forward and backward: ResNet-20's (1x28x28), then depthwise 3x3, 1x1 and 7x7 stride-2 shapes.")

    @Flag(help: "One JSON object per line.")
    var json = false

    @OptionGroup var engine: EngineOptions

    @Option(help: "Threads for the multi-threaded run (default: GDQR_THREADS or all cores); 1 thread is always measured.")
    var threads: Int?

    @Option(help: "Batch size.")
    var batch = 128

    @Option(help: "Timed runs per kernel; the best is reported.")
    var repetitions = 10

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be >= 1") }
        if batch < 1 || repetitions < 1 { throw ValidationError("--batch and --repetitions must be >= 1") }
    }

    func run() throws {
        let n = threads ?? Engine.defaultThreads
        let counts = n > 1 ? [1, n] : [1]
        if !json { print(BenchResult.textHeader) }
        runConvBench(threadCounts: counts, batch: batch, repetitions: repetitions) { r in
            print(json ? r.jsonLine : r.textLine)
        }
    }
}
