// Scale-Clip fake quantization of an activation, as a layer of the same shape: unsigned
// after a ReLU or ReLU6 (range relu, relu6), symmetric where no activation precedes it
// (range signed: MobileNetV2's linear bottlenecks).
//
// Threshold sources:
//   scaleClip: a running statistic m ("<name>.running_absmean", initially 0). Each
//     training batch: b = mean|a| over the batch (fixed order), m <- b when m == 0
//     (the first batch), else m <- (1−ρ)·m + ρ·b; then T_a = k_a · m with the
//     UPDATED m. Evaluation uses m unchanged.
//   minMax: a running max M ("<name>.running_max", initially 0). Training batches
//     update it as an exponential average of the batch max|a| (first batch
//     initialises it, like m); calibration (`calibrating`) sets
//     M <- max(M, batch max|a|). T_a = M.
//   fixed(T): T_a = T (post-training search).
// Quantizer, b bits: S = 2^b − 1, Δ_a = T_a/S, out = clamp(round(a/Δ_a), 0, S)·Δ_a.
// Signed: L = 2^(b−1) − 1, Δ_a = T_a/L, out = clamp(round(a/Δ_a), −L, L)·Δ_a, the threshold from
// |a| as above. After a ReLU6 (relu6) T_a is capped at 6, min(T_a, 6): the quantizer's clip
// replaces ReLU6's whenever it is the tighter one, and where k_a·m exceeds 6 the top level
// sits at 6 instead of wasting levels above what ReLU6 lets through.
// A threshold that is not positive (e.g. evaluation before any training batch)
// maps everything to 0.
// Backward: clipped straight-through estimator, the gradient passes where
// 0 <= a <= T_a and is zero elsewhere (a < 0 cannot happen after ReLU, but it
// would be clamped to 0 by the forward, so it is masked too).
// Signed: the gradient passes where −T_a <= a <= T_a.
// Warm-up: while rt.step < clipWarmupSteps, out = clamp(a, 0, T_a), unrounded.
// Calibration: while `calibrating` is set the layer records max|a| and passes its
// input through unchanged (the float network is calibrated); `bypass` also passes
// the input through (and the gradient back) unchanged.

import Layers
import TensorEngine

public enum ThresholdSource: Equatable, Sendable {
    case scaleClip
    case minMax
    case fixed(Float)
}

