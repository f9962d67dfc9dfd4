// Single-precision GEMM, row-major: C = alpha * op(A) * op(B) + beta * C.
// op(A) is m x k, op(B) is k x n. beta == 0 ignores C's prior contents (NaN too).
// With a pool, the work is split over its threads; without, it runs on the caller.

public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                 alpha: Float, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                 pool: ThreadPool? = nil) {
    // Placeholder until the blocked kernel lands: correct, not fast.
    gemmReference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}
