// SGD with momentum (PyTorch semantics) over the arena's flat buffers.
//
//   g   = grad + wd * w          (wd only for roles that decay)
//   buf = momentum * buf + g     (buf starts at 0, so the first step gives buf = g)
//   d   = nesterov ? g + momentum * buf : buf
//   w  -= lr * d
//
// The update is elementwise, so its result does not depend on thread count or
// on how ranks are laid out: every rank applies it to identical gradients.

import TensorEngine

public struct SGDSettings: Sendable {
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float
    /// Apply weight decay to BN parameters and biases too (off by default, as is usual).
    public var decayNormAndBias: Bool
    /// Clip the global gradient L2 norm to this value; 0 disables clipping.
    public var gradClipNorm: Float

    public init(momentum: Float = 0.9, nesterov: Bool = true, weightDecay: Float = 5e-4,
                decayNormAndBias: Bool = false, gradClipNorm: Float = 0) {
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.decayNormAndBias = decayNormAndBias
        self.gradClipNorm = gradClipNorm
    }
}

public final class SGD {
    public let settings: SGDSettings
    private let arena: ParameterArena
    /// Contiguous runs of the parameter buffer with one weight-decay value each.
    private let runs: [(offset: Int, count: Int, decay: Float)]

    public init(arena: ParameterArena, settings: SGDSettings) {
        self.arena = arena
        self.settings = settings
        var runs: [(offset: Int, count: Int, decay: Float)] = []
        for e in arena.params {
            let decays = e.role == .weight || (settings.decayNormAndBias && e.role != .quantScale)
            let wd: Float = decays ? settings.weightDecay : 0
            if let last = runs.last, last.decay == wd, last.offset + last.count == e.offset {
                runs[runs.count - 1].count += e.count
            } else {
                runs.append((e.offset, e.count, wd))
            }
        }
        self.runs = runs
    }

    /// The global L2 norm of the gradient buffer (Double accumulation, fixed order).
    public func gradientNorm() -> Double {
        Double(sumOfSquaresDouble(arena.grads, count: arena.parameterCount)).squareRoot()
    }

    /// One update at learning rate `lr`. Returns the gradient norm before clipping
    /// when clipping is on, else nil (computing it costs a pass over the gradients).
    @discardableResult
    public func step(lr: Float) -> Double? {
        var gradScale: Float = 1
        var norm: Double? = nil
        if settings.gradClipNorm > 0 {
            let n = gradientNorm()
            norm = n
            if n > Double(settings.gradClipNorm) { gradScale = Float(Double(settings.gradClipNorm) / n) }
        }
        for run in runs {
            sgdUpdate(w: arena.values + run.offset, g: arena.grads + run.offset,
                      buf: arena.momentum + run.offset, count: run.count, lr: lr,
                      momentum: settings.momentum, nesterov: settings.nesterov,
                      weightDecay: run.decay, gradScale: gradScale)
        }
        return norm
    }
}

/// Sum of squares accumulated in Double, in a fixed order (8 Double lanes, combined in lane order).
public func sumOfSquaresDouble(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var acc = SIMD8<Double>()
    var i = 0
    while i + 8 <= count {
        let v = SIMD8<Double>(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
        acc.addProduct(v, v)
        i += 8
    }
    var s = 0.0
    for l in 0..<8 { s += acc[l] }
    while i < count { s += Double(x[i]) * Double(x[i]); i += 1 }
    return s
}

/// The SGD update on one contiguous run (SIMD16 body, scalar tail: same formula).
@inline(__always)
func sgdUpdate(w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, buf: UnsafeMutablePointer<Float>,
               count: Int, lr: Float, momentum: Float, nesterov: Bool, weightDecay: Float, gradScale: Float) {
    var i = 0
    while i + 16 <= count {
        let wv = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD16<Float>.self)
        var gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self) * gradScale
        gv.addProduct(SIMD16(repeating: weightDecay), wv)
        var bv = UnsafeRawPointer(buf + i).loadUnaligned(as: SIMD16<Float>.self)
        bv = bv * momentum + gv
        let d = nesterov ? gv + momentum * bv : bv
        UnsafeMutableRawPointer(buf + i).storeBytes(of: bv, as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(w + i).storeBytes(of: wv - lr * d, as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        let gv = g[i] * gradScale + weightDecay * w[i]
        let bv = buf[i] * momentum + gv
        let d = nesterov ? gv + momentum * bv : bv
        buf[i] = bv
        w[i] -= lr * d
        i += 1
    }
}
