// The float ops of the dense-prediction heads in the integer engine (see
// IntegerEngineModel.swift): upsample2x (bilinear, align_corners = false), sum and
// concat, for one image. Two layouts:
//   reference  [C][H][W] planes; upsample2x is TensorEngine's upsample, the very
//              function the float model runs, so the head's float part matches it
//              bit for bit.
//   fast       [H·W][stride] channels-last (stride = C rounded up to 16, the fast
//              path's float layout), 16 channels per vector with the reference's
//              operations in the reference's order, so results are identical.

import TensorEngine

enum HeadOpsReference {
    static func upsample2x(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int) {
        upsampleBilinear2xForward(input: x, output: y, n: 1, c: channels, h: height, w: width)
    }

    static func sum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = a[i] + b[i] }
    }

    /// Inputs [C_i][H][W] one after another make [ΣC_i][H][W].
    static func concat(_ inputs: [(UnsafePointer<Float>, count: Int)], _ y: UnsafeMutablePointer<Float>) {
        var o = y
        for (p, n) in inputs { o.update(from: p, count: n); o += n }
    }
}

/// Source rows/columns and weights of 2x bilinear upsampling (align_corners = false):
/// source = max((d + 0.5)/2 − 0.5, 0), the upper neighbour clamped to the last index;
/// TensorEngine's formula, computed in Float the same way.
struct Bilinear2xTaps {
    var i0: [Int] = [], i1: [Int] = [], l0: [Float] = [], l1: [Float] = []

    init(inputSize: Int) {
        for d in 0..<(2 * inputSize) {
            let src = max(Float(0.5) * (Float(d) + 0.5) - 0.5, 0)
            let a = Int(src)
            let w1 = src - Float(a)
            i0.append(a); i1.append(a + (a < inputSize - 1 ? 1 : 0)); l0.append(1 - w1); l1.append(w1)
        }
    }
}

enum HeadOpsFast {
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }
    @inline(__always) static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// x [h·w][stride] → y [2h·2w][stride]; stride a multiple of 16.
    static func upsample2x(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, stride: Int,
                           rows: Bilinear2xTaps, columns: Bilinear2xTaps, width: Int) {
        let ow = 2 * width
        for oy in 0..<rows.i0.count {
            let r0 = x + rows.i0[oy] * width * stride, r1 = x + rows.i1[oy] * width * stride
            let wy0 = SIMD16<Float>(repeating: rows.l0[oy]), wy1 = SIMD16<Float>(repeating: rows.l1[oy])
            for ox in 0..<ow {
                let a = columns.i0[ox] * stride, b = columns.i1[ox] * stride
                let wx0 = SIMD16<Float>(repeating: columns.l0[ox]), wx1 = SIMD16<Float>(repeating: columns.l1[ox])
                let o = y + (oy * ow + ox) * stride
                var c = 0
                while c < stride {
                    // The reference's expression: l0y·(l0x·r0[i0] + l1x·r0[i1]) + l1y·(l0x·r1[i0] + l1x·r1[i1]).
                    let top = wx0 * load(r0 + a + c) + wx1 * load(r0 + b + c)
                    let bottom = wx0 * load(r1 + a + c) + wx1 * load(r1 + b + c)
                    store(wy0 * top + wy1 * bottom, o + c)
                    c += 16
                }
            }
        }
    }

    /// y = a + b over `count` floats (a multiple of 16).
    static func sum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count { store(load(a + i) + load(b + i), y + i); i += 16 }
    }

    /// Per pixel, the channels of each input (with its own stride) one after another.
    static func concat(_ inputs: [(UnsafePointer<Float>, channels: Int, stride: Int)], _ y: UnsafeMutablePointer<Float>,
                       stride: Int, pixels: Int) {
        for p in 0..<pixels {
            var o = y + p * stride
            for (x, c, s) in inputs { o.update(from: x + p * s, count: c); o += c }
        }
    }
}
