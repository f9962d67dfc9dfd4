// The quantization policy the models ask while they are built: which weight
// quantizer each conv/linear gets and which activation quantizer each activation
// feeding one gets, from QuantSettings. It keeps every quantizer it made, for
// reports, post-training calibration and PSG.
//
// Bits: the stem conv (position .first) uses firstLayerBits for its weights; the
// classifier (.last) uses lastLayerBits for its weights and for its input
// activation "fc.act_in"; everything else uses wBits / aBits. A per-layer override
// replaces the weight bits of the layer it names and the activation bits of the
// activation it names, or of "<block>.act1" for "<block>.conv2" and "fc.act_in"
// for "fc" (the activations consumed by that layer alone). Bits 0 or 32 = float:
// no quantizer.
//
// Groups: conv layers use `groups` (which must divide their output channels:
// the policy throws, or stops with the same message while building, naming the
// layer and its channel count). The classifier uses G = 1 unless an override
// gives it groups, because class counts (10) are rarely divisible by G.
//
// Modes: gdqr (Scale-Clip, learned k_g when learnK, running-mean activation
// thresholds); naive (weights per layer min/max, G = 1, activations running max,
// nothing learned); ptq-minmax, ptq-search and ptq-easyquant (min/max per group
// and running-max activations, to be calibrated by PostTraining); psg (quantizers are built in
// bypass: the network trains in float, `psgScaleGradients` uses them; clear
// `bypass` to evaluate quantized).

import Layers

public final class GDQRPolicy: QuantizationPolicy {
    public let settings: QuantSettings
    public private(set) var weightQuantizers: [GroupWeightQuantizer] = []
    public private(set) var activationQuantizers: [ActivationQuantizer] = []

    /// Validates the settings, and when `model` is given, that every quantized layer
    /// of it can be grouped.
    public init(_ settings: QuantSettings, model: ModelSpec? = nil) throws {
        try settings.validate()
        self.settings = settings
        if let model {
            for l in Self.weightLayers(of: model) {
                guard let plan = weightPlan(layer: l.name, outChannels: l.outChannels, position: l.position) else { continue }
                _ = try Self.groupCount(layer: l.name, outChannels: l.outChannels, groups: plan.groups)
            }
        }
    }

    /// Float pass-through for every quantizer (PSG training, float reference runs).
    public var bypass: Bool = false {
        didSet {
            for q in weightQuantizers { q.bypass = bypass }
            for q in activationQuantizers { q.bypass = bypass }
        }
    }

    /// `groups`, when it divides `outChannels`; else an error naming the layer.
    public static func groupCount(layer: String, outChannels: Int, groups: Int) throws -> Int {
        guard groups >= 1, outChannels % groups == 0 else {
            throw QuantError("quant.groups = \(groups) does not divide the \(outChannels) output channels of layer \(layer)")
        }
        return groups
    }

    /// The conv/linear layers a model builds: name, output channels, position.
    /// (Builds the float model once, for one sample, and lists its layers.)
    public static func weightLayers(of s: ModelSpec) -> [(name: String, outChannels: Int, position: LayerPosition)] {
        Network(s, maxBatch: 1, threads: 1, seed: 0).weightLayers
    }

    struct WeightPlan { var bits: Int; var groups: Int }

    /// Bits and groups for a layer; nil = full precision.
    func weightPlan(layer name: String, outChannels: Int, position: LayerPosition) -> WeightPlan? {
        let s = settings
        let o = s.override(for: name)
        var bits: Int
        switch position {
        case .first: bits = s.firstLayerBits
        case .last: bits = s.lastLayerBits
        case .middle: bits = s.wBits
        }
        if let o { bits = o.wBits }
        if QuantSettings.isFullPrecision(bits) { return nil }
        var groups = position == .last ? 1 : s.groups
        if s.mode == .naive { groups = 1 }
        if let g = o?.groups { groups = g }
        return WeightPlan(bits: bits, groups: groups)
    }

