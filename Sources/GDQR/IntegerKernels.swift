// The fast integer engine's convolution kernel: an implicit GEMM over uint8
// activations in channels-last layout with a zero border, int8 weight levels
// pre-packed for the u8 × s8 → s32 dot-product step (VPDPBUSD where the CPU has it,
// see IntegerSIMD), Int32 accumulators.
//
// Layout. An output pixel p reads, for each kernel tap t, the 4-byte groups
// src[pixelOffset[p] + tapOffset[t] + 4g], g < groups (channels 4g ..< 4g+4 of the
// input pixel under that tap). With channels-last storage these are contiguous and
// the zero border stands for the conv's zero padding, so there is no im2col copy.
// The weights of 16 output channels (one block) for tap t, group g are one
// SIMD16<Int32>: lane j holds the 4 weight bytes of channel 16·block + j for those
// 4 input channels. One dot-product step adds 4 products to each of 16 channels of
// one pixel; the register-blocked kernels hold 6 pixels × up to 4 blocks
// (24 accumulators) and broadcast each pixel's 4 bytes once per step.
//
// `convolveReference` is the plain loop over the same layout (tests).

import IntegerSIMD

/// Conv weight levels [outChannels, inChannels, kernel, kernel] (or, for an im2col
/// input, [outChannels, k] with `taps` 1) packed as [block][tap][group] SIMD16<Int32>.
public struct PackedConvWeights {
    public let blocks: Int, taps: Int, groups: Int
    public let data: UnsafeMutablePointer<SIMD16<Int32>>

    /// `level(co, t, ci)` is the weight of output channel co, tap t, input channel ci
    /// (ci < channelsPerTap); channels beyond `inChannels` and `outChannels` pack as 0.
    init(outChannels: Int, inChannels: Int, taps: Int, channelsPerTap: Int, level: (Int, Int, Int) -> Int8) {
        precondition(channelsPerTap % 4 == 0 && channelsPerTap >= inChannels)
        blocks = (outChannels + 15) / 16
        self.taps = taps
        groups = channelsPerTap / 4
        let n = blocks * taps * groups
        data = .allocate(capacity: n)
        data.initialize(repeating: SIMD16<Int32>(), count: n)
        for b in 0..<blocks {
            for t in 0..<taps {
                for g in 0..<groups {
                    var v = SIMD16<Int32>()
                    for j in 0..<16 where 16 * b + j < outChannels {
                        var word: UInt32 = 0
                        for i in 0..<4 where 4 * g + i < inChannels {
                            word |= UInt32(UInt8(bitPattern: level(16 * b + j, t, 4 * g + i))) << (8 * UInt32(i))
                        }
                        v[j] = Int32(bitPattern: word)
                    }
                    data[(b * taps + t) * groups + g] = v
                }
            }
        }
    }

    func deallocate() { data.deallocate() }
}

/// Geometry of one implicit-GEMM call.
struct ConvGeometry {
    var src: UnsafePointer<UInt8>
    var pixelOffsets: UnsafePointer<Int>
    var pixels: Int
    var tapOffsets: UnsafePointer<Int>
}

@inline(__always) private func bcast(_ p: UnsafePointer<UInt8>) -> SIMD16<Int32> {
    SIMD16<Int32>(repeating: UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
}
@inline(__always) private func store(_ v: SIMD16<Int32>, _ p: UnsafeMutablePointer<Int32>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Int32>.self)
}

/// Pixels per register tile (the unit `convolveInt8` hands to its consumer).
let convTileRows = 6

/// For each tile of up to 6 pixels p0 ..< p0 + rows: tile[(p − p0) · ldAcc + 16·b + j] =
/// Σ_t Σ_g dot(src pixel p, tap t, group g; weights block b) for every block b < w.blocks
/// (Int32, wrap-around as VPDPBUSD), then `consume(p0, rows)` while the tile is in L1
/// (the requantisation runs there instead of on a whole-layer accumulator array).
@inline(__always)
func convolveInt8(_ geo: ConvGeometry, _ w: PackedConvWeights, tile: UnsafeMutablePointer<Int32>, ldAcc: Int,
                  _ consume: (_ p0: Int, _ rows: Int) -> Void) {
    var p = 0
    while p < geo.pixels {
        let rows = min(convTileRows, geo.pixels - p)
        var b = 0
        while b < w.blocks {
            let nb = w.blocks - b >= 4 ? 4 : w.blocks - b >= 2 ? 2 : 1
            let acc = tile - p * ldAcc   // the tiles index rows by absolute pixel
            switch nb {
            case 4: tile6x4(geo, w, block: b, pixel: p, rows: rows, acc: acc, ldAcc: ldAcc)
            case 2: tile6x2(geo, w, block: b, pixel: p, rows: rows, acc: acc, ldAcc: ldAcc)
            default: tile6x1(geo, w, block: b, pixel: p, rows: rows, acc: acc, ldAcc: ldAcc)
            }
            b += nb
        }
        consume(p, rows)
        p += convTileRows
    }
}

