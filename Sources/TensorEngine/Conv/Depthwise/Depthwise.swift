// Depthwise 2-D convolution (groups == Cin == Cout): direct SIMD loops per plane.
//
// Each (image, channel) plane is copied into a zero-bordered buffer, so every
// tap (ky, kx) of an output row reads one contiguous (stride 1) or strided run
// of a padded row: out_row += w[ky, kx] * padded_row. Work is split by planes
// (forward, backward-data) or by channels (backward-weights: each thread owns
// whole channels and loops over the batch), so results do not depend on the
// thread count at all. Strides 1 and 2 run whole planes as flat runs (DepthwiseFlat.swift,
// DepthwiseStride2Data.swift); these row loops keep other strides and the stride-1
// backward-data of non-"same" padding.

func convDepthwiseForward(_ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                          workspace: Conv2dWorkspace, pool: ThreadPool?) {
    let c = s.inChannels, plane = s.height * s.width, oh = s.outHeight, ow = s.outWidth
    let wp = s.width + 2 * s.padW, taps = s.kernelH * s.kernelW, sh = s.strideH, sw = s.strideW
    if convDepthwiseFlat(s) {
        let layout = DepthwiseFlatLayout(s)
        convChunks(pool, s.batch * c) { range, t in
            let buffer = workspace.col(t)
            for p in range {
                convDepthwisePad(s, layout, input + p * plane, buffer)
                convDepthwiseFlatPlane(s, layout, buffer, weights: weight + (p % c) * taps, bias: bias?[p % c] ?? 0,
                                       out: output + p * oh * ow)
            }
        }
        return
    }
    convChunks(pool, s.batch * c) { range, t in
        let padded = workspace.col(t)
        for p in range {
            let ch = p % c
            convPadPlane(s, input + p * plane, padded)
            let y = output + p * oh * ow
            let w = weight + ch * taps
            for oy in 0..<oh {
                let yrow = y + oy * ow
                convFill(ow, bias?[ch] ?? 0, yrow)
                for ky in 0..<s.kernelH {
                    let src = padded + (oy * sh + ky) * wp
                    for kx in 0..<s.kernelW {
                        let wv = w[ky * s.kernelW + kx]
                        if sw == 1 {
                            convAxpy(ow, wv, src + kx, yrow)
                        } else {
                            for ox in 0..<ow { yrow[ox] = yrow[ox] + wv * src[ox * sw + kx] }
                        }
                    }
                }
            }
        }
    }
}

func convDepthwiseBackwardData(_ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               gradInput: UnsafeMutablePointer<Float>, workspace: Conv2dWorkspace,
                               pool: ThreadPool?) {
    let c = s.inChannels, h = s.height, wdt = s.width, plane = h * wdt, oh = s.outHeight, ow = s.outWidth
    let hp = h + 2 * s.padH, wp = wdt + 2 * s.padW, taps = s.kernelH * s.kernelW
    let sh = s.strideH, sw = s.strideW
    if convDepthwiseFlatBackwardData(s) {
        // gradInput is the "same" convolution of gradOutput with each kernel turned by 180 degrees.
        let layout = DepthwiseFlatLayout(s)
        convChunks(pool, s.batch * c) { range, t in
            let buffer = workspace.col(t)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: taps) { turned in
                for p in range {
                    let w = weight + (p % c) * taps
                    for i in 0..<taps { turned[i] = w[taps - 1 - i] }
                    convDepthwisePad(s, layout, gradOutput + p * plane, buffer)
                    convDepthwiseFlatPlane(s, layout, buffer, weights: turned.baseAddress!, bias: 0, out: gradInput + p * plane)
                }
            }
        }
        return
    }
    if convDepthwiseStride2(s) {
        let layout = DepthwiseStride2DataLayout(s)
        convChunks(pool, s.batch * c) { range, t in
            let buffer = workspace.col(t)
            for p in range {
                convDepthwiseStride2Data(s, layout, buffer, gradOutput: gradOutput + p * oh * ow,
                                         weights: weight + (p % c) * taps, gradInput: gradInput + p * plane)
            }
        }
        return
    }
    convChunks(pool, s.batch * c) { range, t in
        let padded = workspace.col(t)
        for p in range {
            let ch = p % c
            convFill(hp * wp, 0, padded)
            let dy = gradOutput + p * oh * ow
            let w = weight + ch * taps
            for oy in 0..<oh {
                let dyrow = dy + oy * ow
                for ky in 0..<s.kernelH {
                    let dst = padded + (oy * sh + ky) * wp
                    for kx in 0..<s.kernelW {
                        let wv = w[ky * s.kernelW + kx]
                        if sw == 1 {
                            convAxpy(ow, wv, dyrow, dst + kx)
                        } else {
                            for ox in 0..<ow { dst[ox * sw + kx] = dst[ox * sw + kx] + wv * dyrow[ox] }
                        }
                    }
                }
            }
            let dx = gradInput + p * plane
            for iy in 0..<h { convCopy(wdt, padded + (iy + s.padH) * wp + s.padW, dx + iy * wdt) }
        }
    }
}

func convDepthwiseBackwardWeights(_ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
                                  workspace: Conv2dWorkspace, pool: ThreadPool?) {
    let c = s.inChannels, plane = s.height * s.width, oh = s.outHeight, ow = s.outWidth
    let wp = s.width + 2 * s.padW, taps = s.kernelH * s.kernelW, sh = s.strideH, sw = s.strideW
    let flat = convDepthwiseFlat(s), layout = DepthwiseFlatLayout(s)
    convChunks(pool, c) { range, t in
        let padded = workspace.col(t)
        for ch in range {
            let dw = gradWeight + ch * taps
            convFill(taps, 0, dw)
            var bsum: Float = 0
            for n in 0..<s.batch {
                let p = n * c + ch
                let dy = gradOutput + p * oh * ow
                if flat {
                    convDepthwisePad(s, layout, input + p * plane, padded)
                    convDepthwiseFlatWeights(s, layout, padded, gradOutput: dy, gradWeight: dw)
                    if gradBias != nil { bsum += convSum(oh * ow, dy) }
                    continue
                }
                convPadPlane(s, input + p * plane, padded)
                for ky in 0..<s.kernelH {
                    for kx in 0..<s.kernelW {
                        var acc = dw[ky * s.kernelW + kx]
                        for oy in 0..<oh {
                            let src = padded + (oy * sh + ky) * wp + kx
                            if sw == 1 {
                                acc += convDot(ow, dy + oy * ow, src)
                            } else {
                                var r: Float = 0
                                for ox in 0..<ow { r += dy[oy * ow + ox] * src[ox * sw] }
                                acc += r
                            }
                        }
                        dw[ky * s.kernelW + kx] = acc
                    }
                }
                if gradBias != nil { bsum += convSum(oh * ow, dy) }
            }
            gradBias?[ch] = bsum
        }
    }
}
