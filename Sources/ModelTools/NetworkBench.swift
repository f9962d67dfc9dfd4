// Whole-network throughput on random data (`gdqr bench train` and `gdqr bench
// infer`), the gdqr side of Cluster/bench-vs-pytorch.sh: the same models, batch and
// threads as the PyTorch and onnxruntime side.

import Foundation
import TensorEngine
import Layers
import GDQR
import IntegerInference
import Distributed

public struct NetworkBench {
    /// One measured mode: images/s, wall and process-CPU milliseconds per batch.
    public struct Rate {
        public let mode: String
        public let imagesPerSecond: Double
        public let msPerBatch: Double
        /// CPU time of the process beside wall time: on a shared machine it shows what the run got.
        public let cpuMsPerBatch: Double
        public let batches: Int
    }

    public let model: String
    public let spec: ModelSpec
    public let batch: Int
    public let threads: Int
    public let seconds: Double

    /// The networks it knows, by the name `--model` takes: ResNet-20 and the CNN on
    /// 1x28x28 as the quick start trains them, and the standard networks on 1x32x32
    /// as their configs in configs/ build them (Fashion-MNIST resized).
    public static let models: KeyValuePairs<String, ModelSpec> = [
        "resnet": ModelSpec(arch: .resnet, depth: 20, width: 16, input: FeatureShape(1, 28, 28)),
        "cnn": ModelSpec(arch: .cnn, width: 32, input: FeatureShape(1, 28, 28)),
        "vgg-small": ModelSpec(arch: .vgg, depth: 7, input: FeatureShape(1, 32, 32)),
        "resnet18": ModelSpec(arch: .resnet, depth: 18, width: 64, input: FeatureShape(1, 32, 32)),
        "resnet50": ModelSpec(arch: .resnet, depth: 50, width: 64, input: FeatureShape(1, 32, 32), block: .bottleneck),
        "mobilenetv2": ModelSpec(arch: .mobilenetv2, input: FeatureShape(1, 32, 32)),
    ]

    /// `model`: one of `models`' names (resnet20 is resnet).
    public init(model: String, batch: Int, threads: Int, seconds: Double) throws {
        let name = model == "resnet20" ? "resnet" : model
        guard let found = Self.models.first(where: { $0.key == name })?.value else {
            throw ToolError(usage: "--model must be one of \(Self.models.map(\.key).joined(separator: ", ")), got '\(model)'")
        }
        spec = found
        self.model = model
        self.batch = max(1, batch)
        self.threads = max(1, threads)
        self.seconds = seconds
    }

    /// Training steps (forward, backward, SGD), FP32 then W4A4 fake-quant (GDQR defaults).
    public func train(_ report: (Rate) -> Void) throws {
        for (mode, policy) in [("train", nil), ("train-fq4", try GDQRPolicy(QuantSettings()))] as [(String, QuantizationPolicy?)] {
            let (net, rt, images, labels) = setup(policy: policy)
            let sgd = SGD(arena: net.arena, settings: SGDSettings())
            report(measure(mode: mode) {
                images.withUnsafeBufferPointer { x in
                    let logits = net.forward(x.baseAddress!, batch: batch, rt: rt)
                    _ = labels.withUnsafeBufferPointer { net.backward(logits: logits, labels: $0.baseAddress!, batch: batch, rt: rt) }
                }
                sgd.step(lr: 0.01)
            })
        }
    }

    /// The FP32 eval-mode forward; with an integer model (same architecture) also the
    /// integer engine on random pixels, in the same process.
    public func infer(integer: IntegerModel?, arithmetic: IntegerEngine.Arithmetic, _ report: (Rate) -> Void) throws {
        let (net, rt, images, _) = setup(policy: nil)
        rt.training = false
        report(measure(mode: "infer") { images.withUnsafeBufferPointer { _ = net.forward($0.baseAddress!, batch: batch, rt: rt) } })
        guard let m = integer else { return }
        let engine = try IntegerEngine(m, maxBatch: batch, threads: threads, arithmetic: arithmetic)
        var rng = CounterRNG(seed: 3, stream: 0)
        let pixels = (0..<(batch * m.input.count)).map { _ in UInt8(rng.nextInt(below: 256)) }
        report(measure(mode: "infer-int-\(arithmetic.rawValue)") {
            pixels.withUnsafeBufferPointer { _ = engine.run($0.baseAddress!, batch: batch) }
        })
    }

    /// Runs `step` 3 times untimed, then for `seconds` (at least 3 times).
    func measure(mode: String, _ step: () -> Void) -> Rate {
        for _ in 0..<3 { step() }
        let t0 = monotonicSeconds(), c0 = processCPUSeconds()
        var n = 0
        while monotonicSeconds() - t0 < seconds || n < 3 { step(); n += 1 }
        let dt = (monotonicSeconds() - t0) / Double(n)
        let cpu = (processCPUSeconds() - c0) / Double(n)
        return Rate(mode: mode, imagesPerSecond: Double(batch) / dt, msPerBatch: dt * 1000, cpuMsPerBatch: cpu * 1000, batches: n)
    }

    /// A network with random inputs and labels, ready to run.
    func setup(policy: QuantizationPolicy?) -> (Network, Runtime, [Float], [Int32]) {
        let net = Network(spec, maxBatch: batch, threads: threads, seed: 1, policy: policy)
        let rt = Runtime(arena: net.arena, pool: threads > 1 ? ThreadPool(threads: threads) : nil)
        var rng = CounterRNG(seed: 2, stream: 0)
        let images = (0..<(batch * spec.input.count)).map { _ in rng.nextNormal() }
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: spec.numClasses)) }
        return (net, rt, images, labels)
    }
}

/// CPU seconds the process has used (all threads).
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
