// Winograd F(2x2, 3x3) weight gradient of the 3x3 stride-1 "same" convolutions that
// take the Winograd path (WinogradF2x2.swift). The forward is Y = A^T [U (.) V] A per
// tile with U = G g G^T, so the kernel's gradient is
//
//   dU[xi] = sum over tiles of (A dY A^T)[xi] * V[xi]     16 GEMMs [Cout, tiles] x [tiles, Cin]
//   dg     = G^T dU G                                     per (output, input) channel pair
//
// 16 x Cout x Cin multiply-adds per tile instead of the direct gradient's 36 (4 outputs
// x 9), so about 2.25x fewer (virtual tiles of even widths and odd planes' partial
// tiles make it 1.7-2.1x on ResNet-20's shapes). Only shapes with enough channel
// pairs take it (usesWinogradWeightGradient).
//
// Per thread, per image group: the input planes and V exactly as in the forward; the
// output gradient staged plane by plane into quarter planes indexed by tile (zero past
// the plane, so virtual and partial tiles contribute nothing) and transformed 16 tiles
// at a time into M's buffer; then dU_t += M V^T by the dot-product GEMM (both operands have the
// tiles contiguous). The threads' dU are summed in thread order, then transformed.

extension ConvWinogradBuffers {
    /// M[xi][r][i*tiles + v] = (A dY A^T)[xi] of image i's tile v, output channel r < rows,
    /// for the `images` output-gradient planes at dy (thread t's group).
    ///
    /// Each plane is first split into four quarter planes by row and column parity, each
    /// indexed by tile (tileRows rows of rowStride/2 tiles, zero past the plane), so 16
    /// tiles load as four plain vectors. (A de-interleaving vector load, as the input
    /// transform does, made the optimiser stop inlining the standard library's even/odd
    /// split, and the forward's input transform ran 3x slower.)
    func transformGradient(_ t: Int, from dy: UnsafePointer<Float>, images: Int, rows: Int) {
        let mt = store.m + t * store.mStride, st = store.staging + t * store.stagingStride
        let half = rowStride / 2, quarter = tileRows * half + 16   // 4 quarters fit the staging
        let q00 = st, q01 = st + quarter, q10 = st + 2 * quarter, q11 = st + 3 * quarter
        let h = height, w = width
        // An odd plane's last tile row has no second output row.
        if h & 1 == 1 {
            convFill(half, 0, q10 + (tileRows - 1) * half)
            convFill(half, 0, q11 + (tileRows - 1) * half)
        }
        for i in 0..<images {
            for r in 0..<rows {
                let src = dy + (i * rows + r) * h * w
                for y in 0..<h {
                    let row = src + y * w, at = (y >> 1) * half
                    let even = ((y & 1) == 0 ? q00 : q10) + at, odd = ((y & 1) == 0 ? q01 : q11) + at
                    for j in 0..<((w + 1) / 2) { even[j] = row[2 * j] }
                    for j in ((w + 1) / 2)..<half { even[j] = 0 }
                    for j in 0..<(w / 2) { odd[j] = row[2 * j + 1] }
                    for j in (w / 2)..<half { odd[j] = 0 }
                }
                // Images in order: a chunk's lanes past the image's last tile land on the
                // next image's first columns, which that image then overwrites.
                let dst = mt + r * ld + i * tilesPerImage
                var v0 = 0
                while v0 < tilesPerImage {
                    winogradGradientTiles16(q00 + v0, q01 + v0, q10 + v0, q11 + v0, dst + v0, xiStride: rows * ld)
                    v0 += 16
                }
            }
        }
    }

    /// dU_t[xi] [rows, k] (+)= M[xi] [rows, tiles] * V[xi]^T [tiles, k] over the group's tiles.
    /// The dot-product kernel (no packing) at 32 channels, the packed one from 64, where
    /// a group has too few tiles (128 at 7x7) to amortise the dot products' horizontal
    /// sums: 64->64 at 7x7 took 13.4 ms with the dot kernel, 5.2 packed; 32->32 at 14x14
    /// 4.8 with the dot kernel, 5.9 packed.
    func multiplyGradient(_ t: Int, images: Int, rows: Int, k: Int, first: Bool) {
        let used = images * tilesPerImage
        let vt = UnsafePointer(store.v + t * store.vStride), mt = UnsafePointer(store.m + t * store.mStride)
        let du = gradU + t * gradUStride
        for xi in 0..<16 {
            let a = mt + xi * rows * ld, b = vt + xi * k * ld, c = du + xi * rows * k
            if min(rows, k) >= 64 {
                gemmBlocked(transA: false, transB: true, m0: 0, m1: rows, n0: 0, n1: k, k: used, alpha: 1,
                            a: a, lda: ld, b: b, ldb: ld, beta: first ? 0 : 1, c: c, ldc: k)
            } else {
                gemmDotABt(m0: 0, m1: rows, n0: 0, n1: k, k: used, alpha: 1, a: a, lda: ld, b: b, ldb: ld,
                           beta: first ? 0 : 1, c: c, ldc: k)
            }
        }
    }
}

extension Conv2dShape {
    /// Winograd shapes whose weight gradient takes it too. Measured, ResNet-20, batch 128,
    /// 1 thread, ms per call (`gdqr bench conv`), Winograd vs direct: 32->32 at 14x14
    /// 5.0 vs 6.4, 64->64 at 7x7 4.8 vs 6.8, but 16->16 at 28x28 6.7-6.9 vs 5.9-6.0
    /// (16 x 16 outputs per GEMM are too few for either kernel), so fewer than 32 x 32
    /// channel pairs stay direct.
    var usesWinogradWeightGradient: Bool { usesWinograd && inChannels * outChannels >= 32 * 32 }
}

/// gradWeight (and gradBias) of a Winograd-shaped convolution, both overwritten.
func convWinogradBackwardWeights(_ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                 gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
                                 workspace: Conv2dWorkspace, buffers b: ConvWinogradBuffers, pool: ThreadPool?) {
    let cin = s.inChannels, cout = s.outChannels, plane = s.height * s.width
    convChunks(pool, s.batch) { range, t in
        let db = workspace.biasGradient(t, gradBias)
        var first = true
        convImageGroups(range, b.store.imagesPerGroup) { n0, count in
            b.fill(t, from: input + n0 * cin * plane, images: count, channels: cin, levels: nil)
            b.transformInput(t, images: count, k: cin)
            b.transformGradient(t, from: gradOutput + n0 * cout * plane, images: count, rows: cout)
            b.multiplyGradient(t, images: count, rows: cout, k: cin, first: first)
            if let db { convAccumulateBiasGradient(s, n0, count, gradOutput, db, first: first) }
            first = false
        }
    }
    // Threads 0..<used had images; their sums are added in thread order.
    let used = min(pool?.threads ?? 1, s.batch), size = 16 * cout * cin
    for t in 1..<max(used, 1) { convAdd(size, b.gradU + t * b.gradUStride, b.gradU) }
    if let gradBias { workspace.addBiasPartials(threads: used, channels: cout, into: gradBias) }
    let du = UnsafePointer(b.gradU)
    for co in 0..<cout {
        for ci in 0..<cin {
            winogradKernelGradient({ i, j in du[((4 * i + j) * cout + co) * cin + ci] }) { kh, kw, value in
                gradWeight[((co * cin + ci) * 3 + kh) * 3 + kw] = value
            }
        }
    }
}
