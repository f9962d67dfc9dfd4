// The fast integer engine's depthwise convolution (groups = channels, MobileNetV2's
// 3x3 filters): each output channel reads only its own input channel, so there is
// no reduction over channels for a dot-product step to do. Instead the kernel runs
// along the channels: on the channels-last uint8 layout of IntegerEngineFast.swift
// the 16 channels of one block under one tap are 16 contiguous bytes, widened to
// Int32 and multiplied by that tap's 16 weight levels (vpmovzxbd, vpmulld, vpaddd
// on AVX2; plain SIMD16<Int32> code, so it runs on every CPU level). The zero
// border of the layout is the conv's zero padding, as for `convolveInt8`, and the
// results land in the same [pixel][block·16] Int32 tile, so the conv epilogue is
// shared. `depthwiseReference` is the plain loop over the same layout (tests); the
// reference path of the engine (IntegerEngine.swift) runs a depthwise conv as one
// GEMM per channel instead.

/// Depthwise weight levels [channels, 1, k, k] packed as [tap][block] SIMD16<Int32>:
/// lane j of block b holds the level of channel 16·b + j (0 beyond the channels).
struct PackedDepthwiseWeights {
    let channels: Int, blocks: Int, taps: Int
    let data: UnsafeMutablePointer<SIMD16<Int32>>

    /// `level(c, t)`: the weight of channel c at tap t.
    init(channels: Int, taps: Int, level: (Int, Int) -> Int8) {
        self.channels = channels
        self.taps = taps
        blocks = (channels + 15) / 16
        data = .allocate(capacity: taps * blocks)
        for t in 0..<taps {
            for b in 0..<blocks {
                var v = SIMD16<Int32>()
                for j in 0..<16 where 16 * b + j < channels { v[j] = Int32(level(16 * b + j, t)) }
                data[t * blocks + b] = v
            }
        }
    }

    func deallocate() { data.deallocate() }
}

/// 16 bytes at `p` as Int32 lanes; only `available` (< 16) of them when the block
/// runs past the pixel's channels (the rest 0: never read beyond the buffer).
@inline(__always) private func widen16(_ p: UnsafePointer<UInt8>, available: Int) -> SIMD16<Int32> {
    if available >= 16 { return SIMD16<Int32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt8>.self)) }
    var v = SIMD16<Int32>()
    for j in 0..<available { v[j] = Int32(p[j]) }
    return v
}

/// For each run of up to 12 pixels p0 ..< p0 + rows: tile[(p − p0)·ldAcc + 16·b + j] =
/// Σ_t src[pixelOffset[p] + tapOffset[t] + 16·b + j] · w(channel 16·b + j, tap t), then
/// `consume(p0, rows)`. `channelStride` is the layout's bytes per pixel (channels rounded
/// up to 4). Int32 sums: |w| <= 128, levels <= 255, 9 taps stay far below 2^31.
@inline(__always)
func depthwiseInt8(_ geo: ConvGeometry, _ w: PackedDepthwiseWeights, channelStride: Int,
                   tile: UnsafeMutablePointer<Int32>, ldAcc: Int, _ consume: (_ p0: Int, _ rows: Int) -> Void) {
    var p = 0
    while p < geo.pixels {
        let rows = min(convTileRows, geo.pixels - p)
        for r in 0..<rows {
            let base = geo.src + geo.pixelOffsets[p + r]
            let out = tile + r * ldAcc
            for b in 0..<w.blocks {
                var acc = SIMD16<Int32>()
                let available = channelStride - 16 * b
                for t in 0..<w.taps {
                    acc &+= widen16(base + geo.tapOffsets[t] + 16 * b, available: available) &* w.data[t * w.blocks + b]
                }
                UnsafeMutableRawPointer(out + 16 * b).storeBytes(of: acc, as: SIMD16<Int32>.self)
            }
        }
        consume(p, rows)
        p += convTileRows
    }
}

/// Plain reference of `depthwiseInt8` on the same layout: Int64 sums, [pixel][block·16] (tests).
func depthwiseReference(_ geo: ConvGeometry, _ w: PackedDepthwiseWeights) -> [Int64] {
    var out = [Int64](repeating: 0, count: geo.pixels * w.blocks * 16)
    for p in 0..<geo.pixels {
        for c in 0..<w.channels {
            var s: Int64 = 0
            for t in 0..<w.taps {
                let x = geo.src[geo.pixelOffsets[p] + geo.tapOffsets[t] + c]
                s += Int64(x) * Int64(w.data[t * w.blocks + c / 16][c % 16])
            }
            out[p * w.blocks * 16 + c] = s
        }
    }
    return out
}
