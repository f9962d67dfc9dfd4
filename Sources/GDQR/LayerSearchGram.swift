// The weight step of the layer search in Gram form.
//
// With the input fixed, a layer output channel is y_c = w_c·col + b_c over the
// columns of the input's column matrix (im2col; a linear layer's columns are
// its samples). Appending a row of ones to the columns and b_c to w_c:
//   Σ_p y_c,p·t_c,p = w'_c · M_c,        M = T·col'ᵀ      (C_out × (K+1))
//   Σ_p y_c,p²      = w'_cᵀ · Gram · w'_c, Gram = col'·col'ᵀ ((K+1) × (K+1))
// so one pass over the cached batches (two GEMMs per chunk of images) gives
// every candidate's sums at (K+1)² operations per channel, instead of running
// the layer once per candidate (weightCandidateSumsDirect, kept as the
// reference the tests compare with). The GEMMs accumulate a few thousand
// columns in Float; their results are added up in Double.

import TensorEngine

extension LayerSearch {
    /// Rows K of the column matrix (without the ones row) and columns per sample.
    var columnRows: Int {
        switch p.operation {
        case .conv(let s): return s.colRows
        case .linear(let i, _): return i
        }
    }

    /// Columns of samples first ..< first+count of xq into col [(K+1), count·plane]
    /// (leading dimension count·plane), the last row all ones.
    func unfold(first: Int, count: Int, into col: UnsafeMutablePointer<Float>) {
        let k = columnRows, ld = count * p.operation.plane
        switch p.operation {
        case .conv(let s):
            let oh = s.outHeight, ow = s.outWidth, inImage = s.inChannels * s.height * s.width
            for i in 0..<count {
                let x = xq + (first + i) * inImage
                for c in 0..<s.inChannels {
                    for ki in 0..<s.kernelH {
                        for kj in 0..<s.kernelW {
                            let row = col + ((c * s.kernelH + ki) * s.kernelW + kj) * ld + i * oh * ow
                            for oy in 0..<oh {
                                let iy = oy * s.strideH - s.padH + ki
                                for ox in 0..<ow {
                                    let ix = ox * s.strideW - s.padW + kj
                                    let inside = iy >= 0 && iy < s.height && ix >= 0 && ix < s.width
                                    row[oy * ow + ox] = inside ? x[(c * s.height + iy) * s.width + ix] : 0
                                }
                            }
                        }
                    }
                }
            }
        case .linear(let inF, _):
            for i in 0..<count {
                for r in 0..<inF { col[r * ld + i] = xq[(first + i) * inF + r] }
            }
        }
        (col + k * ld).update(repeating: 1, count: ld)
    }

    /// Target of samples first ..< first+count as [C_out, count·plane].
    func gatherTarget(_ t: UnsafePointer<Float>, first: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let cout = p.operation.outChannels, plane = p.operation.plane, ld = count * plane
        for i in 0..<count {
            for c in 0..<cout {
                (dst + c * ld + i * plane).update(from: t + ((first + i) * cout + c) * plane, count: plane)
            }
        }
    }

    /// Gram (K+1)² and M = T·col'ᵀ (C_out × (K+1)) over every cached batch, the
    /// input quantized with threshold t.
    func gramSums(activation t: Float?) -> (gram: [Double], cross: [Double]) {
        let k1 = columnRows + 1, cout = p.operation.outChannels, plane = p.operation.plane
        let perChunk = max(1, min(maxSamples, 2048 / plane))
        let cols = perChunk * plane
        let col = Tensor.allocate(k1 * cols), tchunk = Tensor.allocate(cout * cols)
        let gramF = Tensor.allocate(k1 * k1), crossF = Tensor.allocate(cout * k1)
        defer { col.deallocate(); tchunk.deallocate(); gramF.deallocate(); crossF.deallocate() }
        var gram = [Double](repeating: 0, count: k1 * k1), cross = [Double](repeating: 0, count: cout * k1)
        for b in p.inputs.indices {
            quantizeInput(b, threshold: t)
            let n = samples(b)
            var first = 0
            while first < n {
                let count = min(perChunk, n - first), ld = count * plane
                unfold(first: first, count: count, into: col)
                p.targets[b].withUnsafeBufferPointer { gatherTarget($0.baseAddress!, first: first, count: count, into: tchunk) }
                gemm(transA: false, transB: true, m: k1, n: k1, k: ld, alpha: 1, a: col, lda: ld, b: col, ldb: ld,
                     beta: 0, c: gramF, ldc: k1, pool: pool)
                gemm(transA: false, transB: true, m: cout, n: k1, k: ld, alpha: 1, a: tchunk, lda: ld, b: col, ldb: ld,
                     beta: 0, c: crossF, ldc: k1, pool: pool)
                for i in gram.indices { gram[i] += Double(gramF[i]) }
                for i in cross.indices { cross[i] += Double(crossF[i]) }
                first += count
            }
        }
        return (gram, cross)
    }

    /// Σ y·target and Σ y² of every group's channels for every candidate [g·A + i]
    /// (see the file comment).
    func weightCandidateSums(activation t: Float?) -> (dot: [Double], qq: [Double]) {
        let G = p.groups, A = grid.count, k = columnRows, k1 = k + 1
        let (gram, cross) = gramSums(activation: t)
        let candidates = candidateWeights()
        var dot = [Double](repeating: 0, count: G * A), qq = dot
        var w = [Double](repeating: 0, count: k1)
        var nonzero = [Int]()
        nonzero.reserveCapacity(k1)
        for g in 0..<G {
            for i in 0..<A {
                let base = (g * A + i) * groupSize
                var d = 0.0, q = 0.0
                for cl in 0..<groupChannels {
                    let c = g * groupChannels + cl
                    nonzero.removeAll(keepingCapacity: true)
                    for r in 0..<k {
                        w[r] = Double(candidates[base + cl * k + r])
                        if w[r] != 0 { nonzero.append(r) }
                    }
                    w[k] = Double(p.bias?[c] ?? 0)
                    if w[k] != 0 { nonzero.append(k) }
                    for r in nonzero {
                        d += w[r] * cross[c * k1 + r]
                        var row = 0.0
                        for s in nonzero { row += gram[r * k1 + s] * w[s] }
                        q += w[r] * row
                    }
                }
                dot[g * A + i] = d
                qq[g * A + i] = q
            }
        }
        return (dot, qq)
    }
}
