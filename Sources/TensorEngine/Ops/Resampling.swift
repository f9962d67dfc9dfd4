// 2x upsampling of NCHW planes: nearest and bilinear (align_corners = false,
// PyTorch semantics: source = max((dst + 0.5) / 2 - 0.5, 0), neighbour index
// clamped at the last row/column). input [n,c,h,w] -> output [n,c,2h,2w].
// Each plane is processed by one thread; backward scatters run in a fixed
// order inside a plane, so results do not depend on the thread count.

/// Source index and weights of output coordinate `d` for 2x bilinear (align_corners = false).
@inline(__always)
func bilinear2xSource(_ d: Int, inputSize: Int) -> (i0: Int, i1: Int, l0: Float, l1: Float) {
    let src = max(Float(0.5) * (Float(d) + 0.5) - 0.5, 0)
    let i0 = Int(src)
    let i1 = i0 + (i0 < inputSize - 1 ? 1 : 0)
    let l1 = src - Float(i0)
    return (i0, i1, 1 - l1, l1)
}

/// Nearest-neighbour 2x upsample: out[2y+a][2x+b] = in[y][x].
public func upsampleNearest2xForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                     n: Int, c: Int, h: Int, w: Int, pool: ThreadPool? = nil) {
    let ow = 2 * w
    opsFor(pool, items: n * c, elementsPerItem: 4 * h * w) { planes in
        for p in planes {
            let src = input + p * h * w, dst = output + p * 4 * h * w
            for y in 0..<h {
                let row = src + y * w, o0 = dst + 2 * y * ow
                for x in 0..<w { let v = row[x]; o0[2 * x] = v; o0[2 * x + 1] = v }
                (o0 + ow).update(from: o0, count: ow)
            }
        }
    }
}

/// Backward of the nearest 2x upsample: gradInput[y][x] = sum of its 2x2 output gradients.
public func upsampleNearest2xBackward(gradOutput: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>,
                                      n: Int, c: Int, h: Int, w: Int, pool: ThreadPool? = nil) {
    let ow = 2 * w
    opsFor(pool, items: n * c, elementsPerItem: 4 * h * w) { planes in
        for p in planes {
            let g = gradOutput + p * 4 * h * w, dst = gradInput + p * h * w
            for y in 0..<h {
                let r0 = g + 2 * y * ow, r1 = r0 + ow, o = dst + y * w
                for x in 0..<w { o[x] = (r0[2 * x] + r0[2 * x + 1]) + (r1[2 * x] + r1[2 * x + 1]) }
            }
        }
    }
}

/// Bilinear 2x upsample, align_corners = false.
public func upsampleBilinear2xForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                      n: Int, c: Int, h: Int, w: Int, pool: ThreadPool? = nil) {
    let oh = 2 * h, ow = 2 * w
    opsFor(pool, items: n * c, elementsPerItem: 4 * h * w) { planes in
        for p in planes {
            let src = input + p * h * w, dst = output + p * oh * ow
            for oy in 0..<oh {
                let sy = bilinear2xSource(oy, inputSize: h)
                let r0 = src + sy.i0 * w, r1 = src + sy.i1 * w, o = dst + oy * ow
                for ox in 0..<ow {
                    let sx = bilinear2xSource(ox, inputSize: w)
                    o[ox] = sy.l0 * (sx.l0 * r0[sx.i0] + sx.l1 * r0[sx.i1])
                          + sy.l1 * (sx.l0 * r1[sx.i0] + sx.l1 * r1[sx.i1])
                }
            }
        }
    }
}

/// Backward of the bilinear 2x upsample (gradInput overwritten).
public func upsampleBilinear2xBackward(gradOutput: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>,
                                       n: Int, c: Int, h: Int, w: Int, pool: ThreadPool? = nil) {
    let oh = 2 * h, ow = 2 * w
    opsFor(pool, items: n * c, elementsPerItem: 4 * h * w) { planes in
        for p in planes {
            let g = gradOutput + p * oh * ow, dst = gradInput + p * h * w
            dst.update(repeating: 0, count: h * w)
            for oy in 0..<oh {
                let sy = bilinear2xSource(oy, inputSize: h)
                let r0 = dst + sy.i0 * w, r1 = dst + sy.i1 * w, gr = g + oy * ow
                for ox in 0..<ow {
                    let sx = bilinear2xSource(ox, inputSize: w)
                    let v = gr[ox]
                    r0[sx.i0] += sy.l0 * sx.l0 * v
                    r0[sx.i1] += sy.l0 * sx.l1 * v
                    r1[sx.i0] += sy.l1 * sx.l0 * v
                    r1[sx.i1] += sy.l1 * sx.l1 * v
                }
            }
        }
    }
}
