// 2-D pooling over NCHW planes: max pool (saving Int32 argmax indices), average
// pool (count_include_pad = true, PyTorch's default) and global average pool.
//
// Square windows: kernel, stride, padding in both directions; output size is
// floor((size + 2*padding - kernel) / stride) + 1 (PyTorch, ceil_mode = false).
// Padding must be at most kernel / 2, so no window lies entirely in padding.
// Max pool index = y * w + x inside the input plane (PyTorch's convention); the
// first maximum in row-major window order wins; padding never wins. NaN inputs
// are skipped like -infinity (PyTorch would propagate them).
// Each plane (n, c) is processed by one thread and backward scatters run in a
// fixed order inside the plane, so results do not depend on the thread count.

/// Output size of a pooling window along one dimension (floor mode).
public func pool2dOutputSize(inputSize: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    (inputSize + 2 * padding - kernel) / stride + 1
}

@inline(__always)
private func poolCheck(_ h: Int, _ w: Int, _ kernel: Int, _ stride: Int, _ padding: Int, _ name: String) {
    precondition(kernel >= 1 && stride >= 1 && padding >= 0 && padding <= kernel / 2,
                 "\(name): need kernel >= 1, stride >= 1, 0 <= padding <= kernel/2")
    precondition(h + 2 * padding >= kernel && w + 2 * padding >= kernel, "\(name): input smaller than kernel")
}

/// The windows of one plane in row-major order: body(o, rows, columns) with the
/// output index o = oy * ow + ox and the input rows and columns the window covers
/// inside the plane (padding clipped off). Every pooling loop walks them this way.
@inline(__always)
private func poolForEachWindow(h: Int, w: Int, oh: Int, ow: Int, kernel: Int, stride: Int, padding: Int,
                               _ body: (_ o: Int, _ rows: Range<Int>, _ columns: Range<Int>) -> Void) {
    for oy in 0..<oh {
        let y0 = oy * stride - padding
        let rows = max(y0, 0)..<min(y0 + kernel, h)
        for ox in 0..<ow {
            let x0 = ox * stride - padding
            body(oy * ow + ox, rows, max(x0, 0)..<min(x0 + kernel, w))
        }
    }
}

/// Max pool forward. input [n,c,h,w] -> output, indices [n,c,oh,ow].
public func maxPool2dForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                             indices: UnsafeMutablePointer<Int32>,
                             n: Int, c: Int, h: Int, w: Int,
                             kernel: Int, stride: Int, padding: Int, pool: ThreadPool? = nil) {
    poolCheck(h, w, kernel, stride, padding, "maxPool2dForward")
    let oh = pool2dOutputSize(inputSize: h, kernel: kernel, stride: stride, padding: padding)
    let ow = pool2dOutputSize(inputSize: w, kernel: kernel, stride: stride, padding: padding)
    opsFor(pool, items: n * c, elementsPerItem: oh * ow * kernel * kernel) { planes in
        for p in planes {
            let src = input + p * h * w
            let dst = output + p * oh * ow, idx = indices + p * oh * ow
            if kernel == 2 && stride == 2 && padding == 0 {
                maxPool2x2Plane(src, dst, idx, w: w, oh: oh, ow: ow)
                continue
            }
            poolForEachWindow(h: h, w: w, oh: oh, ow: ow, kernel: kernel, stride: stride, padding: padding) { o, ys, xs in
                var best = -Float.infinity, bestIndex = ys.lowerBound * w + xs.lowerBound
                for y in ys {
                    let row = src + y * w
                    for x in xs {
                        let v = row[x]
                        if v > best { best = v; bestIndex = y * w + x }
                    }
                }
                dst[o] = best
                idx[o] = Int32(truncatingIfNeeded: bestIndex)
            }
        }
    }
}

/// The 2x2 stride-2 windows of one plane (the CNN's pools): the general loop's
/// comparisons in the same order (first maximum wins, NaN never does), written as
/// selects instead of branches, which a max pool's data mispredicts about half the
/// time (the general loop took 28% of the CNN's inference).
@inline(__always)
func maxPool2x2Plane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                     _ idx: UnsafeMutablePointer<Int32>, w: Int, oh: Int, ow: Int) {
    for oy in 0..<oh {
        let r0 = src + 2 * oy * w, r1 = r0 + w
        let base = Int32(truncatingIfNeeded: 2 * oy * w)
        for ox in 0..<ow {
            let x = 2 * ox, i = base + Int32(truncatingIfNeeded: x)
            var best = -Float.infinity, bestIndex = i
            var v = r0[x]
            if v > best { best = v }
            v = r0[x + 1]
            var take = v > best
            best = take ? v : best; bestIndex = take ? i + 1 : bestIndex
            v = r1[x]
            take = v > best
            best = take ? v : best; bestIndex = take ? i + Int32(truncatingIfNeeded: w) : bestIndex
            v = r1[x + 1]
            take = v > best
            best = take ? v : best; bestIndex = take ? i + Int32(truncatingIfNeeded: w) + 1 : bestIndex
            dst[oy * ow + ox] = best
            idx[oy * ow + ox] = bestIndex
        }
    }
}