/// The whole-layer form: acc[p · ldAcc + 16·b + j] for every pixel (tests).
func convolveInt8(_ geo: ConvGeometry, _ w: PackedConvWeights, acc: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    let tile = UnsafeMutablePointer<Int32>.allocate(capacity: convTileRows * ldAcc)
    defer { tile.deallocate() }
    convolveInt8(geo, w, tile: tile, ldAcc: ldAcc) { p0, rows in
        (acc + p0 * ldAcc).update(from: tile, count: rows * ldAcc)
    }
}

// The tiles: 6 pixels (rows beyond `rows` repeat the last pixel and are not stored)
// × 1, 2 or 4 weight blocks.

@inline(__always)
private func rowPointers(_ geo: ConvGeometry, _ p: Int, _ rows: Int)
    -> (UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>) {
    let o = geo.pixelOffsets + p, l = rows - 1
    return (geo.src + o[0], geo.src + o[min(1, l)], geo.src + o[min(2, l)],
            geo.src + o[min(3, l)], geo.src + o[min(4, l)], geo.src + o[min(5, l)])
}

private func tile6x4(_ geo: ConvGeometry, _ w: PackedConvWeights, block: Int, pixel p: Int, rows: Int,
                     acc: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    let (r0, r1, r2, r3, r4, r5) = rowPointers(geo, p, rows)
    let z = SIMD16<Int32>()
    var c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z
    var c20 = z, c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z
    var c40 = z, c41 = z, c42 = z, c43 = z, c50 = z, c51 = z, c52 = z, c53 = z
    let bs = w.taps * w.groups
    var wp = UnsafePointer(w.data) + block * bs
    for t in 0..<w.taps {
        let to = geo.tapOffsets[t]
        var q0 = r0 + to, q1 = r1 + to, q2 = r2 + to, q3 = r3 + to, q4 = r4 + to, q5 = r5 + to
        for g in 0..<w.groups {
            let w0 = wp[g], w1 = wp[g + bs], w2 = wp[g + 2 * bs], w3 = wp[g + 3 * bs]
            var a = bcast(q0)
            c00 = dotProductAccumulate(c00, a, w0); c01 = dotProductAccumulate(c01, a, w1)
            c02 = dotProductAccumulate(c02, a, w2); c03 = dotProductAccumulate(c03, a, w3)
            a = bcast(q1)
            c10 = dotProductAccumulate(c10, a, w0); c11 = dotProductAccumulate(c11, a, w1)
            c12 = dotProductAccumulate(c12, a, w2); c13 = dotProductAccumulate(c13, a, w3)
            a = bcast(q2)
            c20 = dotProductAccumulate(c20, a, w0); c21 = dotProductAccumulate(c21, a, w1)
            c22 = dotProductAccumulate(c22, a, w2); c23 = dotProductAccumulate(c23, a, w3)
            a = bcast(q3)
            c30 = dotProductAccumulate(c30, a, w0); c31 = dotProductAccumulate(c31, a, w1)
            c32 = dotProductAccumulate(c32, a, w2); c33 = dotProductAccumulate(c33, a, w3)
            a = bcast(q4)
            c40 = dotProductAccumulate(c40, a, w0); c41 = dotProductAccumulate(c41, a, w1)
            c42 = dotProductAccumulate(c42, a, w2); c43 = dotProductAccumulate(c43, a, w3)
            a = bcast(q5)
            c50 = dotProductAccumulate(c50, a, w0); c51 = dotProductAccumulate(c51, a, w1)
            c52 = dotProductAccumulate(c52, a, w2); c53 = dotProductAccumulate(c53, a, w3)
            q0 += 4; q1 += 4; q2 += 4; q3 += 4; q4 += 4; q5 += 4
        }
        wp += w.groups
    }
    let out = acc + p * ldAcc + block * 16
    func put(_ r: Int, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>, _ c: SIMD16<Int32>, _ d: SIMD16<Int32>) {
        guard r < rows else { return }
        let o = out + r * ldAcc
        store(a, o); store(b, o + 16); store(c, o + 32); store(d, o + 48)
    }
    put(0, c00, c01, c02, c03); put(1, c10, c11, c12, c13); put(2, c20, c21, c22, c23)
    put(3, c30, c31, c32, c33); put(4, c40, c41, c42, c43); put(5, c50, c51, c52, c53)
}

