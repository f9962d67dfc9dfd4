// Single-precision GEMM, row-major: C = alpha * op(A) * op(B) + beta * C.
// op(A) is m x k, op(B) is k x n. beta == 0 ignores C's prior contents (NaN too).
// With a pool, the work is split over its threads; without, it runs on the caller.
//
// Blocked in the usual way (loops jc over NC columns, pc over KC depth, ic over MC
// rows, then NR x MR micro-tiles): a kc x nc block of op(B) and an mc x kc block
// of op(A) are packed into micro-panels (GemmPacking.swift) and an 8 x 32 SIMD16
// micro-kernel (GemmKernels.swift) computes each tile. When B is not
// transposed and M is small (the per-image convolution shapes), B's full-width
// micro-panels are read in place instead of packed: with few rows of A, packing B
// would cost about as much as the multiply itself.
//
// Threads split the columns of C (or, when there are too few column tiles, the
// rows) into contiguous per-thread ranges of whole tiles. Every element of C is
// accumulated by one thread in the same fixed k order, with block boundaries that
// depend only on k, so results are bit-identical for any thread count.
// Packing buffers are per thread and reused: no allocation once warmed up.

@usableFromInline let gemmKC = 256
@usableFromInline let gemmMC = 128
@usableFromInline let gemmNC = 1024
/// Largest m for which a non-transposed B is read in place rather than packed.
@usableFromInline let gemmDirectBMaxM = 96
/// A.B^T with m <= this and k >= gemmDotMinK runs as dot products (GemmKernelsV4/GemmDot.swift).
@usableFromInline let gemmDotMaxM = 96
@usableFromInline let gemmDotMinK = 384

public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                 alpha: Float, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                 pool: ThreadPool? = nil) {
    precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension")
    if m == 0 || n == 0 { return }
    if k == 0 || alpha == 0 {
        gemmScaleC(m: m, n: n, beta: beta, c: c, ldc: ldc)
        return
    }
    let threads = pool?.threads ?? 1
    // Chosen from the whole problem's shape, never a thread's share, so the
    // arithmetic (and the bits) do not depend on the thread count.
    if !transA && transB && m <= gemmDotMaxM && k >= gemmDotMinK {
        let nChunks = (n + 15) / 16
        if let pool, pool.threads > 1, nChunks > 1 {
            pool.parallelFor(nChunks) { r, _ in
                gemmDotABt(m0: 0, m1: m, n0: r.lowerBound * 16, n1: min(n, r.upperBound * 16), k: k,
                           alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            }
        } else {
            gemmDotABt(m0: 0, m1: m, n0: 0, n1: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc)
        }
        return
    }
    let nTiles = (n + gemmNR - 1) / gemmNR
    let mTiles = (m + gemmMR - 1) / gemmMR
    if threads == 1 || (nTiles < 2 && mTiles < 2) {
        gemmBlocked(transA: transA, transB: transB, m0: 0, m1: m, n0: 0, n1: n, k: k, alpha: alpha,
                    a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    let splitN = nTiles >= threads || nTiles >= mTiles
    pool!.run { t in
        if splitN {
            let r = ThreadPool.chunk(t, of: threads, count: nTiles)
            if r.isEmpty { return }
            gemmBlocked(transA: transA, transB: transB, m0: 0, m1: m,
                        n0: r.lowerBound * gemmNR, n1: min(n, r.upperBound * gemmNR), k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            let r = ThreadPool.chunk(t, of: threads, count: mTiles)
            if r.isEmpty { return }
            gemmBlocked(transA: transA, transB: transB,
                        m0: r.lowerBound * gemmMR, m1: min(m, r.upperBound * gemmMR), n0: 0, n1: n, k: k,
                        alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }
}

/// C = beta * C (beta == 0 writes zeros without reading C).
func gemmScaleC(m: Int, n: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 {
            row.update(repeating: 0, count: n)
        } else if beta != 1 {
            for j in 0..<n { row[j] = beta * row[j] }
        }
    }
}

/// The blocked GEMM on rows m0..<m1 and columns n0..<n1 of C, on the calling thread.
func gemmBlocked(transA: Bool, transB: Bool, m0: Int, m1: Int, n0: Int, n1: Int, k: Int,
                 alpha: Float, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let m = m1 - m0, n = n1 - n0
    let mr = gemmMR, nr = gemmNR
    let kcMax = min(gemmKC, k)
    let mcMax = min(gemmMC, (m + mr - 1) / mr * mr)
    let directB = !transB && m <= gemmDirectBMaxM
    let ncMax = min(gemmNC, (n + nr - 1) / nr * nr)
    let aFloats = mcMax * kcMax
    let bFloats = directB ? kcMax * nr : kcMax * ncMax
    let tileFloats = mr * nr
    // Sections rounded to 16 floats (64 bytes) to keep every panel aligned.
    let aSize = (aFloats + 15) & ~15, bSize = (bFloats + 15) & ~15
    let ws = gemmWorkspace(floats: aSize + bSize + tileFloats + gemmPackScratchFloats)
    let aBuf = ws, bBuf = ws + aSize, tile = ws + aSize + bSize
    let scratch = UnsafeMutableRawPointer(tile + tileFloats)

    var jc = n0
    while jc < n1 {
        let nc = min(gemmNC, n1 - jc)
        var pc = 0
        while pc < k {
            let kc = min(gemmKC, k - pc)
            let betaBlock: Float = pc == 0 ? beta : 1
            if !directB {
                gemmPackB(transB: transB, b: b, ldb: ldb, p0: pc, j0: jc, kc: kc, nc: nc, dst: bBuf, scratch: scratch)
            }
            var ic = m0
            while ic < m1 {
                let mc = min(gemmMC, m1 - ic)
                gemmPackA(transA: transA, a: a, lda: lda, i0: ic, p0: pc, mc: mc, kc: kc, dst: aBuf, scratch: scratch)
                var jr = 0
                while jr < nc {
                    let cols = min(nr, nc - jr)
                    let bPanel: UnsafePointer<Float>
                    let bStride: Int
                    if !directB {
                        bPanel = UnsafePointer(bBuf + (jr / nr) * kc * nr); bStride = nr
                    } else if cols == nr {
                        bPanel = b + pc * ldb + jc + jr; bStride = ldb
                    } else {
                        gemmPackB(transB: false, b: b, ldb: ldb, p0: pc, j0: jc + jr, kc: kc, nc: cols, dst: bBuf, scratch: scratch)
                        bPanel = UnsafePointer(bBuf); bStride = nr
                    }
                    var ir = 0
                    while ir < mc {
                        gemmKernel8x32(kc: kc, a: aBuf + (ir / mr) * kc * mr, b: bPanel, bStride: bStride,
                                       c: c + (ic + ir) * ldc + jc + jr, ldc: ldc, alpha: alpha, beta: betaBlock,
                                       rows: min(mr, mc - ir), cols: cols, tile: tile)
                        ir += mr
                    }
                    jr += nr
                }
                ic += mc
            }
            pc += kc
        }
        jc += nc
    }
}
