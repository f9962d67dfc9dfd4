// `gdqr bench gemm`: GEMM GFLOP/s against the measured FMA peak.
import ArgumentParser
import Trainer
import TrainerCLI
import EngineBench
import Foundation

struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Square SGEMM (M=N=K) at 1 thread and all threads, against the measured FMA peak.")

    @Flag(help: "One JSON object per line (bench, shape, threads, gflops, peak_gflops, fraction_of_peak).")
    var json = false

    @OptionGroup var engine: EngineOptions

    @Option(help: "Comma-separated square sizes.")
    var sizes: String = "256,512,1024,2048"

    @Option(help: "Thread count to measure (default: 1 and all threads).")
    var threads: Int?

    @Flag(help: "Also measure the convolution's per-image GEMM shapes (single thread).")
    var convShapes = false

    func run() throws {
        let sizeList = try sizes.split(separator: ",").map { s -> Int in
            guard let v = Int(s.trimmingCharacters(in: .whitespaces)), v > 0 else {
                throw ValidationError("bad size '\(s)' in --sizes")
            }
            return v
        }
        let all = benchAllThreads
        var threadCounts = threads.map { [$0] } ?? (all > 1 ? [1, all] : [1])
        if threadCounts.contains(where: { $0 < 1 }) { throw ValidationError("--threads must be >= 1") }
        threadCounts = Array(Set(threadCounts)).sorted()
        var peakThreads = threadCounts
        if convShapes && !peakThreads.contains(1) { peakThreads.append(1) }
        let emit: (BenchResult) -> Void = { r in
            print(json ? r.jsonLine : r.textLine)
            fflush(stdout)
        }
        if !json { print(BenchResult.textHeader) }
        let peaks = fmaPeakResults(threadCounts: peakThreads)
        for t in peakThreads.sorted() { emit(peaks[t]!) }
        runGemmBench(sizes: sizeList, threadCounts: threadCounts, peaks: peaks, emit: emit)
        if convShapes { runGemmConvShapesBench(peak1: peaks[1]!.gflops, emit: emit) }
    }
}