public final class ActivationQuantizer: Layer {
    public let name: String
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }
    public var macsPerSample: Int { 0 }
    public let bits: Int
    public let range: ActivationRange
    public var kA: Float
    public var rho: Float
    public var source: ThresholdSource
    public var clipWarmupSteps: Int
    public var calibrating = false
    public var bypass = false
    public let runningAbsMean: ParamRef
    public let runningMax: ParamRef
    public let maxBatch: Int
    /// Called with (input, element count) at every forward, before quantizing
    /// (post-training searches accumulate statistics with it); nil in training.
    public var inputObserver: ((UnsafePointer<Float>, Int) -> Void)?

    private let out: UnsafeMutablePointer<Float>
    private let gradIn: UnsafeMutablePointer<Float>
    private var input: UnsafePointer<Float>?
    private var passThrough = false
    /// The output buffer (valid for the samples of the last forward).
    public var output: UnsafePointer<Float> { UnsafePointer(out) }
    /// T_a used by the last forward.
    public private(set) var lastThreshold: Float = 0
    /// The step and largest level of the last forward's output, when it is integer levels
    /// times that step (nil in pass-through, clip-only warm-up or with a zero threshold).
    public private(set) var outputGrid: (step: Float, maxLevel: Int)?
    /// Fraction of elements of the last forward outside [0, T_a].
    public private(set) var lastClipFraction: Double = 0
    /// Elements above T_a, and all elements, over the evaluation forwards
    /// (rt.training false, quantizing) since `resetEvaluationCounts()`: the
    /// activation clip fraction of a whole test pass. The count comes from the
    /// quantizing kernel, which counts a/Δ outside [0, S] anyway; inputs follow a
    /// ReLU (or an average of ReLU outputs), so nothing is below 0 and every
    /// clipped element is one above T_a. Training forwards do not touch these.
    public private(set) var evaluationClipped = 0
    public private(set) var evaluationCount = 0

    public init(name: String, shape: FeatureShape, maxBatch: Int, builder: ArenaBuilder, bits: Int,
                kA: Float = 3, rho: Float = 0.01, source: ThresholdSource = .scaleClip, clipWarmupSteps: Int = 0,
                range: ActivationRange = .relu) {
        precondition((2...16).contains(bits), "\(name): activation bits must be 2 ... 16, got \(bits)")
        self.name = name
        inputShape = shape
        self.maxBatch = maxBatch
        self.bits = bits
        self.range = range
        self.kA = kA
        self.rho = rho
        self.source = source
        self.clipWarmupSteps = clipWarmupSteps
        runningAbsMean = builder.statistic("\(name).running_absmean", shape: [1], initialValue: 0)
        runningMax = builder.statistic("\(name).running_max", shape: [1], initialValue: 0)
        let n = max(1, shape.count * maxBatch)
        out = Tensor.allocate(n); out.initialize(repeating: 0, count: n)
        gradIn = Tensor.allocate(n); gradIn.initialize(repeating: 0, count: n)
    }

    deinit { UnsafeMutableRawPointer(out).deallocate(); UnsafeMutableRawPointer(gradIn).deallocate() }

    /// The top integer level: S = 2^b − 1, or L = 2^(b−1) − 1 for signed activations.
    public var maxLevel: Int { range == .signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1 }

    /// The threshold the current statistics give (what evaluation would use).
    public func threshold(arena: ParameterArena) -> Float {
        let t: Float
        switch source {
        case .scaleClip: t = kA * arena.stat(runningAbsMean)[0]
        case .minMax: t = arena.stat(runningMax)[0]
        case .fixed(let f): t = f
        }
        return range == .relu6 ? min(t, 6) : t
    }

    /// The grid for threshold t.
    public func grid(threshold t: Float, rounding: Bool = true) -> QuantGrid {
        QuantGrid(delta: t / Float(maxLevel), lo: range == .signed ? -Float(maxLevel) : 0, hi: Float(maxLevel),
                  rounding: rounding)
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        precondition(batch <= maxBatch, "\(name): batch \(batch) exceeds the built maximum \(maxBatch)")
        input = x
        let n = batch * inputShape.count
        let a = rt.arena
        inputObserver?(x, n)
        if calibrating {
            let m = a.stat(runningMax)
            m[0] = max(m[0], quantMaxAbs(x, count: n, pool: rt.pool))
        } else if rt.training {
            switch source {
            case .scaleClip: Self.updateRunning(a.stat(runningAbsMean), quantMeanAbs(x, count: n, pool: rt.pool), rho: rho)
            case .minMax: Self.updateRunning(a.stat(runningMax), quantMaxAbs(x, count: n, pool: rt.pool), rho: rho)
            case .fixed: break
            }
        }
        let t = threshold(arena: a)
        lastThreshold = t
        passThrough = calibrating || bypass
        outputGrid = nil
        if passThrough {
            out.update(from: x, count: n)
            lastClipFraction = 0
            return out
        }
        let g = grid(threshold: t, rounding: rt.step >= clipWarmupSteps)
        let clipped = fakeQuantize(x, into: out, count: n, grid: g, pool: rt.pool)
        // Only unsigned levels are offered to the level-summing convolutions.
        if g.rounding && !g.isDegenerate && range != .signed { outputGrid = (g.delta, maxLevel) }
        lastClipFraction = n > 0 ? Double(clipped) / Double(n) : 0
        if !rt.training && !calibrating {
            evaluationClipped += clipped
            evaluationCount += n
        }
        return out
    }

    public func resetEvaluationCounts() {
        evaluationClipped = 0
        evaluationCount = 0
    }

    /// m <- b on the first batch (m == 0), else m <- (1−ρ)·m + ρ·b.
    @inline(__always) static func updateRunning(_ m: UnsafeMutablePointer<Float>, _ b: Float, rho: Float) {
        m[0] = m[0] == 0 ? b : (1 - rho) * m[0] + rho * b
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        guard let x = input else { preconditionFailure("\(name): backward before forward") }
        let n = batch * inputShape.count
        if passThrough {
            gradIn.update(from: dy, count: n)
        } else {
            activationQuantBackward(gradOut: dy, input: x, gradIn: gradIn, count: n, threshold: lastThreshold,
                                    lower: range == .signed ? -lastThreshold : 0, pool: rt.pool)
        }
        return gradIn
    }
}
