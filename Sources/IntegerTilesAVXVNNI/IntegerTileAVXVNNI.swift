// The integer engine's AVX-VNNI tile (x86-64-v3 with AVX-VNNI, no AVX-512: Intel Alder
// Lake and later client CPUs): 6 pixels × 16 output channels over the packed layout of
// IntegerInference/IntegerKernels.swift. A (tap, group) step is the VEX-encoded
// VPDPBUSD on the two ymm halves of a weight block, acc + Σ_{i<4} u8(a byte i) ·
// s8(w byte i) per Int32 lane: 12 ymm accumulators, 2 weight halves and 1 broadcast in
// AVX2's 16 registers, 2 instructions per 64 products (the pair-product tile needs 4
// and a widening every `chunk` steps). Exact Int32 sums with wrap-around, as the
// AVX512-VNNI tile, so every layer takes it whatever its operand ranges. The module is
// compiled for Alder Lake (-parse-stdlib for the builtin) and called only when CPUID
// reports AVX-VNNI.
import Swift

@inline(__always) private func dotStep(_ acc: SIMD8<Int32>, _ a: SIMD8<Int32>, _ w: SIMD8<Int32>) -> SIMD8<Int32> {
    var out = SIMD8<Int32>()
    out._storage._value = Builtin.int_x86_avx512_vpdpbusd_256(acc._storage._value, a._storage._value, w._storage._value)
    return out
}

@inline(__always) private func word8(_ p: UnsafePointer<UInt8>) -> SIMD8<Int32> {
    SIMD8<Int32>(repeating: UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
}

/// One pixel's 16 channels as two ymm halves.
private struct Row {
    var lo = SIMD8<Int32>(), hi = SIMD8<Int32>()
    @inline(__always) mutating func add(_ a: SIMD8<Int32>, _ wLo: SIMD8<Int32>, _ wHi: SIMD8<Int32>) {
        lo = dotStep(lo, a, wLo); hi = dotStep(hi, a, wHi)
    }
    @inline(__always) func write(to out: UnsafeMutablePointer<Int32>) {
        UnsafeMutableRawPointer(out).storeBytes(of: lo, as: SIMD8<Int32>.self)
        UnsafeMutableRawPointer(out + 8).storeBytes(of: hi, as: SIMD8<Int32>.self)
    }
}

/// out[r · ldAcc + j] for rows r < `rows` (pixel r at src + pixelOffsets[r]; rows beyond
/// `rows` repeat the last pixel and are not stored) and the 16 channels of the one weight
/// block at `weights`, over `steps` (tap, group) steps whose byte offsets from a pixel
/// are stepOffsets[s] (tap offset + 4 · group, in the weights' order).
public func vnniTile256(src: UnsafePointer<UInt8>, pixelOffsets o: UnsafePointer<Int>, rows: Int,
                        stepOffsets so: UnsafePointer<Int>, steps: Int,
                        weights: UnsafePointer<SIMD16<Int32>>, out: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    let l = rows - 1
    let r0 = src + o[0], r1 = src + o[min(1, l)], r2 = src + o[min(2, l)]
    let r3 = src + o[min(3, l)], r4 = src + o[min(4, l)], r5 = src + o[min(5, l)]
    var c0 = Row(), c1 = Row(), c2 = Row(), c3 = Row(), c4 = Row(), c5 = Row()
    var wp = UnsafeRawPointer(weights)
    for s in 0..<steps {
        let off = so[s]
        let wLo = wp.loadUnaligned(as: SIMD8<Int32>.self), wHi = wp.loadUnaligned(fromByteOffset: 32, as: SIMD8<Int32>.self)
        c0.add(word8(r0 + off), wLo, wHi); c1.add(word8(r1 + off), wLo, wHi); c2.add(word8(r2 + off), wLo, wHi)
        c3.add(word8(r3 + off), wLo, wHi); c4.add(word8(r4 + off), wLo, wHi); c5.add(word8(r5 + off), wLo, wHi)
        wp += 64
    }
    func put(_ r: Int, _ c: Row) { if r < rows { c.write(to: out + r * ldAcc) } }
    put(0, c0); put(1, c1); put(2, c2); put(3, c3); put(4, c4); put(5, c5)
}