    /// Activation bits; nil = full precision.
    func activationBits(name: String, feeds position: LayerPosition) -> Int? {
        var bits = position == .last ? settings.lastLayerBits : settings.aBits
        if let o = settings.override(for: name) {
            bits = o.aBits
        } else if name.hasSuffix(".act1"), let o = settings.override(for: String(name.dropLast(5)) + ".conv2") {
            bits = o.aBits
        } else if name == "fc.act_in", let o = settings.override(for: "fc") {
            bits = o.aBits
        }
        return QuantSettings.isFullPrecision(bits) ? nil : bits
    }

    // MARK: QuantizationPolicy

    public func weightTransform(layer name: String, weight: ParamRef, builder: ArenaBuilder,
                                position: LayerPosition) -> WeightTransform? {
        let cout = weight.shape.first ?? 0
        guard let plan = weightPlan(layer: name, outChannels: cout, position: position) else { return nil }
        let groups: Int
        do { groups = try Self.groupCount(layer: name, outChannels: cout, groups: plan.groups) } catch {
            preconditionFailure("\(error)")
        }
        let s = settings
        let source: WeightThresholdSource
        var kRef: ParamRef?
        switch s.mode {
        case .gdqr:
            source = .scaleClip
            if s.learnK {
                kRef = builder.parameter("\(name).weight_k", shape: [groups], role: .quantScale, Init.constant(s.kW))
            }
        case .psg: source = .scaleClip
        case .naive, .minmaxGroups, .ptqMinMax, .ptqSearch, .ptqEasyQuant: source = .minMax
        }
        let q = GroupWeightQuantizer(layer: name, weight: weight, groups: groups, bits: plan.bits,
                                     fullRange: s.wFullRange, steMask: s.wSTEMask, source: source, kRef: kRef,
                                     kConstant: s.kW, clipWarmupSteps: s.mode == .gdqr ? s.clipWarmupSteps : 0)
        q.bypass = s.mode == .psg || bypass
        // A layer whose input is an activation quantizer's output buffer may sum levels.
        q.inputGrid = { [unowned self] x in self.activationQuantizers.first { $0.output == x }?.outputGrid }
        weightQuantizers.append(q)
        return q
    }

    public func activationQuantizer(name: String, shape: FeatureShape, maxBatch: Int, builder: ArenaBuilder,
                                    feeds position: LayerPosition, range: ActivationRange) -> Layer? {
        guard let bits = activationBits(name: name, feeds: position) else { return nil }
        let s = settings
        let source: ThresholdSource = (s.mode == .gdqr || s.mode == .psg) ? .scaleClip : .minMax
        let q = ActivationQuantizer(name: name, shape: shape, maxBatch: maxBatch, builder: builder, bits: bits,
                                    kA: s.kA, rho: s.rho, source: source,
                                    clipWarmupSteps: s.mode == .gdqr ? s.clipWarmupSteps : 0, range: range)
        q.bypass = s.mode == .psg || bypass
        activationQuantizers.append(q)
        return q
    }

    // MARK: Reports

    public func report(arena: ParameterArena) -> [QuantLayerReport] {
        var r: [QuantLayerReport] = []
        for q in weightQuantizers {
            r.append(QuantLayerReport(name: q.layer, kind: .weight, bits: q.bits, groups: q.groups,
                                      thresholds: q.thresholds,
                                      k: (0..<q.groups).map { q.k(group: $0, arena: arena) },
                                      clipFraction: q.clipFraction))
        }
        for q in activationQuantizers {
            r.append(QuantLayerReport(name: q.name, kind: .activation, bits: q.bits, groups: 1,
                                      thresholds: [q.threshold(arena: arena)], k: [q.kA],
                                      clipFraction: q.lastClipFraction))
        }
        return r
    }
}

/// One quantizer's state for logs: thresholds as of the last forward (weights) or
/// the current statistics (activations), and the clip fraction of the last forward.
public struct QuantLayerReport: Equatable, Sendable {
    public enum Kind: String, Sendable { case weight, activation }
    public var name: String
    public var kind: Kind
    public var bits: Int
    public var groups: Int
    public var thresholds: [Float]
    public var k: [Float]
    public var clipFraction: Double
}
