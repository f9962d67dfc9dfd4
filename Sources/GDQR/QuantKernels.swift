// Fake-quantization kernels: the uniform quantizer q(x) = clamp(round(x/Δ), lo, hi)·Δ
// and its straight-through backward passes, on raw pointers with SIMD16<Float>
// and a scalar tail. Every kernel has a plain scalar reference beside it (used
// by the tests).
//
// Rounding is round-half-to-even (as torch.round). x/Δ is a true division, not a
// multiplication by 1/Δ, so the kernel and the reference agree bit for bit.
// Elementwise kernels may split large buffers over the pool (results do not depend
// on the thread count); the one reduction (the step gradient) runs on the caller
// in a fixed order: SIMD16 lanes accumulate in Float, lanes are added in lane
// order into a Double, the tail is added in Double.

import TensorEngine

/// Buffers at least this long are split over the pool in elementwise kernels.
let quantParallelThreshold = 32_768

@inline(__always) func qLoad(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func qStore(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Runs body(offset, length) over 0..<count in chunks of multiples of 1024 elements,
/// on the pool when the buffer is large; the third argument is the thread index.
@inline(__always) func qForChunks(_ pool: ThreadPool?, count: Int, _ body: (Int, Int, Int) -> Void) {
    if count <= 0 { return }
    let blocks = (count + 1023) / 1024
    if let pool, pool.threads > 1, blocks > 1, count >= quantParallelThreshold {
        pool.parallelFor(blocks) { r, t in
            let lo = r.lowerBound * 1024, hi = min(r.upperBound * 1024, count)
            body(lo, hi - lo, t)
        }
    } else {
        body(0, count, 0)
    }
}

/// The integer grid of a quantizer: levels lo ... hi, step delta.
public struct QuantGrid: Equatable, Sendable {
    public var delta: Float
    public var lo: Float
    public var hi: Float
    /// false: clip only (warm-up), x -> clamp(x/Δ, lo, hi)·Δ without rounding.
    public var rounding: Bool
    public init(delta: Float, lo: Float, hi: Float, rounding: Bool = true) {
        self.delta = delta; self.lo = lo; self.hi = hi; self.rounding = rounding
    }
    /// A grid with a zero (or non-finite) step maps everything to 0.
    public var isDegenerate: Bool { !(delta > 0) || !delta.isFinite }
}

// MARK: - Forward

/// dst[i] = clamp(round(src[i]/Δ), lo, hi)·Δ (no rounding when !grid.rounding);
/// zero when the grid is degenerate. Returns the number of clipped elements
/// (src/Δ outside [lo, hi]). `dst` may alias `src`.
@discardableResult
public func fakeQuantize(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int,
                         grid: QuantGrid, pool: ThreadPool? = nil) -> Int {
    if grid.isDegenerate {
        dst.update(repeating: 0, count: count)
        return 0
    }
    let chunks = max(1, pool?.threads ?? 1)
    let d = grid.delta, lo = grid.lo, hi = grid.hi, rounding = grid.rounding
    // Per-thread counts on the stack: a training step must not allocate.
    return withUnsafeTemporaryAllocation(of: Int.self, capacity: chunks) { clip in
        clip.initialize(repeating: 0)
        let clipBase = clip.baseAddress!
        qForChunks(pool, count: count) { off, len, t in
            let s = src + off, o = dst + off
            let dv = SIMD16<Float>(repeating: d), lov = SIMD16<Float>(repeating: lo), hiv = SIMD16<Float>(repeating: hi)
            var n = SIMD16<Int32>()
            let one = SIMD16<Int32>(repeating: 1)
            var i = 0
            while i + 16 <= len {
                let v = qLoad(s + i) / dv
                n &+= SIMD16<Int32>().replacing(with: one, where: (v .< lov) .| (v .> hiv))
                let r = rounding ? v.rounded(.toNearestOrEven) : v
                qStore(simdClamp(r, lov, hiv) * dv, o + i)
                i += 16
            }
            var c = Int(n.wrappedSum())
            while i < len {
                let v = s[i] / d
                if v < lo || v > hi { c += 1 }
                let r = rounding ? v.rounded(.toNearestOrEven) : v
                o[i] = min(max(r, lo), hi) * d
                i += 1
            }
            clipBase[t] += c   // one slot per thread; integer counts add in any order
        }
        return clip.reduce(0, +)
    }
}

/// Scalar reference of fakeQuantize.
public func fakeQuantizeReference(_ x: Float, grid: QuantGrid) -> Float {
    if grid.isDegenerate { return 0 }
    let v = x / grid.delta
    let r = grid.rounding ? v.rounded(.toNearestOrEven) : v
    return min(max(r, grid.lo), grid.hi) * grid.delta
}

// MARK: - Backward

/// Straight-through backward of a weight quantizer for one group.
/// gradW[i] = gradQ[i] (or 0 outside the clip range when `mask`), and returns
/// Σ gradQ[i]·∂q_i/∂Δ with ∂q/∂Δ = clamp(r, lo, hi) − w/Δ inside [lo, hi]
/// (r the rounded or, in warm-up, unrounded w/Δ) and clamp(w/Δ, lo, hi) (= lo or hi)
/// outside: the learned-step-size derivative. Degenerate grid: gradW = gradQ
/// (masked: 0) and the sum is 0.
public func weightQuantBackward(gradQ: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                gradW: UnsafeMutablePointer<Float>, count: Int, grid: QuantGrid,
                                mask: Bool) -> Double {
    if grid.isDegenerate {
        if mask { gradW.update(repeating: 0, count: count) } else { gradW.update(from: gradQ, count: count) }
        return 0
    }
    let d = grid.delta, lo = grid.lo, hi = grid.hi, rounding = grid.rounding
    let dv = SIMD16<Float>(repeating: d), lov = SIMD16<Float>(repeating: lo), hiv = SIMD16<Float>(repeating: hi)
    let zero = SIMD16<Float>()
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= count {
        let g = qLoad(gradQ + i)
        let v = qLoad(weight + i) / dv
        let inside = (v .>= lov) .& (v .<= hiv)
        let r = simdClamp(rounding ? v.rounded(.toNearestOrEven) : v, lov, hiv)
        let dq = r - zero.replacing(with: v, where: inside)
        acc.addProduct(g, dq)
        qStore(mask ? zero.replacing(with: g, where: inside) : g, gradW + i)
        i += 16
    }
    var s = 0.0
    for l in 0..<16 { s += Double(acc[l]) }
    while i < count {
        let g = gradQ[i], v = weight[i] / d
        let inside = v >= lo && v <= hi
        let r = min(max(rounding ? v.rounded(.toNearestOrEven) : v, lo), hi)
        s += Double(g * (inside ? r - v : r))
        gradW[i] = (mask && !inside) ? 0 : g
        i += 1
    }
    return s
}

/// Scalar reference of ∂q/∂Δ for one element (see weightQuantBackward).
public func stepDerivativeReference(_ w: Double, grid: QuantGrid) -> Double {
    let v = w / Double(grid.delta)
    let lo = Double(grid.lo), hi = Double(grid.hi)
    let r = min(max(grid.rounding ? v.rounded(.toNearestOrEven) : v, lo), hi)
    return (v >= lo && v <= hi) ? r - v : r
}

/// Clipped straight-through backward of an activation quantizer:
/// gradIn[i] = gradOut[i] where lower <= a[i] <= threshold, else 0 (lower = 0 unsigned, -threshold signed).
public func activationQuantBackward(gradOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                    gradIn: UnsafeMutablePointer<Float>, count: Int, threshold: Float,
                                    lower: Float = 0, pool: ThreadPool? = nil) {
    qForChunks(pool, count: count) { off, len, t in
        let g = gradOut + off, a = input + off, o = gradIn + off
        let tv = SIMD16<Float>(repeating: threshold), lv = SIMD16<Float>(repeating: lower), zero = SIMD16<Float>()
        var i = 0
        while i + 16 <= len {
            let av = qLoad(a + i)
            let pass = (av .>= lv) .& (av .<= tv)
            qStore(zero.replacing(with: qLoad(g + i), where: pass), o + i)
            i += 16
        }
        while i < len {
            o[i] = (a[i] >= lower && a[i] <= threshold) ? g[i] : 0
            i += 1
        }
        _ = t
    }
}

/// Fixed-order max over x[0..<count] of |x| (exact; NaN-free inputs assumed).
public func quantMaxAbs(_ x: UnsafePointer<Float>, count: Int, pool: ThreadPool? = nil) -> Float {
    count > 0 ? reduceMaxAbs(x, count: count, pool: pool) : 0
}

/// Fixed-order mean of |x| (TensorEngine's blocked Double-accumulated reduction).
public func quantMeanAbs(_ x: UnsafePointer<Float>, count: Int, pool: ThreadPool? = nil) -> Float {
    count > 0 ? reduceMeanAbs(x, count: count, pool: pool) : 0
}
