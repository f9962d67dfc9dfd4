// `gdqr bench train` and `gdqr bench infer`: whole-network throughput on random data
// (ModelTools/NetworkBench.swift), printed as text or one JSON object per line.

import ArgumentParser
import Foundation
import TensorEngine
import IntegerInference
import Export
import TrainerCLI
import ModelTools

struct ModelBenchOptions: ParsableArguments {
    @Option(help: "Model: resnet (ResNet-20, width 16) or cnn (width 32) at 1x28x28; vgg-small, resnet18, resnet50 or mobilenetv2 at 1x32x32 (as their configs).")
    var model: String = "resnet"

    @Option(help: "Batch size.")
    var batch: Int = 128

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "Seconds to measure each mode (after warm-up).")
    var seconds: Double = 5

    @Flag(help: "One JSON object per line.")
    var json = false

    @OptionGroup var engine: EngineOptions

    func bench() throws -> NetworkBench {
        try NetworkBench(model: model, batch: batch, threads: threads ?? Engine.defaultThreads, seconds: seconds)
    }

    func print(_ b: NetworkBench, _ r: NetworkBench.Rate) {
        if json {
            Swift.print("{\"framework\":\"gdqr\",\"model\":\"\(b.model)\",\"mode\":\"\(r.mode)\",\"threads\":\(b.threads),"
                + "\"batch\":\(b.batch),\"images_per_s\":\(String(format: "%.1f", r.imagesPerSecond)),"
                + "\"ms_per_batch\":\(String(format: "%.3f", r.msPerBatch)),\"cpu_ms_per_batch\":\(String(format: "%.3f", r.cpuMsPerBatch)),"
                + "\"batches\":\(r.batches),\(BuildInfo.cpuJSONFields)}")
        } else {
            Swift.print(String(format: "%@ %@  batch %d  threads %d  %.1f images/s  (%.2f ms/batch, CPU %.2f ms/batch, %d batches)",
                               b.model, r.mode, b.batch, b.threads, r.imagesPerSecond, r.msPerBatch, r.cpuMsPerBatch, r.batches))
        }
        fflush(stdout)
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Training images/s (forward, backward, SGD step), FP32 and W4A4 fake-quant.")
    @OptionGroup var o: ModelBenchOptions

    func run() throws {
        let b = try o.bench()
        try b.train { o.print(b, $0) }
    }
}

struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "FP32 inference images/s (eval-mode forward); with --integer-model also the integer engine's, same process.")
    @OptionGroup var o: ModelBenchOptions

    @Option(help: "A .gdqr integer model (same architecture as --model): also measure the integer engine on it.")
    var integerModel: String?

    @Option(help: "Integer engine arithmetic: int32 (fast path), int32-reference or exact-float.")
    var arithmetic: String = "int32"

    func run() throws {
        guard let arith = IntegerEngine.Arithmetic(rawValue: arithmetic) else {
            throw ValidationError("--arithmetic \(arithmetic): expected int32, int32-reference or exact-float")
        }
        let b = try o.bench()
        try b.infer(integer: try integerModel.map { try ModelFile.read($0) }, arithmetic: arith) { o.print(b, $0) }
    }
}
