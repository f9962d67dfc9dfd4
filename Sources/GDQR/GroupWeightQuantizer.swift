// Group-based Scale-Clip fake quantization of a conv/linear weight [Cout, ...].
//
// The Cout filters are split into G groups of Cout/G contiguous output channels
// (so each group is one contiguous slice of the weight). Per group g:
//   T_g = k_g · mean|W_g|   (scaleClip; recomputed at every forward)
//   T_g = max|W_g|          (minMax: the naive and post-training quantizers)
//   T_g = fixed[g]          (set by a post-training search)
//   L = 2^(b-1) − 1, Δ_g = T_g / L, wq = clamp(round(w/Δ_g), lo, L)·Δ_g,
// lo = −L (narrow range, the default) or −(L+1) (full range: the threshold maps
// to the top positive level L·Δ = T, the extra level −(L+1)·Δ = −T − Δ sits one
// step beyond −T).
//
// Backward: dL/dW = dL/dwq (straight-through), optionally zeroed where w/Δ lies
// outside [lo, L] (steMask). When k_g is learned:
//   dL/dk_g = Σ_group dL/dwq · ∂wq/∂Δ · ∂Δ/∂k_g,
//   ∂wq/∂Δ = q − w/Δ inside the clip range, q (= lo or L) outside,
//   ∂Δ/∂k_g = mean|W_g| / L, the mean treated as a constant for this derivative
//   (its own dependence on W is not propagated into dL/dW either).
// During clip-only warm-up (rt.step < clipWarmupSteps) wq = clamp(w/Δ, lo, L)·Δ,
// unrounded, and the same formulas hold with q = w/Δ inside (∂wq/∂Δ = 0 there).
// A group whose threshold is not positive (all-zero weights, k_g <= 0)
// quantizes to zero and gets no k gradient.
//
// All buffers are allocated at construction; forward and backward allocate nothing.

import Layers
import TensorEngine

public enum WeightThresholdSource: String, Sendable, Equatable {
    case scaleClip   // T_g = k_g · mean|W_g|
    case minMax      // T_g = max|W_g|
}

public final class GroupWeightQuantizer: WeightTransform {
    public let layer: String
    /// The float weight this quantizer reads.
    public let weight: ParamRef
    public let count: Int
    public let outChannels: Int
    public let groups: Int
    public let bits: Int
    public let fullRange: Bool
    /// Zero the weight gradient outside the clip range.
    public var steMask: Bool
    public var source: WeightThresholdSource
    /// The learned per-group factors k_g ([G], role .quantScale), or nil.
    public let kRef: ParamRef?
    /// k used for every group when k is not learned.
    public var kConstant: Float
    public var clipWarmupSteps: Int
    /// Float pass-through: forward returns the float weights (the quantized ones are
    /// still computed into `quantized`, e.g. for PSG) and backward copies the gradient.
    public var bypass = false
    /// Called with (layer, input, batch) at every forward of the layer, before the
    /// weights are quantized (post-training searches cache layer inputs with it);
    /// nil in training.
    public var inputObserver: ((Layer, UnsafePointer<Float>, Int) -> Void)?
    /// Per-group thresholds that override `source` (post-training search); nil = off.
    public var fixedThresholds: [Float]? {
        didSet { if let f = fixedThresholds { precondition(f.count == groups, "\(layer): \(f.count) fixed thresholds for \(groups) groups") } }
    }

    private let qw: UnsafeMutablePointer<Float>
    private let gbuf: UnsafeMutablePointer<Float>
    private let tBuf: UnsafeMutablePointer<Float>      // T_g of the last forward
    private let meanBuf: UnsafeMutablePointer<Float>   // mean|W_g| of the last forward
    private let deltaBuf: UnsafeMutablePointer<Float>  // Δ_g of the last forward
    private let channelDelta: UnsafeMutablePointer<Float>  // Δ of each output channel's group
    /// The grid of a layer input, if it is the output of a quantizer whose last forward
    /// put it on one: its step and largest level (set by the policy).
    public var inputGrid: ((UnsafePointer<Float>) -> (step: Float, maxLevel: Int)?)?
    private var lastWeights: UnsafePointer<Float>?
    private var lastRounding = true
    private var currentPointer: UnsafePointer<Float>
    /// Weights outside the clip range at the last forward.
    public private(set) var lastClipped = 0

