// The state of a quantized phase's quantizers after a test evaluation, per
// conv/linear layer: weight thresholds T_g and clip fraction, the threshold T_a
// of the activation quantizer feeding the layer and its clip fraction over the
// whole test pass, and histograms of the float weights and of the weights the
// layer uses (after Scale-Clip and quantization). Rank 0 writes it to
// TensorBoard (quant/<layer>/..., weights_before/<layer>, weights_after/<layer>)
// and, atomically, to the run folder's quantization.json:
//
//   {"phase", "step", "epoch", "layers": [{"name", "kind": "conv"|"linear",
//     "weight_bits", "activation_bits", "groups", "weight_thresholds",
//     "weight_clip_fraction", "activation_threshold", "activation_clip_fraction",
//     "weight_histogram_before": {"edges": [33], "counts": [32]},
//     "weight_histogram_after": {...}}]}
//
// A side that is not quantized is null. Both histograms share 32 equal bins
// from -R to +R, R = max|w| over the float and the quantized weights of the
// layer (rounding to the top level can put a quantized weight up to Δ/2 beyond
// max|w| of the float weights; including it keeps every value inside a bin).
//
// Values come from the evaluation that just ran: its forwards recomputed T_g,
// the quantized weights and the weight clip count from the current weights, and
// counted activations above T_a (ActivationQuantizer.evaluationClipped).

import Foundation
import JSONFormat
import Layers
import GDQR

public struct QuantizedLayerState {
    public var name: String
    public var kind: String
    public var weightBits: Int?
    public var activationBits: Int?
    public var groups: Int?
    public var weightThresholds: [Float]?
    public var weightClipFraction: Double?
    public var activationThreshold: Float?
    public var activationClipFraction: Double?
    public var before: BinnedHistogram?
    public var after: BinnedHistogram?

    public var json: [String: Any] {
        func opt(_ v: Any?) -> Any { v ?? NSNull() }
        return ["name": name, "kind": kind, "weight_bits": opt(weightBits), "activation_bits": opt(activationBits),
                "groups": opt(groups), "weight_thresholds": opt(weightThresholds?.map { Double($0) }),
                "weight_clip_fraction": opt(weightClipFraction),
                "activation_threshold": opt(activationThreshold.map { Double($0) }),
                "activation_clip_fraction": opt(activationClipFraction),
                "weight_histogram_before": opt(before?.json), "weight_histogram_after": opt(after?.json)]
    }
}

public enum QuantizationSnapshot {
    public static let histogramBins = 32
    /// Per-group threshold scalars are logged when a layer has at most this many groups.
    public static let maxGroupScalars = 8

    /// The activation quantizer whose output a conv/linear layer consumes (the
    /// model builders' names, Layers/Models.swift and ResidualBlock.swift), or nil
    /// for the stem conv, which reads the image.
    public static func inputActivation(of layer: String, spec: ModelSpec) -> String? {
        if layer == "fc" { return "fc.act_in" }
        switch spec.arch {
        case .cnn:
            guard layer.hasPrefix("conv"), let i = Int(layer.dropFirst(4)), i > 1 else { return nil }
            return "bn\(i - 1).act"
        case .resnet:
            // layerS.I.conv1 / .downsample.0 read the block input: the previous
            // block's output quantizer (bn1.act before the first block); conv2 reads act1.
            let parts = layer.split(separator: ".")
            guard parts.count >= 3, parts[0].hasPrefix("layer"), let s = Int(parts[0].dropFirst(5)),
                  let i = Int(parts[1]) else { return nil }
            let block = "\(parts[0]).\(parts[1])"
            if parts[2] == "conv2" { return "\(block).act1" }
            if parts[2] == "conv3" { return "\(block).act2" }
            let stages = ResNetLayout.stages(depth: spec.depth, block: spec.block) ?? []
            if s == 1 && i == 0 { return "bn1.act" }
            let prev = i > 0 ? "layer\(s).\(i - 1)" : "layer\(s - 1).\(stages[s - 2] - 1)"
            return "\(prev).act_out"
        case .vgg, .mobilenetv2:
            return nil   // not mapped yet: their layers are logged without input activations
        }
    }

    /// A conv/linear layer of a model: its name, position and the activation quantizer it reads.
    public typealias PlannedLayer = (name: String, position: LayerPosition, input: String?)

    /// The classifier's layers.
    public static func plan(_ spec: ModelSpec) -> [PlannedLayer] {
        GDQRPolicy.weightLayers(of: spec).map { ($0.name, $0.position, inputActivation(of: $0.name, spec: spec)) }
    }

    /// A scene model's layers (Layers/SceneNetworks.swift, DetectionHeads.swift):
    /// the ResNet backbone without the classifier, then the head. CenterNet
    /// branches read the last block's output (3x3 conv) and their own ReLU
    /// quantizer "head.B.act" (prediction conv); the FCN score convs read the
    /// last blocks of stages 3 and 2.
    public static func plan(_ spec: ModelSpec, kind: ModelConfig.Kind) -> [PlannedLayer] {
        guard kind != .classifier else { return plan(spec) }
        let blocks = max(0, (spec.depth - 2) / 6)
        let deep = "layer3.\(blocks - 1).act_out", skip = "layer2.\(blocks - 1).act_out"
        var out = plan(spec).filter { $0.name != "fc" }
        if kind == .centerNet {
            for b in ["heatmap", "size", "offset"] {
                out.append(("head.\(b).0", .middle, deep))
                out.append(("head.\(b).2", .last, "head.\(b).act"))
            }
        } else {
            out += [("head.score_deep", .last, deep), ("head.score_skip", .last, skip)]
        }
        return out
    }