private func tile6x2(_ geo: ConvGeometry, _ w: PackedConvWeights, block: Int, pixel p: Int, rows: Int,
                     acc: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    let (r0, r1, r2, r3, r4, r5) = rowPointers(geo, p, rows)
    let z = SIMD16<Int32>()
    var c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z
    var c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z
    let bs = w.taps * w.groups
    var wp = UnsafePointer(w.data) + block * bs
    for t in 0..<w.taps {
        let to = geo.tapOffsets[t]
        var q0 = r0 + to, q1 = r1 + to, q2 = r2 + to, q3 = r3 + to, q4 = r4 + to, q5 = r5 + to
        for g in 0..<w.groups {
            let w0 = wp[g], w1 = wp[g + bs]
            var a = bcast(q0)
            c00 = dotProductAccumulate(c00, a, w0); c01 = dotProductAccumulate(c01, a, w1)
            a = bcast(q1)
            c10 = dotProductAccumulate(c10, a, w0); c11 = dotProductAccumulate(c11, a, w1)
            a = bcast(q2)
            c20 = dotProductAccumulate(c20, a, w0); c21 = dotProductAccumulate(c21, a, w1)
            a = bcast(q3)
            c30 = dotProductAccumulate(c30, a, w0); c31 = dotProductAccumulate(c31, a, w1)
            a = bcast(q4)
            c40 = dotProductAccumulate(c40, a, w0); c41 = dotProductAccumulate(c41, a, w1)
            a = bcast(q5)
            c50 = dotProductAccumulate(c50, a, w0); c51 = dotProductAccumulate(c51, a, w1)
            q0 += 4; q1 += 4; q2 += 4; q3 += 4; q4 += 4; q5 += 4
        }
        wp += w.groups
    }
    let out = acc + p * ldAcc + block * 16
    func put(_ r: Int, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) {
        guard r < rows else { return }
        store(a, out + r * ldAcc); store(b, out + r * ldAcc + 16)
    }
    put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31); put(4, c40, c41); put(5, c50, c51)
}

private func tile6x1(_ geo: ConvGeometry, _ w: PackedConvWeights, block: Int, pixel p: Int, rows: Int,
                     acc: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    let (r0, r1, r2, r3, r4, r5) = rowPointers(geo, p, rows)
    let z = SIMD16<Int32>()
    var c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z
    let bs = w.taps * w.groups
    var wp = UnsafePointer(w.data) + block * bs
    for t in 0..<w.taps {
        let to = geo.tapOffsets[t]
        var q0 = r0 + to, q1 = r1 + to, q2 = r2 + to, q3 = r3 + to, q4 = r4 + to, q5 = r5 + to
        for g in 0..<w.groups {
            let w0 = wp[g]
            c0 = dotProductAccumulate(c0, bcast(q0), w0); c1 = dotProductAccumulate(c1, bcast(q1), w0)
            c2 = dotProductAccumulate(c2, bcast(q2), w0); c3 = dotProductAccumulate(c3, bcast(q3), w0)
            c4 = dotProductAccumulate(c4, bcast(q4), w0); c5 = dotProductAccumulate(c5, bcast(q5), w0)
            q0 += 4; q1 += 4; q2 += 4; q3 += 4; q4 += 4; q5 += 4
        }
        wp += w.groups
    }
    let out = acc + p * ldAcc + block * 16
    func put(_ r: Int, _ a: SIMD16<Int32>) { if r < rows { store(a, out + r * ldAcc) } }
    put(0, c0); put(1, c1); put(2, c2); put(3, c3); put(4, c4); put(5, c5)
}

/// Plain reference of `convolveInt8` on the same layout: Int64 sums of u8 × s8 (tests).
func convolveReference(_ geo: ConvGeometry, _ w: PackedConvWeights) -> [Int64] {
    var out = [Int64](repeating: 0, count: geo.pixels * w.blocks * 16)
    for p in 0..<geo.pixels {
        for b in 0..<w.blocks {
            for j in 0..<16 {
                var s: Int64 = 0
                for t in 0..<w.taps {
                    for g in 0..<w.groups {
                        let word = UInt32(bitPattern: w.data[(b * w.taps + t) * w.groups + g][j])
                        let x = geo.src + geo.pixelOffsets[p] + geo.tapOffsets[t] + 4 * g
                        for i in 0..<4 {
                            s += Int64(x[i]) * Int64(Int8(truncatingIfNeeded: word >> (8 * UInt32(i))))
                        }
                    }
                }
                out[(p * w.blocks + b) * 16 + j] = s
            }
        }
    }
    return out
}