/// Max pool backward: gradInput (overwritten, [n,c,h,w]) gets gradOutput [n,c,oh,ow]
/// scattered to the saved argmax positions (summed where windows overlap).
public func maxPool2dBackward(gradOutput: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
                              gradInput: UnsafeMutablePointer<Float>,
                              n: Int, c: Int, h: Int, w: Int,
                              kernel: Int, stride: Int, padding: Int, pool: ThreadPool? = nil) {
    let oh = pool2dOutputSize(inputSize: h, kernel: kernel, stride: stride, padding: padding)
    let ow = pool2dOutputSize(inputSize: w, kernel: kernel, stride: stride, padding: padding)
    opsFor(pool, items: n * c, elementsPerItem: h * w + oh * ow) { planes in
        for p in planes {
            let dst = gradInput + p * h * w
            dst.update(repeating: 0, count: h * w)
            let g = gradOutput + p * oh * ow, idx = indices + p * oh * ow
            for o in 0..<(oh * ow) { dst[Int(idx[o])] += g[o] }
        }
    }
}

/// Average pool forward, count_include_pad = true: every window divides by kernel^2.
public func avgPool2dForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                             n: Int, c: Int, h: Int, w: Int,
                             kernel: Int, stride: Int, padding: Int, pool: ThreadPool? = nil) {
    poolCheck(h, w, kernel, stride, padding, "avgPool2dForward")
    let oh = pool2dOutputSize(inputSize: h, kernel: kernel, stride: stride, padding: padding)
    let ow = pool2dOutputSize(inputSize: w, kernel: kernel, stride: stride, padding: padding)
    let inv = 1 / Float(kernel * kernel)
    opsFor(pool, items: n * c, elementsPerItem: oh * ow * kernel * kernel) { planes in
        for p in planes {
            let src = input + p * h * w
            let dst = output + p * oh * ow
            poolForEachWindow(h: h, w: w, oh: oh, ow: ow, kernel: kernel, stride: stride, padding: padding) { o, ys, xs in
                var s: Float = 0
                for y in ys {
                    let row = src + y * w
                    for x in xs { s += row[x] }
                }
                dst[o] = s * inv
            }
        }
    }
}

/// Average pool backward (count_include_pad = true); gradInput is overwritten.
public func avgPool2dBackward(gradOutput: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>,
                              n: Int, c: Int, h: Int, w: Int,
                              kernel: Int, stride: Int, padding: Int, pool: ThreadPool? = nil) {
    let oh = pool2dOutputSize(inputSize: h, kernel: kernel, stride: stride, padding: padding)
    let ow = pool2dOutputSize(inputSize: w, kernel: kernel, stride: stride, padding: padding)
    let inv = 1 / Float(kernel * kernel)
    opsFor(pool, items: n * c, elementsPerItem: h * w + oh * ow * kernel * kernel) { planes in
        for p in planes {
            let dst = gradInput + p * h * w
            dst.update(repeating: 0, count: h * w)
            let g = gradOutput + p * oh * ow
            poolForEachWindow(h: h, w: w, oh: oh, ow: ow, kernel: kernel, stride: stride, padding: padding) { o, ys, xs in
                let v = g[o] * inv
                for y in ys {
                    let row = dst + y * w
                    for x in xs { row[x] += v }
                }
            }
        }
    }
}

/// Global average pool: input [n,c,h,w] -> output [n,c], each the plane's mean
/// (fixed-order SIMD sum, Double across 4096-element blocks).
public func globalAvgPoolForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                 n: Int, c: Int, h: Int, w: Int, pool: ThreadPool? = nil) {
    let hw = h * w
    opsFor(pool, items: n * c, elementsPerItem: hw) { planes in
        for p in planes { output[p] = Float(opsSumDouble(input + p * hw, count: hw) / Double(hw)) }
    }
}

/// Global average pool backward: gradInput[n,c,:,:] = gradOutput[n,c] / (h*w) (overwritten).
public func globalAvgPoolBackward(gradOutput: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>,
                                  n: Int, c: Int, h: Int, w: Int, pool: ThreadPool? = nil) {
    let hw = h * w
    opsFor(pool, items: n * c, elementsPerItem: hw) { planes in
        for p in planes { (gradInput + p * hw).update(repeating: gradOutput[p] / Float(hw), count: hw) }
    }
}
