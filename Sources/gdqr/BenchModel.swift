// `gdqr bench train` and `gdqr bench infer`: whole-network throughput on random
// data, the gdqr side of Cluster/bench-vs-pytorch.sh (same models, batch, threads).

import ArgumentParser
import Foundation
import TensorEngine
import Layers
import GDQR
import IntegerInference
import Export
import Trainer
import TrainerCLI

struct ModelBenchOptions: ParsableArguments {
    @Option(help: "Model: resnet (ResNet-20, width 16) or cnn (width 32).")
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

    func spec() throws -> ModelSpec {
        switch model {
        case "resnet", "resnet20": return ModelSpec(arch: .resnet, depth: 20, width: 16, input: FeatureShape(1, 28, 28))
        case "cnn": return ModelSpec(arch: .cnn, width: 32, input: FeatureShape(1, 28, 28))
        default: throw ValidationError("--model must be resnet or cnn, got '\(model)'")
        }
    }

    /// Runs `step` repeatedly: 3 warm-up calls, then for `seconds`; prints the rate.
    func measure(mode: String, _ step: () -> Void) {
        for _ in 0..<3 { step() }
        var ts = timespec()
        func clock(_ id: clockid_t = CLOCK_MONOTONIC) -> Double {
            clock_gettime(id, &ts); return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
        }
        // CPU time of the process beside wall time: on a shared machine it shows what the run got.
        let t0 = clock(), c0 = clock(CLOCK_PROCESS_CPUTIME_ID)
        var n = 0
        while clock() - t0 < seconds || n < 3 { step(); n += 1 }
        let dt = (clock() - t0) / Double(n)
        let cpu = (clock(CLOCK_PROCESS_CPUTIME_ID) - c0) / Double(n)
        let ips = Double(batch) / dt
        let t = threads ?? Engine.defaultThreads
        if json {
            print("{\"framework\":\"gdqr\",\"model\":\"\(model)\",\"mode\":\"\(mode)\",\"threads\":\(t),"
                + "\"batch\":\(batch),\"images_per_s\":\(String(format: "%.1f", ips)),"
                + "\"ms_per_batch\":\(String(format: "%.3f", dt * 1000)),\"cpu_ms_per_batch\":\(String(format: "%.3f", cpu * 1000)),"
                + "\"batches\":\(n),\(BuildInfo.cpuJSONFields)}")
        } else {
            print(String(format: "%@ %@  batch %d  threads %d  %.1f images/s  (%.2f ms/batch, CPU %.2f ms/batch, %d batches)",
                         model, mode, batch, t, ips, dt * 1000, cpu * 1000, n))
        }
        fflush(stdout)
    }

    /// A network with random inputs and labels, ready to run.
    func setup(policy: QuantizationPolicy?) throws -> (Network, Runtime, [Float], [Int32]) {
        let t = threads ?? Engine.defaultThreads
        let net = Network(try spec(), maxBatch: batch, threads: t, seed: 1, policy: policy)
        let rt = Runtime(arena: net.arena, pool: t > 1 ? ThreadPool(threads: t) : nil)
        var rng = CounterRNG(seed: 2, stream: 0)
        let images = (0..<(batch * 784)).map { _ in rng.nextNormal() }
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: 10)) }
        return (net, rt, images, labels)
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Training images/s (forward, backward, SGD step), FP32 and W4A4 fake-quant.")
    @OptionGroup var o: ModelBenchOptions

    func run() throws {
        for (mode, policy) in [("train", nil), ("train-fq4", try GDQRPolicy(QuantSettings()))] as [(String, QuantizationPolicy?)] {
            let (net, rt, images, labels) = try o.setup(policy: policy)
            let sgd = SGD(arena: net.arena, settings: SGDSettings())
            o.measure(mode: mode) {
                images.withUnsafeBufferPointer { x in
                    let logits = net.forward(x.baseAddress!, batch: o.batch, rt: rt)
                    _ = labels.withUnsafeBufferPointer {
                        net.backward(logits: logits, labels: $0.baseAddress!, batch: o.batch, rt: rt)
                    }
                }
                sgd.step(lr: 0.01)
            }
        }
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
        let (net, rt, images, _) = try o.setup(policy: nil)
        rt.training = false
        o.measure(mode: "infer") {
            images.withUnsafeBufferPointer { _ = net.forward($0.baseAddress!, batch: o.batch, rt: rt) }
        }
        guard let path = integerModel else { return }
        guard let arith = IntegerEngine.Arithmetic(rawValue: arithmetic) else {
            throw ValidationError("--arithmetic \(arithmetic): expected int32, int32-reference or exact-float")
        }
        let m = try ModelFile.read(path)
        let engine = try IntegerEngine(m, maxBatch: o.batch, threads: o.threads ?? Engine.defaultThreads, arithmetic: arith)
        var rng = CounterRNG(seed: 3, stream: 0)
        let pixels = (0..<(o.batch * m.input.count)).map { _ in UInt8(rng.nextInt(below: 256)) }
        o.measure(mode: "infer-int-\(arith.rawValue)") {
            pixels.withUnsafeBufferPointer { _ = engine.run($0.baseAddress!, batch: o.batch) }
        }
    }
}
