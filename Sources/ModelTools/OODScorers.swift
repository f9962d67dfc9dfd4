// The logits and penultimate features `gdqr eval --ood` scores, from the three kinds
// of classifier: the integer model (.gdqr, through the integer engine), the
// fake-quant float network of a quantized run, and the FP32 network. The features
// are the classifier's input: the pooled activations (for the quantized models on
// their activation grid, level x step, the same values in both).

import Foundation
import TensorEngine
import Layers
import IntegerInference
import Checkpoint
import Datasets
import Trainer

public protocol OODScorer {
    /// "integer", "fake-quant" or "fp32".
    var kind: String { get }
    var classes: Int { get }
    var featureCount: Int { get }
    /// Channels, height, width of the images the model takes.
    var input: (channels: Int, height: Int, width: Int) { get }
    /// Logits [N, classes] and features [N, featureCount] of every image.
    func run(_ images: ImageDataset) -> (logits: [Float], features: [Float])
}

extension OODScorer {
    /// Refuses images of another shape than the model's, naming both.
    public func check(_ d: ImageDataset) throws {
        let x = input
        guard d.channels == x.channels, d.height == x.height, d.width == x.width else {
            throw ToolError("\(d.source): images \(d.channels)x\(d.height)x\(d.width), "
                + "the model takes \(x.channels)x\(x.height)x\(x.width)")
        }
    }
}

public final class IntegerScorer: OODScorer {
    let model: IntegerModel
    let engine: IntegerEngine
    let featureValue: IntegerValue
    let featureID: Int
    let batch: Int
    public var kind: String { "integer" }
    public var classes: Int { model.classes }
    public var featureCount: Int { featureValue.count }
    public var input: (channels: Int, height: Int, width: Int) { (model.input.channels, model.input.height, model.input.width) }

    public init(_ model: IntegerModel, path: String, batch: Int, threads: Int) throws {
        guard let head = model.ops.last, head.kind == .linear, model.values[head.inputs[0]].kind != .float else {
            throw ToolError("\(path): the last op is not a linear classifier on integer features")
        }
        self.model = model
        featureID = head.inputs[0]
        featureValue = model.values[featureID]
        self.batch = batch
        engine = try IntegerEngine(model, maxBatch: batch, threads: threads)
    }

    public func run(_ d: ImageDataset) -> (logits: [Float], features: [Float]) {
        var logits = [Float](repeating: 0, count: d.count * classes)
        var features = [Float](repeating: 0, count: d.count * featureCount)
        let step = featureValue.step, per = d.sampleBytes, f = featureCount
        d.pixels.withUnsafeBufferPointer { px in
            var i = 0
            while i < d.count {
                let n = min(batch, d.count - i)
                let l = engine.run(px.baseAddress! + i * per, batch: n)
                for k in 0..<(n * classes) { logits[i * classes + k] = l[k] }
                let levels = engine.levels(of: featureID)!
                for k in 0..<(n * f) { features[i * f + k] = Float(levels[k]) * step }
                i += n
            }
        }
        return (logits, features)
    }
}

/// A run's float network: FP32 (no quantizers) or fake-quant (the run's quantizers).
public final class FloatScorer: OODScorer {
    public let kind: String
    let net: Network
    /// The run's quantization policy: the network's quantizers reference it unowned, so it
    /// lives as long as the network (nil for FP32).
    let policy: AnyObject?
    let rt: Runtime
    let body: Sequential
    let head: Layer
    let batch: Int
    let mean: [Float], std: [Float]
    public var classes: Int { net.spec.numClasses }
    public var featureCount: Int { head.inputShape.count }
    public var input: (channels: Int, height: Int, width: Int) {
        (net.spec.input.channels, net.spec.input.height, net.spec.input.width)
    }

    private init(kind: String, net: Network, policy: AnyObject?, config: RunConfig, batch: Int, threads: Int) {
        self.kind = kind
        self.net = net
        self.policy = policy
        self.batch = batch
        rt = Runtime(arena: net.arena, pool: threads > 1 ? ThreadPool(threads: threads) : nil)
        rt.training = false
        rt.step = Int.max / 2
        body = Sequential(Array(net.body.layers.dropLast()))
        head = net.body.layers.last!
        let c = net.spec.input.channels, n = config.normalization
        mean = n.mean.count == c ? n.mean : [Float](repeating: n.mean[0], count: c)
        std = n.std.count == c ? n.std : [Float](repeating: n.std[0], count: c)
    }

    /// `source`: a run folder (its quantized model when the run is quantized, else
    /// model-fp32.safetensors) or a .safetensors file (model-fp32.safetensors, or any file
    /// of an FP32 run, is FP32; else fake-quant), with the config.yaml beside it.
    public static func load(_ source: String, batch: Int, threads: Int) throws -> (FloatScorer, config: RunConfig, configPath: String) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else {
            throw ToolError("\(source): no such run folder or file")
        }
        let folder = isDir.boolValue ? source : (source as NSString).deletingLastPathComponent
        let configPath = (folder as NSString).appendingPathComponent("config.yaml")
        let cfg = try ConfigLoader.load(path: configPath)
        guard cfg.model.kind == .classifier else {
            throw ToolError("\(configPath): model.kind \(cfg.model.kind.rawValue) is a scene model, not a classifier")
        }
        let fp32File = isDir.boolValue ? (folder as NSString).appendingPathComponent("model-fp32.safetensors") : source
        if !cfg.quant.enabled || (!isDir.boolValue && (source as NSString).lastPathComponent == "model-fp32.safetensors") {
            let net = Network(cfg.modelSpec, maxBatch: batch, threads: threads, seed: 0, policy: nil)
            try ArenaSafetensors.load(net.arena, from: fp32File)
            return (FloatScorer(kind: "fp32", net: net, policy: nil, config: cfg, batch: batch, threads: threads), cfg, configPath)
        }
        let r = try LoadedRun.load(source, config: nil, maxBatch: batch, threads: threads)
        return (FloatScorer(kind: "fake-quant", net: r.net, policy: r.policy, config: cfg, batch: batch, threads: threads), cfg, configPath)
    }

    public func run(_ d: ImageDataset) -> (logits: [Float], features: [Float]) {
        let c = input.channels, plane = input.height * input.width, per = d.sampleBytes, f = featureCount
        let luts = (0..<c).map { ch in (0..<256).map { (Float($0) / 255 - mean[ch]) / std[ch] } }
        var x = [Float](repeating: 0, count: batch * per)
        var logits = [Float](repeating: 0, count: d.count * classes)
        var features = [Float](repeating: 0, count: d.count * f)
        var i = 0
        while i < d.count {
            let n = min(batch, d.count - i)
            for k in 0..<(n * per) { x[k] = luts[(k % per) / plane][Int(d.pixels[i * per + k])] }
            x.withUnsafeBufferPointer { xp in
                let h = body.forward(xp.baseAddress!, batch: n, rt: rt)
                for k in 0..<(n * f) { features[i * f + k] = h[k] }
                let l = head.forward(UnsafePointer(h), batch: n, rt: rt)
                for k in 0..<(n * classes) { logits[i * classes + k] = l[k] }
            }
            i += n
        }
        return (logits, features)
    }
}
