// The quantization settings (a mirror of the config's quant section, in plain
// types so this module does not depend on the trainer) and their validation.

import Layers

public enum QuantMode: String, CaseIterable, Sendable {
    case gdqr        // Scale-Clip, groups, learned k_g, running activation thresholds
    case naive       // per-layer min/max weights (G = 1), running-max activations, no learned k
    case minmaxGroups = "minmax-groups"   // groups only: per-group min/max weights, running-max activations
    case ptqMinMax = "ptq-minmax"   // post-training: min/max calibration
    case ptqSearch = "ptq-search"   // post-training: cosine-similarity threshold search per tensor
    case ptqEasyQuant = "ptq-easyquant"   // post-training: EasyQuant per-layer scale search
    case psg         // float training with position-based scaled gradients
}

/// Per-layer bits: `wBits` for the layer named `layer`, `aBits` for the activation
/// named `layer` or feeding it (see GDQRPolicy). 0 or 32 = full precision.
/// `groups` overrides the group count of that layer's weights.
public struct LayerQuantOverride: Equatable, Sendable {
    public var layer: String
    public var wBits: Int
    public var aBits: Int
    public var groups: Int?
    public init(layer: String, wBits: Int, aBits: Int, groups: Int? = nil) {
        self.layer = layer; self.wBits = wBits; self.aBits = aBits; self.groups = groups
    }
}

public struct QuantError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct QuantSettings: Equatable, Sendable {
    public var wBits = 4
    public var aBits = 4
    public var kW: Float = 2
    public var kA: Float = 3
    public var rho: Float = 0.01
    public var groups = 4
    public var learnK = true
    public var wFullRange = false
    public var wSTEMask = false
    /// 0 or 32 = full precision.
    public var firstLayerBits = 8
    /// 0 or 32 = full precision (classifier weights and its input activation).
    public var lastLayerBits = 8
    public var clipWarmupSteps = 0
    public var mode = QuantMode.gdqr
    public var overrides: [LayerQuantOverride] = []

    public init() {}

    public static func isFullPrecision(_ bits: Int) -> Bool { bits == 0 || bits == 32 }

    /// The override for a layer or activation name (the last one wins).
    public func override(for name: String) -> LayerQuantOverride? { overrides.last { $0.layer == name } }

    /// Throws a QuantError naming the offending key.
    public func validate() throws {
        guard (2...8).contains(wBits) else { throw QuantError("quant.w_bits must be 2 ... 8, got \(wBits)") }
        guard (2...8).contains(aBits) else { throw QuantError("quant.a_bits must be 2 ... 8, got \(aBits)") }
        try Self.checkLayerBits(firstLayerBits, key: "quant.first_layer_bits")
        try Self.checkLayerBits(lastLayerBits, key: "quant.last_layer_bits")
        guard kW > 0, kW.isFinite else { throw QuantError("quant.k_w must be > 0, got \(kW)") }
        guard kA > 0, kA.isFinite else { throw QuantError("quant.k_a must be > 0, got \(kA)") }
        guard rho > 0, rho <= 1 else { throw QuantError("quant.rho must be in (0, 1], got \(rho)") }
        guard groups >= 1 else { throw QuantError("quant.groups must be >= 1, got \(groups)") }
        guard clipWarmupSteps >= 0 else {
            throw QuantError("quant.clip_warmup_steps must be >= 0, got \(clipWarmupSteps)")
        }
        for o in overrides {
            try Self.checkLayerBits(o.wBits, key: "quant.overrides[\(o.layer)] weight bits")
            try Self.checkLayerBits(o.aBits, key: "quant.overrides[\(o.layer)] activation bits")
            if let g = o.groups, g < 1 { throw QuantError("quant.overrides[\(o.layer)] groups must be >= 1, got \(g)") }
        }
    }

    /// 0 or 32 (full precision), or 2 ... 16 (above 16 bits the grid is finer than
    /// Float resolution for typical thresholds).
    static func checkLayerBits(_ b: Int, key: String) throws {
        guard isFullPrecision(b) || (2...16).contains(b) else {
            throw QuantError("\(key) must be 0 or 32 (full precision) or 2 ... 16, got \(b)")
        }
    }
}
