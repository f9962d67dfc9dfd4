// The dot-product step of this module's register tile: AVX512-VNNI's VPDPBUSD,
// acc + Σ_{i<4} u8(a byte i) · s8(w byte i) per Int32 lane, with wrap-around and no
// intermediate saturation. Called through the compiler builtin (-parse-stdlib); the
// module is compiled for an AVX512-VNNI CPU and only called when CPUID reports one.
import Swift

@inline(__always)
func dotStep(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ w: SIMD16<Int32>) -> SIMD16<Int32> {
    var out = SIMD16<Int32>()
    out._storage._value = Builtin.int_x86_avx512_vpdpbusd_512(acc._storage._value, a._storage._value, w._storage._value)
    return out
}
