// Plain scalar Winograd F(2x2, 3x3) and F(4x4, 3x3): the algorithms of
// WinogradF2x2.swift and WinogradF4x4.swift, written as matrix products tile by
// tile, for tests. Every sum runs over its terms in index order, each 2-D transform does
// the columns of every row first, and the channel sum is a chain of fused multiply-adds
// in channel order. For F(2x2, 3x3) that is what the fast path computes, so the two
// agree bit for bit; F(4x4, 3x3)'s fast transforms share terms and round differently.

/// The matrices of one Winograd algorithm F(m x m, 3x3).
public struct WinogradMatrices: Sendable {
    public let outputTile: Int
    let g: [[Float]], bt: [[Float]], at: [[Float]]

    public static let f2 = WinogradMatrices(
        outputTile: 2, g: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        bt: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], at: [[1, 1, 1, 0], [0, 1, -1, -1]])
    public static let f4 = WinogradMatrices(
        outputTile: 4,
        g: [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
            [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]],
        bt: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
             [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        at: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])
}

/// x R^T (x is rows x inner, r is cols x inner), terms summed in order, zero
/// coefficients skipped (they add nothing but the sign of a zero).
private func winogradTimesTransposed(_ x: [[Float]], _ r: [[Float]]) -> [[Float]] {
    x.map { row in
        r.map { coefficients in
            var sum: Float = 0
            var first = true
            for (c, v) in zip(coefficients, row) where c != 0 {
                sum = first ? c * v : sum + c * v
                first = false
            }
            return sum
        }
    }
}

/// L M L^T, each row of M transformed first (M L^T), then each column of that (L (M L^T)).
private func winogradTransform2D(_ l: [[Float]], _ m: [[Float]]) -> [[Float]] {
    let rowsDone = winogradTimesTransposed(m, l)                   // M L^T
    let columns = (0..<rowsDone[0].count).map { j in rowsDone.map { $0[j] } }
    let done = winogradTimesTransposed(columns, l)                 // (L (M L^T))^T
    return (0..<done[0].count).map { i in done.map { $0[i] } }
}

/// The (m+2)x(m+2) patch of the zero-bordered input channel ci of image n under the
/// m x m output tile (ty, tx).
private func winogradPatch(_ s: Conv2dShape, _ input: UnsafePointer<Float>, _ n: Int, _ ci: Int,
                           _ ty: Int, _ tx: Int, m: Int = 2) -> [[Float]] {
    let h = s.height, w = s.width
    return (0..<(m + 2)).map { i in
        (0..<(m + 2)).map { j in
            let y = m * ty + i - 1, x = m * tx + j - 1
            return y >= 0 && y < h && x >= 0 && x < w ? input[((n * s.inChannels + ci) * h + y) * w + x] : 0
        }
    }
}

/// Winograd forward: output = conv(input, weight) + bias, for 3x3, stride 1, pad 1, groups 1.
public func conv2dWinogradForwardReference(_ s: Conv2dShape, input: UnsafePointer<Float>,
                                           weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                           output: UnsafeMutablePointer<Float>,
                                           matrices a: WinogradMatrices = .f2) {
    precondition(s.groups == 1 && s.kernelH == 3 && s.kernelW == 3 && s.strideH == 1 && s.strideW == 1
                 && s.padH == 1 && s.padW == 1, "conv2dWinogradForwardReference: not a 3x3 same convolution \(s)")
    let h = s.height, w = s.width, cin = s.inChannels, cout = s.outChannels
    let u = (0..<cout).map { co in
        (0..<cin).map { ci in
            winogradTransform2D(a.g, (0..<3).map { kh in
                (0..<3).map { kw in weight[((co * cin + ci) * 3 + kh) * 3 + kw] }
            })
        }
    }
    let t = a.outputTile, side = t + 2
    for n in 0..<s.batch {
        for ty in 0..<(h + t - 1) / t {
            for tx in 0..<(w + t - 1) / t {
                // The patch of the zero-bordered input under tile (ty, tx), per input channel.
                let v = (0..<cin).map { ci in
                    winogradTransform2D(a.bt, winogradPatch(s, input, n, ci, ty, tx, m: t))
                }
                for co in 0..<cout {
                    let m = (0..<side).map { i in
                        (0..<side).map { j in
                            var acc: Float = 0
                            for ci in 0..<cin { acc = acc.addingProduct(u[co][ci][i][j], v[ci][i][j]) }
                            return acc
                        }
                    }
                    let y = winogradTransform2D(a.at, m)
                    for i in 0..<t where t * ty + i < h {
                        for j in 0..<t where t * tx + j < w {
                            let value = y[i][j]
                            output[((n * cout + co) * h + t * ty + i) * w + t * tx + j] = bias.map { value + $0[co] } ?? value
                        }
                    }
                }
            }
        }
    }
}

