// GEMM for C = alpha * A * B^T + beta * C with few rows of A and a long k (the
// convolution's weight gradient: dY (Cout x HW) times im2col^T). Both operands
// already have k contiguous, so instead of transposing B into panels, each C
// element is a dot product along k: a 4 x 3 block of C keeps 12 SIMD16 partial
// sums (7 vector loads per 12 FMAs), reduced horizontally at the end, then the
// k % 16 tail is added in scalar. Every element is summed in the same order
// whichever tile (full or edge) computes it, so results do not depend on threads.

@inline(__always)
func gemmDotFinish(_ acc: SIMD16<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                   from p0: Int, to k: Int, alpha: Float, beta: Float, c: UnsafeMutablePointer<Float>) {
    var s = simdSum(acc)
    for p in p0..<k { s = s + a[p] * b[p] }
    c.pointee = beta == 0 ? alpha * s : alpha * s + beta * c.pointee
}

/// C[i][j] for i in m0..<m1, j in n0..<n1: A row-major (k contiguous), B^T (k contiguous).
func gemmDotABt(m0: Int, m1: Int, n0: Int, n1: Int, k: Int, alpha: Float,
                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    gemmDotTiles(m0: m0, m1: m1, n0: n0, n1: n1, k: k, alpha: alpha, a: a, lda: lda,
                 b: GemmStridedRows(base: b, stride: ldb), beta: beta, c: c, ldc: ldc)
}

/// gemmDotABt with row j of B^T at b + offsets[j] (the implicit-GEMM weight gradient).
func gemmDotABt(m0: Int, m1: Int, n0: Int, n1: Int, k: Int, alpha: Float,
                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    gemmDotTiles(m0: m0, m1: m1, n0: n0, n1: n1, k: k, alpha: alpha, a: a, lda: lda,
                 b: GemmOffsetRows(base: b, offsets: offsets), beta: beta, c: c, ldc: ldc)
}

@inline(__always)
func gemmDotTiles<R: GemmRows>(m0: Int, m1: Int, n0: Int, n1: Int, k: Int, alpha: Float,
                               a: UnsafePointer<Float>, lda: Int, b: R,
                               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let kv = k & ~15
    var i = m0
    while i < m1 {
        let rows = min(4, m1 - i)
        var j = n0
        while j < n1 {
            let cols = min(3, n1 - j)
            if rows == 4 && cols == 3 {
                let a0 = a + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
                let b0 = b.row(j), b1 = b.row(j + 1), b2 = b.row(j + 2)
                var s00 = SIMD16<Float>(), s01 = SIMD16<Float>(), s02 = SIMD16<Float>()
                var s10 = SIMD16<Float>(), s11 = SIMD16<Float>(), s12 = SIMD16<Float>()
                var s20 = SIMD16<Float>(), s21 = SIMD16<Float>(), s22 = SIMD16<Float>()
                var s30 = SIMD16<Float>(), s31 = SIMD16<Float>(), s32 = SIMD16<Float>()
                var p = 0
                while p < kv {
                    let y0 = gemmLoad(b0 + p), y1 = gemmLoad(b1 + p), y2 = gemmLoad(b2 + p)
                    var x = gemmLoad(a0 + p); s00.addProduct(x, y0); s01.addProduct(x, y1); s02.addProduct(x, y2)
                    x = gemmLoad(a1 + p); s10.addProduct(x, y0); s11.addProduct(x, y1); s12.addProduct(x, y2)
                    x = gemmLoad(a2 + p); s20.addProduct(x, y0); s21.addProduct(x, y1); s22.addProduct(x, y2)
                    x = gemmLoad(a3 + p); s30.addProduct(x, y0); s31.addProduct(x, y1); s32.addProduct(x, y2)
                    p += 16
                }
                let cp = c + i * ldc + j
                gemmDotFinish(s00, a0, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp)
                gemmDotFinish(s01, a0, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 1)
                gemmDotFinish(s02, a0, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2)
                gemmDotFinish(s10, a1, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc)
                gemmDotFinish(s11, a1, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc + 1)
                gemmDotFinish(s12, a1, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc + 2)
                gemmDotFinish(s20, a2, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2 * ldc)
                gemmDotFinish(s21, a2, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2 * ldc + 1)
                gemmDotFinish(s22, a2, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2 * ldc + 2)
                gemmDotFinish(s30, a3, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 3 * ldc)
                gemmDotFinish(s31, a3, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 3 * ldc + 1)
                gemmDotFinish(s32, a3, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 3 * ldc + 2)
            } else {
                for r in 0..<rows {
                    for q in 0..<cols {
                        let ar = a + (i + r) * lda, bq = b.row(j + q)
                        var s = SIMD16<Float>()
                        var p = 0
                        while p < kv { s.addProduct(gemmLoad(ar + p), gemmLoad(bq + p)); p += 16 }
                        gemmDotFinish(s, ar, bq, from: kv, to: k, alpha: alpha, beta: beta,
                                      c: c + (i + r) * ldc + j + q)
                    }
                }
            }
            j += cols
        }
        i += rows
    }
}
