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
            case 4: registerTile(Row4.self, geo, w, block: b, pixel: p, rows: rows, acc: acc, ldAcc: ldAcc)
            case 2: registerTile(Row2.self, geo, w, block: b, pixel: p, rows: rows, acc: acc, ldAcc: ldAcc)
            default: registerTile(Row1.self, geo, w, block: b, pixel: p, rows: rows, acc: acc, ldAcc: ldAcc)
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
// × 1, 2 or 4 weight blocks. One generic tile serves the three widths; the row type
// fixes the width, and once the tile is specialised for it and the row's methods are
// inlined, its 6 × width accumulators are plain SIMD registers, as in a hand-unrolled
// kernel.

@inline(__always)
private func rowPointers(_ geo: ConvGeometry, _ p: Int, _ rows: Int)
    -> (UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>) {
    let o = geo.pixelOffsets + p, l = rows - 1
    return (geo.src + o[0], geo.src + o[min(1, l)], geo.src + o[min(2, l)],
            geo.src + o[min(3, l)], geo.src + o[min(4, l)], geo.src + o[min(5, l)])
}

/// One pixel's accumulators in a tile: 16 output channels of each of its 1, 2 or 4
/// consecutive weight blocks. The same type carries those blocks' weights for one
/// (tap, group), loaded once and used by the tile's 6 pixels.
private protocol TileRow {
    /// Zero accumulators.
    init()
    /// The weights w[0], w[bs], w[2·bs], … of the row's blocks (bs: one block's stride).
    init(weights w: UnsafePointer<SIMD16<Int32>>, blockStride bs: Int)
    /// Adds to each block the u8 × s8 dot products of the pixel's 4 bytes `a` (broadcast) with its weights.
    mutating func add(_ a: SIMD16<Int32>, _ w: Self)
    /// Stores the blocks at out, out + 16, ….
    func write(to out: UnsafeMutablePointer<Int32>)
}

private struct Row1: TileRow {
    var c0 = SIMD16<Int32>()
    init() {}
    @inline(__always) init(weights w: UnsafePointer<SIMD16<Int32>>, blockStride bs: Int) { c0 = w[0] }
    @inline(__always) mutating func add(_ a: SIMD16<Int32>, _ w: Row1) { c0 = dotProductAccumulate(c0, a, w.c0) }
    @inline(__always) func write(to out: UnsafeMutablePointer<Int32>) { store(c0, out) }
}

private struct Row2: TileRow {
    var c0 = SIMD16<Int32>(), c1 = SIMD16<Int32>()
    init() {}
    @inline(__always) init(weights w: UnsafePointer<SIMD16<Int32>>, blockStride bs: Int) { c0 = w[0]; c1 = w[bs] }
    @inline(__always) mutating func add(_ a: SIMD16<Int32>, _ w: Row2) {
        c0 = dotProductAccumulate(c0, a, w.c0); c1 = dotProductAccumulate(c1, a, w.c1)
    }
    @inline(__always) func write(to out: UnsafeMutablePointer<Int32>) { store(c0, out); store(c1, out + 16) }
}

private struct Row4: TileRow {
    var c0 = SIMD16<Int32>(), c1 = SIMD16<Int32>(), c2 = SIMD16<Int32>(), c3 = SIMD16<Int32>()
    init() {}
    @inline(__always) init(weights w: UnsafePointer<SIMD16<Int32>>, blockStride bs: Int) {
        c0 = w[0]; c1 = w[bs]; c2 = w[2 * bs]; c3 = w[3 * bs]
    }
    @inline(__always) mutating func add(_ a: SIMD16<Int32>, _ w: Row4) {
        c0 = dotProductAccumulate(c0, a, w.c0); c1 = dotProductAccumulate(c1, a, w.c1)
        c2 = dotProductAccumulate(c2, a, w.c2); c3 = dotProductAccumulate(c3, a, w.c3)
    }
    @inline(__always) func write(to out: UnsafeMutablePointer<Int32>) {
        store(c0, out); store(c1, out + 16); store(c2, out + 32); store(c3, out + 48)
    }
}

/// acc[(p + r) · ldAcc + 16·(block + k) + j] for the tile's rows r < `rows` and the
/// row type's blocks k.
private func registerTile<Row: TileRow>(_: Row.Type, _ geo: ConvGeometry, _ w: PackedConvWeights, block: Int, pixel p: Int,
                                        rows: Int, acc: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    let (r0, r1, r2, r3, r4, r5) = rowPointers(geo, p, rows)
    var c0 = Row(), c1 = Row(), c2 = Row(), c3 = Row(), c4 = Row(), c5 = Row()
    let bs = w.taps * w.groups
    var wp = UnsafePointer(w.data) + block * bs
    for t in 0..<w.taps {
        let to = geo.tapOffsets[t]
        var q0 = r0 + to, q1 = r1 + to, q2 = r2 + to, q3 = r3 + to, q4 = r4 + to, q5 = r5 + to
        for g in 0..<w.groups {
            let wg = Row(weights: wp + g, blockStride: bs)
            c0.add(bcast(q0), wg); c1.add(bcast(q1), wg); c2.add(bcast(q2), wg)
            c3.add(bcast(q3), wg); c4.add(bcast(q4), wg); c5.add(bcast(q5), wg)
            q0 += 4; q1 += 4; q2 += 4; q3 += 4; q4 += 4; q5 += 4
        }
        wp += w.groups
    }
    let out = acc + p * ldAcc + block * 16
    func put(_ r: Int, _ c: Row) { if r < rows { c.write(to: out + r * ldAcc) } }
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
