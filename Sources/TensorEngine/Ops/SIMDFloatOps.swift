// Float SIMD abs / min / max / clamp that compile to one vector instruction each,
// and a horizontal sum as a tree of vector adds.
//
// The standard library's pointwiseMin/pointwiseMax and SIMD.clamped follow the
// IEEE minNum/maxNum rules for NaN, and the compiler lowers them lane by lane:
// a scalar compare and branch per lane (seen in perf annotate of the fake
// quantizer and of reduceMeanAbs, which ran several times slower than a memory
// pass). These are compares and blends instead.
//
// NaN: simdMin/simdMax return the first operand when the comparison is false,
// so a NaN in `v` of simdClamp passes through, exactly as the scalar references
// min(max(v, lo), hi) do with Swift's min and max.

/// |v| by clearing the sign bit (exact for every value, NaN stays NaN).
@inlinable @inline(__always)
public func simdAbs(_ v: SIMD16<Float>) -> SIMD16<Float> {
    unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & SIMD16<UInt32>(repeating: 0x7fff_ffff),
                  to: SIMD16<Float>.self)
}

/// Lane-wise max(a, b): b where a < b, else a.
@inlinable @inline(__always)
public func simdMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    a.replacing(with: b, where: a .< b)
}

/// Lane-wise min(a, b): b where b < a, else a.
@inlinable @inline(__always)
public func simdMin(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    a.replacing(with: b, where: b .< a)
}

/// Lane-wise min(max(v, lo), hi).
@inlinable @inline(__always)
public func simdClamp(_ v: SIMD16<Float>, _ lo: SIMD16<Float>, _ hi: SIMD16<Float>) -> SIMD16<Float> {
    simdMin(simdMax(v, lo), hi)
}

/// Sum of the 16 lanes as ((v.lo + v.hi) halved three more times): 4 vector adds.
/// The standard library's `sum()` adds lane after lane, a chain of 15 dependent
/// scalar adds, and was not inlined; the dot-product GEMM pays one per C element.
@inlinable @inline(__always)
public func simdSum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}
