// The fast integer engine's convolution kernel: an implicit GEMM over uint8
// activations in channels-last layout with a zero border, int8 weight levels
// pre-packed for the u8 × s8 → s32 dot-product step, Int32 accumulators. The register
// tiles are per CPU level, chosen per call (`Int8TilePath`): VPDPBUSD on zmm
// (IntegerTilesVNNI) or on ymm (IntegerTilesAVXVNNI), AVX2 pair products (IntegerTilesV3/IntegerTileAVX2.swift) when
// the layer's operand ranges cannot overflow them, else the exact portable step.
//
// Layout. An output pixel p reads, for each kernel tap t, the 4-byte groups
// src[pixelOffset[p] + tapOffset[t] + 4g], g < groups (channels 4g ..< 4g+4 of the
// input pixel under that tap). With channels-last storage these are contiguous and
// the zero border stands for the conv's zero padding, so there is no im2col copy.
// The weights of 16 output channels (one block) for tap t, group g are one
// SIMD16<Int32>: lane j holds the 4 weight bytes of channel 16·block + j for those
// 4 input channels. One dot-product step adds 4 products to each of 16 channels of
// one pixel; the register tiles hold 6 pixels × 1 to 4 blocks (12 pixels × 1 block on
// VNNI) and broadcast each pixel's 4 bytes once per step.
//
// `convolveReference` is the plain loop over the same layout (tests).

import IntegerTilesAVXVNNI
import IntegerTilesV3
import IntegerTilesVNNI
import TensorEngine

/// Conv weight levels [outChannels, inChannels, kernel, kernel] (or, for an im2col
/// input, [outChannels, k] with `taps` 1) packed as [block][tap][group] SIMD16<Int32>.
public struct PackedConvWeights {
    public let blocks: Int, taps: Int, groups: Int
    public let data: UnsafeMutablePointer<SIMD16<Int32>>
    /// Largest |weight level| and the largest input level (255 for images and 8-bit
    /// inputs): together they decide whether the AVX2 pair-product tile is exact.
    public let maxWeight: Int, maxInput: Int