    /// The state of every conv/linear layer of a classifier that quantizes its weights or its input.
    public static func layers(policy: GDQRPolicy, arena: ParameterArena, spec: ModelSpec,
                              activationClip: [Double]) -> [QuantizedLayerState] {
        layers(policy: policy, arena: arena, plan: plan(spec), activationClip: activationClip)
    }

    /// The state of every planned layer that quantizes its weights or its input.
    public static func layers(policy: GDQRPolicy, arena: ParameterArena, plan: [PlannedLayer],
                              activationClip: [Double]) -> [QuantizedLayerState] {
        let weights = Dictionary(policy.weightQuantizers.map { ($0.layer, $0) }, uniquingKeysWith: { a, _ in a })
        var acts: [String: (ActivationQuantizer, Double?)] = [:]
        for (i, q) in policy.activationQuantizers.enumerated() {
            acts[q.name] = (q, i < activationClip.count ? activationClip[i] : nil)
        }
        var out: [QuantizedLayerState] = []
        for l in plan {
            let wq = weights[l.name]
            let aq = l.input.flatMap { acts[$0] }
            if wq == nil && aq == nil { continue }
            let linear = l.position == .last && !l.name.hasPrefix("head.")
            var s = QuantizedLayerState(name: l.name, kind: linear ? "linear" : "conv")
            if let wq {
                s.weightBits = wq.bits
                s.groups = wq.groups
                s.weightThresholds = wq.thresholds
                s.weightClipFraction = wq.clipFraction
                let w = UnsafeBufferPointer(start: UnsafePointer(arena.value(wq.weight)), count: wq.count)
                let q = UnsafeBufferPointer(start: wq.quantized, count: wq.count)
                let range = Double(max(maxAbs(w), maxAbs(q)))
                s.before = BinnedHistogram(w, range: range, bins: histogramBins)
                s.after = BinnedHistogram(q, range: range, bins: histogramBins)
            }
            if let (q, clip) = aq {
                s.activationBits = q.bits
                s.activationThreshold = q.threshold(arena: arena)
                s.activationClipFraction = clip
            }
            out.append(s)
        }
        return out
    }

    static func maxAbs(_ v: UnsafeBufferPointer<Float>) -> Float {
        v.reduce(0) { max($0, abs($1)) }
    }

    /// TensorBoard scalars and histograms of the layers.
    public static func tensorBoard(_ layers: [QuantizedLayerState])
        -> (scalars: [(tag: String, value: Float)], histograms: [(tag: String, histogram: TensorBoardHistogram)]) {
        var scalars: [(tag: String, value: Float)] = []
        var histograms: [(tag: String, histogram: TensorBoardHistogram)] = []
        for l in layers {
            let p = "quant/\(l.name)/"
            if let t = l.weightThresholds, !t.isEmpty {
                scalars.append((p + "weight_threshold_mean", t.reduce(0, +) / Float(t.count)))
                if t.count > 1 && t.count <= maxGroupScalars {
                    for (g, v) in t.enumerated() { scalars.append((p + "weight_threshold/g\(g)", v)) }
                }
            }
            if let f = l.weightClipFraction { scalars.append((p + "weight_clip_fraction", Float(f))) }
            if let t = l.activationThreshold { scalars.append((p + "activation_threshold", t)) }
            if let f = l.activationClipFraction { scalars.append((p + "activation_clip_fraction", Float(f))) }
            if let b = l.before { histograms.append(("weights_before/\(l.name)", TensorBoardHistogram(b))) }
            if let a = l.after { histograms.append(("weights_after/\(l.name)", TensorBoardHistogram(a))) }
        }
        return (scalars, histograms)
    }
}

extension TrainingPhase {
    /// True when some quantizer of this phase is active (not a float pass-through).
    var isQuantizing: Bool {
        guard let p = quantPolicy else { return false }
        return p.weightQuantizers.contains { !$0.bypass } || p.activationQuantizers.contains { !$0.bypass }
    }

    /// After a test evaluation of a quantized phase, on rank 0: the quantizer state
    /// to TensorBoard (flushed) and to quantization.json. Other ranks and float
    /// phases do nothing.
    public func writeQuantizationSnapshot(phase: String, step: Int, epoch: Int) throws {
        guard let folder = ctx.folder, let policy = quantPolicy, isQuantizing else { return }
        let plan = QuantizationSnapshot.plan(ctx.modelSpec, kind: ctx.config.model.kind)
        let layers = QuantizationSnapshot.layers(policy: policy, arena: model.arena, plan: plan,
                                                 activationClip: evaluationActivationClip)
        let tb = try folder.tensorBoard()
        let (scalars, histograms) = QuantizationSnapshot.tensorBoard(layers)
        tb.add(step: step, scalars: scalars, histograms: histograms)
        try tb.flush()
        let doc: [String: Any] = ["phase": phase, "step": step, "epoch": epoch, "layers": layers.map(\.json)]
        try folder.write("quantization.json", JSON.line(doc) + "\n")
    }
}