/// Winograd backward-data: the forward of gradOutput with W'[ci][co][kh][kw] = W[co][ci][2-kh][2-kw].
public func conv2dWinogradBackwardDataReference(_ s: Conv2dShape, gradOutput: UnsafePointer<Float>,
                                                weight: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>,
                                                matrices: WinogradMatrices = .f2) {
    let cin = s.inChannels, cout = s.outChannels
    var flipped = [Float](repeating: 0, count: s.weightCount)
    for ci in 0..<cin {
        for co in 0..<cout {
            for r in 0..<9 { flipped[(ci * cout + co) * 9 + r] = weight[(co * cin + ci) * 9 + 8 - r] }
        }
    }
    var adjoint = s
    adjoint.inChannels = cout
    adjoint.outChannels = cin
    conv2dWinogradForwardReference(adjoint, input: gradOutput, weight: flipped, bias: nil, output: gradInput,
                                   matrices: matrices)
}

/// Winograd weight gradient in Double: dU = sum over images and tiles of (A dY A^T) (.) V,
/// then dW = G^T dU G per channel pair (the algorithm of WinogradF2x2WeightGradient.swift,
/// which sums in Float in another order; this checks the transforms, not the bits).
public func conv2dWinogradBackwardWeightsReference(_ s: Conv2dShape, input: UnsafePointer<Float>,
                                                   gradOutput: UnsafePointer<Float>,
                                                   gradWeight: UnsafeMutablePointer<Float>) {
    let h = s.height, w = s.width, cin = s.inChannels, cout = s.outChannels
    let g: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
    let bt: [[Double]] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    let a: [[Double]] = [[1, 0], [1, 1], [1, -1], [0, -1]]
    /// L X R^T for small dense matrices.
    func sandwich(_ l: [[Double]], _ x: [[Double]], _ r: [[Double]]) -> [[Double]] {
        l.indices.map { i in
            r.indices.map { j in
                var sum = 0.0
                for p in x.indices { for q in x[0].indices { sum += l[i][p] * x[p][q] * r[j][q] } }
                return sum
            }
        }
    }
    var du = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: 16), count: cin), count: cout)
    for n in 0..<s.batch {
        for ty in 0..<(h + 1) / 2 {
            for tx in 0..<(w + 1) / 2 {
                let v = (0..<cin).map { ci in
                    sandwich(bt, winogradPatch(s, input, n, ci, ty, tx).map { $0.map(Double.init) }, bt)
                }
                for co in 0..<cout {
                    let m = sandwich(a, (0..<2).map { i in
                        (0..<2).map { j -> Double in
                            let y = 2 * ty + i, x = 2 * tx + j
                            return y < h && x < w ? Double(gradOutput[((n * cout + co) * h + y) * w + x]) : 0
                        }
                    }, a)
                    for ci in 0..<cin { for xi in 0..<16 { du[co][ci][xi] += m[xi / 4][xi % 4] * v[ci][xi / 4][xi % 4] } }
                }
            }
        }
    }
    let gt = (0..<3).map { i in (0..<4).map { j in g[j][i] } }
    for co in 0..<cout {
        for ci in 0..<cin {
            let dg = sandwich(gt, (0..<4).map { i in (0..<4).map { j in du[co][ci][4 * i + j] } }, gt)
            for kh in 0..<3 { for kw in 0..<3 { gradWeight[((co * cin + ci) * 3 + kh) * 3 + kw] = Float(dg[kh][kw]) } }
        }
    }
}