    /// `level(co, t, ci)` is the weight of output channel co, tap t, input channel ci
    /// (ci < channelsPerTap); channels beyond `inChannels` and `outChannels` pack as 0.
    init(outChannels: Int, inChannels: Int, taps: Int, channelsPerTap: Int, maxInput: Int = 255,
         level: (Int, Int, Int) -> Int8) {
        precondition(channelsPerTap % 4 == 0 && channelsPerTap >= inChannels)
        self.maxInput = maxInput
        blocks = (outChannels + 15) / 16
        self.taps = taps
        groups = channelsPerTap / 4
        let n = blocks * taps * groups
        data = .allocate(capacity: n)
        data.initialize(repeating: SIMD16<Int32>(), count: n)
        var largest = 0
        for b in 0..<blocks {
            for t in 0..<taps {
                for g in 0..<groups {
                    var v = SIMD16<Int32>()
                    for j in 0..<16 where 16 * b + j < outChannels {
                        var word: UInt32 = 0
                        for i in 0..<4 where 4 * g + i < inChannels {
                            let v = level(16 * b + j, t, 4 * g + i)
                            largest = max(largest, abs(Int(v)))
                            word |= UInt32(UInt8(bitPattern: v)) << (8 * UInt32(i))
                        }
                        v[j] = Int32(bitPattern: word)
                    }
                    data[(b * taps + t) * groups + g] = v
                }
            }
        }
        maxWeight = largest
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

/// Which register tile runs a layer: chosen from the CPU level and, for AVX2's pair
/// products, the layer's operand ranges (never from the data, so a layer takes the
/// same path for every input).
enum Int8TilePath: Equatable {
    case vnni, vnni256, pairs(chunk: Int), portable

    static func choose(_ w: PackedConvWeights, level: CPULevel = .current) -> Int8TilePath {
        if level == .v4VNNI { return .vnni }
        if level == .v3VNNI { return .vnni256 }
        if let chunk = pairChunk(maxInput: w.maxInput, maxWeight: w.maxWeight) { return .pairs(chunk: chunk) }
        return .portable
    }
}

/// Pixels per call of a conv kernel's consumer: the 12-pixel VNNI tile of one block, or
/// two 6-pixel tiles.
let convTileRows = 12

/// For each run of up to 12 pixels p0 ..< p0 + rows: tile[(p − p0) · ldAcc + 16·b + j] =
/// Σ_t Σ_g dot(src pixel p, tap t, group g; weights block b) for every block b < w.blocks
/// (Int32, wrap-around as VPDPBUSD), then `consume(p0, rows)` while the tile is in L1
/// (the requantisation runs there instead of on a whole-layer accumulator array).
@inline(__always)
func convolveInt8(_ geo: ConvGeometry, _ w: PackedConvWeights, path: Int8TilePath? = nil,
                  tile: UnsafeMutablePointer<Int32>, ldAcc: Int, _ consume: (_ p0: Int, _ rows: Int) -> Void) {
    let path = path ?? Int8TilePath.choose(w)
    let bs = w.taps * w.groups
    // The pair tile's flat step offsets: tap offset + 4 · group, in the weights' order.
    withUnsafeTemporaryAllocation(of: Int.self, capacity: bs) { stepOffsets in
        for t in 0..<w.taps {
            for g in 0..<w.groups { stepOffsets[t * w.groups + g] = geo.tapOffsets[t] + 4 * g }
        }
        let so = UnsafePointer(stepOffsets.baseAddress!)
        var p = 0
        while p < geo.pixels {
            let rows = min(convTileRows, geo.pixels - p)
            var b = 0
            while b < w.blocks {
                let nb = w.blocks - b >= 4 ? 4 : w.blocks - b >= 2 ? 2 : 1
                let weights = UnsafePointer(w.data) + b * bs, o = geo.pixelOffsets + p
                if path == .vnni && nb == 1 {
                    IntegerTilesVNNI.registerTile12(src: geo.src, pixelOffsets: o, rows: rows, tapOffsets: geo.tapOffsets,
                                                    taps: w.taps, groups: w.groups, weights: weights, out: tile + 16 * b,
                                                    ldAcc: ldAcc)
                    b += nb
                    continue
                }
                // The 6-pixel tiles, twice.
                var h = 0
                while h < rows {
                    let hr = min(6, rows - h), oh = o + h, out = tile + h * ldAcc + 16 * b
                    switch path {
                    case .vnni:
                        IntegerTilesVNNI.registerTile(blocks: nb, src: geo.src, pixelOffsets: oh, rows: hr,
                                                      tapOffsets: geo.tapOffsets, taps: w.taps, groups: w.groups,
                                                      weights: weights, out: out, ldAcc: ldAcc)
                    case .portable:
                        IntegerTilesV3.registerTile(blocks: nb, src: geo.src, pixelOffsets: oh, rows: hr,
                                                    tapOffsets: geo.tapOffsets, taps: w.taps, groups: w.groups,
                                                    weights: weights, out: out, ldAcc: ldAcc)
                    case .vnni256:
                        for k in 0..<nb {
                            vnniTile256(src: geo.src, pixelOffsets: oh, rows: hr, stepOffsets: so, steps: bs,
                                        weights: weights + k * bs, out: out + 16 * k, ldAcc: ldAcc)
                        }
                    case .pairs(let chunk):
                        for k in 0..<nb {
                            pairTile(src: geo.src, pixelOffsets: oh, rows: hr, stepOffsets: so, steps: bs,
                                     weights: weights + k * bs, out: out + 16 * k, ldAcc: ldAcc, chunk: chunk)
                        }
                    }
                    h += 6
                }
                b += nb
            }
            consume(p, rows)
            p += convTileRows
        }
    }
}

/// The whole-layer form: acc[p · ldAcc + 16·b + j] for every pixel (tests).
func convolveInt8(_ geo: ConvGeometry, _ w: PackedConvWeights, path: Int8TilePath? = nil,
                  acc: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    let tile = UnsafeMutablePointer<Int32>.allocate(capacity: convTileRows * ldAcc)
    defer { tile.deallocate() }
    convolveInt8(geo, w, path: path, tile: tile, ldAcc: ldAcc) { p0, rows in
        (acc + p0 * ldAcc).update(from: tile, count: rows * ldAcc)
    }
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
