// The u8 × s8 dot-product step of the integer engine's GEMM, the semantics of the
// AVX-512 VNNI instruction VPDPBUSD:
//   for each of the 16 Int32 lanes: acc += Σ_{i<4} UInt8(a byte i) · Int8(b byte i)
// (four unsigned activation bytes times four signed weight bytes, summed in Int32
// with wrap-around, no intermediate saturation).
//
// Swift's SIMD types do not lower byte-to-int widening of 64-byte vectors to vector
// code, and LLVM matches VPDPBUSD only inside loop reductions to a scalar (measured:
// a scalar `s += Int32(u8) * Int32(s8)` loop becomes zero-extended VPDPWSSD, 16 useful
// products per instruction). So with VNNI the instruction is called through the
// compiler builtin (this module is built with -parse-stdlib, GDQR_VNNI is defined by
// Package.swift when the target CPU has it); otherwise the same arithmetic is done
// with Int32 shifts and multiplies. `dotProductReference` is the scalar definition
// both are tested against.
import Swift

#if GDQR_VNNI
public let integerDotProductIsVNNI = true

/// acc + Σ_{i<4} u8(a.byte i) · s8(b.byte i), per Int32 lane (VPDPBUSD).
@inlinable @inline(__always)
public func dotProductAccumulate(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    var out = SIMD16<Int32>()
    out._storage._value = Builtin.int_x86_avx512_vpdpbusd_512(acc._storage._value, a._storage._value, b._storage._value)
    return out
}
#else
public let integerDotProductIsVNNI = false

/// acc + Σ_{i<4} u8(a.byte i) · s8(b.byte i), per Int32 lane (portable).
@inlinable @inline(__always)
public func dotProductAccumulate(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    dotProductAccumulatePortable(acc, a, b)
}
#endif

/// The same step in plain Swift SIMD (the path without VNNI; compiled everywhere so
/// that it is tested on VNNI machines too).
@inlinable @inline(__always)
public func dotProductAccumulatePortable(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    var s = acc
    let mask = SIMD16<Int32>(repeating: 0xff)
    // Byte i of a, zero-extended; byte i of b, sign-extended (shift it to the top, then back).
    s &+= (a & mask) &* ((b &<< 24) &>> 24)
    s &+= ((a &>> 8) & mask) &* ((b &<< 16) &>> 24)
    s &+= ((a &>> 16) & mask) &* ((b &<< 8) &>> 24)
    s &+= ((a &>> 24) & mask) &* (b &>> 24)
    return s
}

/// Scalar definition of one lane of `dotProductAccumulate` (tests).
public func dotProductReference(_ acc: Int32, _ a: UInt32, _ b: UInt32) -> Int32 {
    var s = acc
    for i in 0..<4 {
        let u = Int32((a >> (8 * UInt32(i))) & 0xff)
        let v = Int32(Int8(truncatingIfNeeded: b >> (8 * UInt32(i))))
        s = s &+ u &* v
    }
    return s
}

// Conversions the integer engine's requantisation needs, inlined: Swift's SIMD
// conversion initializers between element types are out-of-line calls (or, for
// Float → Int32, per-lane loops).

/// Float(level) per lane (uint8 → Float, exact).
@inlinable @inline(__always)
public func levelsToFloat(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
    var out = SIMD16<Float>()
    out._storage._value = Builtin.uitofp_Vec16xInt8_Vec16xFPIEEE32(v._storage._value)
    return out
}

/// Float(x) per lane, rounded to nearest even as Float(Int32) is.
@inlinable @inline(__always)
public func int32ToFloat(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var out = SIMD16<Float>()
    out._storage._value = Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32(v._storage._value)
    return out
}

/// UInt8(v) per lane for v holding integers in 0 ... 255 (vcvttps2dq + vpmovdb; outside
/// that range the result is unspecified, callers clamp first).
@inlinable @inline(__always)
public func floatToLevels(_ v: SIMD16<Float>) -> SIMD16<UInt8> {
    var out = SIMD16<UInt8>()
    let i = Builtin.fptosi_Vec16xFPIEEE32_Vec16xInt32(v._storage._value)
    out._storage._value = Builtin.trunc_Vec16xInt32_Vec16xInt8(i)
    return out
}
