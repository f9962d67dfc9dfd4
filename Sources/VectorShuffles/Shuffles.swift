// Lane shuffles of Float vectors for the Winograd transforms, written with the
// compiler's shufflevector builtin (this module is built with -parse-stdlib).
//
// The standard library's SIMD32.evenHalf / oddHalf are generic lane loops that become
// shuffles only when the optimiser inlines them, and whether it does depends on the
// size of the caller: measured, adding the F(4x4, 3x3) transforms made it emit them
// as out-of-line calls, and those calls took 15% of ResNet-20's inference. A
// shufflevector is one or two permute instructions whatever the caller.
import Swift

/// Lanes 0, 2, .. 30 and 1, 3, .. 31 of a.
@inlinable @inline(__always)
public func deinterleave(_ a: SIMD32<Float>) -> (even: SIMD16<Float>, odd: SIMD16<Float>) {
    let evenIndex = SIMD16<Int32>(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
    let oddIndex = SIMD16<Int32>(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
    var even = SIMD16<Float>(), odd = SIMD16<Float>()
    even._storage._value = Builtin.shufflevector_Vec32xFPIEEE32_Vec16xInt32(
        a._storage._value, a._storage._value, evenIndex._storage._value)
    odd._storage._value = Builtin.shufflevector_Vec32xFPIEEE32_Vec16xInt32(
        a._storage._value, a._storage._value, oddIndex._storage._value)
    return (even, odd)
}

/// The four column phases of 64 consecutive floats (lo, then hi): phase q holds
/// lanes 4i + q, i = 0 ..< 16.
@inlinable @inline(__always)
public func deinterleave4(_ lo: SIMD32<Float>, _ hi: SIMD32<Float>)
    -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
    // Masks must be literals: the builtin needs a constant the compiler sees as one.
    let i0 = SIMD16<Int32>(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60)
    let i1 = SIMD16<Int32>(1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61)
    let i2 = SIMD16<Int32>(2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 42, 46, 50, 54, 58, 62)
    let i3 = SIMD16<Int32>(3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47, 51, 55, 59, 63)
    var p0 = SIMD16<Float>(), p1 = SIMD16<Float>(), p2 = SIMD16<Float>(), p3 = SIMD16<Float>()
    p0._storage._value = Builtin.shufflevector_Vec32xFPIEEE32_Vec16xInt32(
        lo._storage._value, hi._storage._value, i0._storage._value)
    p1._storage._value = Builtin.shufflevector_Vec32xFPIEEE32_Vec16xInt32(
        lo._storage._value, hi._storage._value, i1._storage._value)
    p2._storage._value = Builtin.shufflevector_Vec32xFPIEEE32_Vec16xInt32(
        lo._storage._value, hi._storage._value, i2._storage._value)
    p3._storage._value = Builtin.shufflevector_Vec32xFPIEEE32_Vec16xInt32(
        lo._storage._value, hi._storage._value, i3._storage._value)
    return (p0, p1, p2, p3)
}

/// (a0, b0, a1, b1, .. a15, b15).
@inlinable @inline(__always)
public func interleave(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD32<Float> {
    let index = SIMD32<Int32>(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                              8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
    var out = SIMD32<Float>()
    out._storage._value = Builtin.shufflevector_Vec16xFPIEEE32_Vec32xInt32(
        a._storage._value, b._storage._value, index._storage._value)
    return out
}

/// (a0, b0, c0, d0, a1, b1, ..): 64 floats, as the first and the second 32.
@inlinable @inline(__always)
public func interleave4(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>, _ d: SIMD16<Float>)
    -> (SIMD32<Float>, SIMD32<Float>) {
    let ac = interleave(a, c), bd = interleave(b, d)
    let low = SIMD32<Int32>(0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                            8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47)
    let high = SIMD32<Int32>(16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                             24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63)
    var first = SIMD32<Float>(), second = SIMD32<Float>()
    first._storage._value = Builtin.shufflevector_Vec32xFPIEEE32_Vec32xInt32(
        ac._storage._value, bd._storage._value, low._storage._value)
    second._storage._value = Builtin.shufflevector_Vec32xFPIEEE32_Vec32xInt32(
        ac._storage._value, bd._storage._value, high._storage._value)
    return (first, second)
}

/// Lanes 0, 2, .. 14 of a.
@inlinable @inline(__always)
public func evenLanes(_ a: SIMD16<Float>) -> SIMD8<Float> {
    let index = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
    var out = SIMD8<Float>()
    out._storage._value = Builtin.shufflevector_Vec16xFPIEEE32_Vec8xInt32(
        a._storage._value, a._storage._value, index._storage._value)
    return out
}

/// Lanes 0, 2, 4, 6 of a.
@inlinable @inline(__always)
public func evenLanes(_ a: SIMD8<Float>) -> SIMD4<Float> {
    let index = SIMD4<Int32>(0, 2, 4, 6)
    var out = SIMD4<Float>()
    out._storage._value = Builtin.shufflevector_Vec8xFPIEEE32_Vec4xInt32(
        a._storage._value, a._storage._value, index._storage._value)
    return out
}

/// Lanes 0, 2, .. 14 and 1, 3, .. 15 of a.
@inlinable @inline(__always)
public func deinterleave(_ a: SIMD16<Float>) -> (even: SIMD8<Float>, odd: SIMD8<Float>) {
    let evenIndex = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
    let oddIndex = SIMD8<Int32>(1, 3, 5, 7, 9, 11, 13, 15)
    var even = SIMD8<Float>(), odd = SIMD8<Float>()
    even._storage._value = Builtin.shufflevector_Vec16xFPIEEE32_Vec8xInt32(
        a._storage._value, a._storage._value, evenIndex._storage._value)
    odd._storage._value = Builtin.shufflevector_Vec16xFPIEEE32_Vec8xInt32(
        a._storage._value, a._storage._value, oddIndex._storage._value)
    return (even, odd)
}

/// Lanes 0, 2, 4, 6 and 1, 3, 5, 7 of a.
@inlinable @inline(__always)
public func deinterleave(_ a: SIMD8<Float>) -> (even: SIMD4<Float>, odd: SIMD4<Float>) {
    let evenIndex = SIMD4<Int32>(0, 2, 4, 6)
    let oddIndex = SIMD4<Int32>(1, 3, 5, 7)
    var even = SIMD4<Float>(), odd = SIMD4<Float>()
    even._storage._value = Builtin.shufflevector_Vec8xFPIEEE32_Vec4xInt32(
        a._storage._value, a._storage._value, evenIndex._storage._value)
    odd._storage._value = Builtin.shufflevector_Vec8xFPIEEE32_Vec4xInt32(
        a._storage._value, a._storage._value, oddIndex._storage._value)
    return (even, odd)
}
