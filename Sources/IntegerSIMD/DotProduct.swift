// The u8 × s8 dot-product step of the integer engine's GEMM, the semantics of the
// AVX-512 VNNI instruction VPDPBUSD:
//   for each of the 16 Int32 lanes: acc += Σ_{i<4} UInt8(a byte i) · Int8(b byte i)
// (four unsigned activation bytes times four signed weight bytes, summed in Int32
// with wrap-around, no intermediate saturation).
//
// Swift's SIMD types do not lower byte-to-int widening to vector code, so the fast
// steps are called through compiler builtins (this module is built with -parse-stdlib
// for x86-64-v3): AVX2's VPMADDUBSW / VPMADDWD pair products here, VPDPBUSD in the
// IntegerTileVNNI module (compiled for an AVX512-VNNI CPU, chosen at run time).
// `dotProductReference` is the scalar definition all are tested against.
import Swift

/// acc + Σ_{i<4} u8(a.byte i) · s8(b.byte i), per Int32 lane, in plain Swift SIMD
/// (exact for any operands; the 8-bit layers' path on CPUs without VNNI). The fast
/// paths are the AVX2 pair products below and the VNNI tile in IntegerTileVNNI.
@inlinable @inline(__always)
public func dotProductAccumulate(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    dotProductAccumulatePortable(acc, a, b)
}

/// VPMADDUBSW: per Int16 lane j, u8(a byte 2j) · s8(w byte 2j) + u8(a byte 2j+1) · s8(w byte 2j+1),
/// saturated to Int16. Exact when every pair sum fits: 2 · max(a) · max|w| <= 32767.
@inlinable @inline(__always)
public func pairProducts(_ a: SIMD8<Int32>, _ w: SIMD8<Int32>) -> SIMD16<Int16> {
    var out = SIMD16<Int16>()
    out._storage._value = Builtin.int_x86_avx2_pmadd_ub_sw(Builtin.bitcast_Vec8xInt32_Vec32xInt8(a._storage._value),
                                                           Builtin.bitcast_Vec8xInt32_Vec32xInt8(w._storage._value))
    return out
}

/// VPMADDWD by ones: per Int32 lane j, Int32(v[2j]) + Int32(v[2j+1]).
@inlinable @inline(__always)
public func widenPairs(_ v: SIMD16<Int16>) -> SIMD8<Int32> {
    var out = SIMD8<Int32>()
    out._storage._value = Builtin.int_x86_avx2_pmadd_wd(v._storage._value, SIMD16<Int16>(repeating: 1)._storage._value)
    return out
}

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
