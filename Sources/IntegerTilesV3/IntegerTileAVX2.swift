// The integer engine's AVX2 tile (x86-64-v3 without VNNI): 6 pixels × 16 output
// channels over the packed layout of IntegerInference/IntegerKernels.swift. A
// (tap, group) step multiplies a pixel's 4 activation bytes (broadcast) with the 16 channels' 4 weight
// bytes as two ymm halves through VPMADDUBSW (u8 × s8, adjacent pairs summed to Int16)
// and adds the Int16 pair sums into Int16 accumulators: 12 ymm accumulators, 2
// weight halves and 1 broadcast in AVX2's 16 registers, 2 multiply-adds + 2 adds per
// 64 products. Every `chunk` steps (and at the end) the Int16 accumulators are
// widened by VPMADDWD with ones into the Int32 sums.
//
// Exact (equal to the Int32 sums of the VNNI and portable steps) when no Int16 value
// can overflow: with activations in 0 ... maxInput and |weights| <= maxWeight, a pair
// sum is at most 2 · maxInput · maxWeight, and `chunk` of them at most 32767. For
// 4-bit layers (15 · 7) that is 156 steps; 8-bit layers (255 · 127) do not qualify
// and take the portable register tile. `pairChunk` decides.
import IntegerSIMD

/// The number of steps whose Int16 pair sums cannot overflow, or nil when even one
/// pair sum can saturate VPMADDUBSW.
public func pairChunk(maxInput: Int, maxWeight: Int) -> Int? {
    let pair = 2 * maxInput * maxWeight
    if pair == 0 { return Int.max }
    return pair <= 32767 ? 32767 / pair : nil
}

@inline(__always) private func word8(_ p: UnsafePointer<UInt8>) -> SIMD8<Int32> {
    SIMD8<Int32>(repeating: UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
}

/// One pixel's 16 channels: Int16 pair-sum accumulators for the two halves, Int32 sums.
private struct PairRow {
    var lo = SIMD16<Int16>(), hi = SIMD16<Int16>()
    var sumLo = SIMD8<Int32>(), sumHi = SIMD8<Int32>()
    @inline(__always) mutating func add(_ a: SIMD8<Int32>, _ wLo: SIMD8<Int32>, _ wHi: SIMD8<Int32>) {
        lo &+= pairProducts(a, wLo); hi &+= pairProducts(a, wHi)
    }
    @inline(__always) mutating func widen() {
        sumLo &+= widenPairs(lo); sumHi &+= widenPairs(hi)
        lo = SIMD16<Int16>(); hi = SIMD16<Int16>()
    }
    @inline(__always) func write(to out: UnsafeMutablePointer<Int32>) {
        UnsafeMutableRawPointer(out).storeBytes(of: sumLo, as: SIMD8<Int32>.self)
        UnsafeMutableRawPointer(out + 8).storeBytes(of: sumHi, as: SIMD8<Int32>.self)
    }
}

/// out[r · ldAcc + j] for rows r < `rows` (pixel r at src + pixelOffsets[r]) and the 16
/// channels of the one weight block at `weights`, over `steps` (tap, group) steps whose
/// byte offsets from a pixel are stepOffsets[s] (tap offset + 4 · group, in the weights'
/// order); `chunk` from pairChunk. One flat loop over the steps: with 4-16 groups a tap
/// the nested tap/group loops spent a loop exit and six pointer updates every few steps.
public func pairTile(src: UnsafePointer<UInt8>, pixelOffsets o: UnsafePointer<Int>, rows: Int,
                     stepOffsets so: UnsafePointer<Int>, steps: Int,
                     weights: UnsafePointer<SIMD16<Int32>>, out: UnsafeMutablePointer<Int32>, ldAcc: Int, chunk: Int) {
    let l = rows - 1
    let r0 = src + o[0], r1 = src + o[min(1, l)], r2 = src + o[min(2, l)]
    let r3 = src + o[min(3, l)], r4 = src + o[min(4, l)], r5 = src + o[min(5, l)]
    var c0 = PairRow(), c1 = PairRow(), c2 = PairRow(), c3 = PairRow(), c4 = PairRow(), c5 = PairRow()
    var wp = UnsafeRawPointer(weights)
    var s = 0
    while s < steps {
        let end = steps - s <= chunk ? steps : s + chunk
        while s < end {
            let off = so[s]
            let wLo = wp.loadUnaligned(as: SIMD8<Int32>.self), wHi = wp.loadUnaligned(fromByteOffset: 32, as: SIMD8<Int32>.self)
            c0.add(word8(r0 + off), wLo, wHi); c1.add(word8(r1 + off), wLo, wHi); c2.add(word8(r2 + off), wLo, wHi)
            c3.add(word8(r3 + off), wLo, wHi); c4.add(word8(r4 + off), wLo, wHi); c5.add(word8(r5 + off), wLo, wHi)
            wp += 64
            s &+= 1
        }
        c0.widen(); c1.widen(); c2.widen(); c3.widen(); c4.widen(); c5.widen()
    }
    func put(_ r: Int, _ c: PairRow) { if r < rows { c.write(to: out + r * ldAcc) } }
    put(0, c0); put(1, c1); put(2, c2); put(3, c3); put(4, c4); put(5, c5)
}