    /// `groups` must divide `outChannels` (the policy validates this with a message).
    public init(layer: String, weight: ParamRef, groups: Int, bits: Int, fullRange: Bool = false,
                steMask: Bool = false, source: WeightThresholdSource = .scaleClip, kRef: ParamRef? = nil,
                kConstant: Float = 2, clipWarmupSteps: Int = 0) {
        precondition(!weight.shape.isEmpty && weight.shape[0] > 0, "\(layer): weight needs an output-channel axis")
        precondition(groups >= 1 && weight.shape[0] % groups == 0,
                     "\(layer): groups \(groups) does not divide its \(weight.shape[0]) output channels")
        precondition((2...16).contains(bits), "\(layer): weight bits must be 2 ... 16, got \(bits)")
        if let kRef { precondition(kRef.count == groups, "\(layer): k has \(kRef.count) entries for \(groups) groups") }
        self.layer = layer
        self.weight = weight
        count = weight.count
        outChannels = weight.shape[0]
        self.groups = groups
        self.bits = bits
        self.fullRange = fullRange
        self.steMask = steMask
        self.source = source
        self.kRef = kRef
        self.kConstant = kConstant
        self.clipWarmupSteps = clipWarmupSteps
        qw = Tensor.allocate(count)
        gbuf = Tensor.allocate(count)
        qw.initialize(repeating: 0, count: count)
        gbuf.initialize(repeating: 0, count: count)
        tBuf = Tensor.allocate(groups); tBuf.initialize(repeating: 0, count: groups)
        meanBuf = Tensor.allocate(groups); meanBuf.initialize(repeating: 0, count: groups)
        deltaBuf = Tensor.allocate(groups); deltaBuf.initialize(repeating: 0, count: groups)
        channelDelta = Tensor.allocate(outChannels); channelDelta.initialize(repeating: 0, count: outChannels)
        currentPointer = UnsafePointer(qw)
    }

    deinit {
        for p in [qw, gbuf, tBuf, meanBuf, deltaBuf, channelDelta] { UnsafeMutableRawPointer(p).deallocate() }
    }

    /// Largest integer level L = 2^(b-1) − 1.
    public var maxLevel: Int { (1 << (bits - 1)) - 1 }
    public var minLevel: Int { fullRange ? -(maxLevel + 1) : -maxLevel }
    public var groupSize: Int { count / groups }

    /// The grid of group g at the last forward.
    public func grid(group g: Int) -> QuantGrid {
        QuantGrid(delta: deltaBuf[g], lo: Float(minLevel), hi: Float(maxLevel), rounding: lastRounding)
    }

    /// T_g of the last forward.
    public var thresholds: [Float] { (0..<groups).map { tBuf[$0] } }
    /// mean|W_g| of the last forward.
    public var groupMeanAbs: [Float] { (0..<groups).map { meanBuf[$0] } }
    /// The quantized weights of the last forward (also in bypass).
    public var quantized: UnsafePointer<Float> { UnsafePointer(qw) }

    /// The k used for group g (learned value or the constant).
    public func k(group g: Int, arena: ParameterArena) -> Float {
        if let kRef { return arena.value(kRef)[g] }
        return kConstant
    }

    // MARK: WeightTransform

    public var current: UnsafePointer<Float> { currentPointer }
    public var gradientBuffer: UnsafeMutablePointer<Float> { gbuf }

    public func observeInput(_ x: UnsafePointer<Float>, batch: Int, layer: Layer) {
        inputObserver?(layer, x, batch)
    }

    public func levels(input x: UnsafePointer<Float>) -> ConvLevels? {
        guard !bypass, lastRounding, let grid = inputGrid?(x) else { return nil }
        let perGroup = outChannels / groups
        for g in 0..<groups {
            let d = deltaBuf[g]
            guard d > 0, d.isFinite else { return nil }
            for c in 0..<perGroup { channelDelta[g * perGroup + c] = d }
        }
        return ConvLevels(inputStep: grid.step, inputMaxLevel: grid.maxLevel, weightSteps: channelDelta,
                          weightMaxLevel: -minLevel)
    }

    public func forward(_ w: UnsafePointer<Float>, rt: Runtime) -> UnsafePointer<Float> {
        lastWeights = w
        lastRounding = rt.step >= clipWarmupSteps
        let gs = groupSize, L = Float(maxLevel)
        var clipped = 0
        for g in 0..<groups {
            let p = w + g * gs
            let mean = quantMeanAbs(p, count: gs)
            let t: Float
            if let fixed = fixedThresholds {
                t = fixed[g]
            } else {
                switch source {
                case .scaleClip: t = k(group: g, arena: rt.arena) * mean
                case .minMax: t = quantMaxAbs(p, count: gs)
                }
            }
            meanBuf[g] = mean
            tBuf[g] = t
            deltaBuf[g] = t / L
            clipped += fakeQuantize(p, into: qw + g * gs, count: gs, grid: grid(group: g))
        }
        lastClipped = clipped
        currentPointer = bypass ? w : UnsafePointer(qw)
        return currentPointer
    }

    public func backward(into gradWeight: UnsafeMutablePointer<Float>, rt: Runtime) {
        guard let w = lastWeights else { preconditionFailure("\(layer): weight quantizer backward before forward") }
        let kGrad = kRef.map { rt.arena.grad($0) }
        if bypass {
            gradWeight.update(from: gbuf, count: count)
            kGrad?.update(repeating: 0, count: groups)
            return
        }
        let gs = groupSize, L = Double(maxLevel)
        let learned = kRef != nil && fixedThresholds == nil && source == .scaleClip
        for g in 0..<groups {
            let off = g * gs
            let s = weightQuantBackward(gradQ: gbuf + off, weight: w + off, gradW: gradWeight + off, count: gs,
                                        grid: grid(group: g), mask: steMask)
            if let kGrad { kGrad[g] = learned ? Float(s * Double(meanBuf[g]) / L) : 0 }
        }
    }

    /// Fraction of weights outside the clip range at the last forward.
    public var clipFraction: Double { count > 0 ? Double(lastClipped) / Double(count) : 0 }
}
