// GEMM for C = alpha * A * B^T + beta * C with few rows of A and a long k (the
// convolution's weight gradient: dY (Cout x HW) times im2col^T). Both operands
// already have k contiguous, so each C element is a dot product along k: 16 lane
// partial sums, reduced by a fixed tree at the end, then the k % 16 tail added in
// scalar. A block of R x 3 elements of C shares its loads (R = dotBlockRows, per
// level: 4 with 32 registers, 2 with 16). Every element is summed in the same order
// whichever block (full or edge) and level computes it, so results depend on
// neither the thread count nor the level. Compiled into both levels (symlink).

@inline(__always)
func laneSum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

@inline(__always)
func dotFinish(_ acc: SIMD16<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
               from p0: Int, to k: Int, alpha: Float, beta: Float, c: UnsafeMutablePointer<Float>) {
    var s = laneSum(acc)
    for p in p0..<k { s = s + a[p] * b[p] }
    c.pointee = beta == 0 ? alpha * s : alpha * s + beta * c.pointee
}

/// C[i][j] for i in m0..<m1, j in n0..<n1: A row-major (k contiguous), B^T (k contiguous).
public func gemmDot(m0: Int, m1: Int, n0: Int, n1: Int, k: Int, alpha: Float,
                    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    dotTiles(m0: m0, m1: m1, n0: n0, n1: n1, k: k, alpha: alpha, a: a, lda: lda,
             b: GemmStridedRows(base: b, stride: ldb), beta: beta, c: c, ldc: ldc)
}

/// gemmDot with row j of B^T at b + offsets[j] (the implicit-GEMM weight gradient).
public func gemmDot(m0: Int, m1: Int, n0: Int, n1: Int, k: Int, alpha: Float,
                    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    dotTiles(m0: m0, m1: m1, n0: n0, n1: n1, k: k, alpha: alpha, a: a, lda: lda,
             b: GemmOffsetRows(base: b, offsets: offsets), beta: beta, c: c, ldc: ldc)
}

@inline(__always)
func dotTiles<R: GemmRows>(m0: Int, m1: Int, n0: Int, n1: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: R,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let kv = k & ~15
    var i = m0
    while i < m1 {
        let rows = min(dotBlockRows, m1 - i)
        var j = n0
        while j < n1 {
            let cols = min(3, n1 - j)
            if rows == dotBlockRows && cols == 3 {
                dotBlock(a: a + i * lda, lda: lda, b0: b.row(j), b1: b.row(j + 1), b2: b.row(j + 2),
                         kv: kv, k: k, alpha: alpha, beta: beta, c: c + i * ldc + j, ldc: ldc)
            } else {
                for r in 0..<rows {
                    for q in 0..<cols {
                        let ar = a + (i + r) * lda, bq = b.row(j + q)
                        var s = SIMD16<Float>()
                        var p = 0
                        while p < kv { s.addProduct(load16(ar + p), load16(bq + p)); p += 16 }
                        dotFinish(s, ar, bq, from: kv, to: k, alpha: alpha, beta: beta, c: c + (i + r) * ldc + j + q)
                    }
                }
            }
            j += cols
        }
        i += rows
    }
}
