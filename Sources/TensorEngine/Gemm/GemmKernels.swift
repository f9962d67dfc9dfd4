// The GEMM micro-kernels the blocked GEMM and the convolutions call, dispatched
// to the level chosen at start-up (CPULevel.swift). The kernels themselves live in
// GemmKernelsV3 (AVX2, ymm) and GemmKernelsV4 (AVX-512, zmm), each compiled for
// its level; both compute the same 8 x 32 tile over the same packed panels and
// give the same bits. The plain reference is GemmReference.swift.
import GemmKernelsV3
import GemmKernelsV4

@usableFromInline let gemmMR = GemmKernelsV4.gemmTileRows
@usableFromInline let gemmNR = GemmKernelsV4.gemmTileColumns

@inline(__always)
func gemmLoad(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func gemmStore(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// C[0..<rows, 0..<cols] (row stride ldc) = alpha * Apanel * Bpanel + beta * C, B row p
/// at b + p * bStride (see GemmKernelCommon.swift for the operands' layout).
@inline(__always)
func gemmKernel8x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int,
                    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                    rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    if !CPULevel.current.hasAVX512 {
        GemmKernelsV3.gemmTile(kc: kc, a: a, b: b, bStride: bStride, c: c, ldc: ldc, alpha: alpha, beta: beta,
                               rows: rows, cols: cols, tile: tile)
    } else {
        GemmKernelsV4.gemmTile(kc: kc, a: a, b: b, bStride: bStride, c: c, ldc: ldc, alpha: alpha, beta: beta,
                               rows: rows, cols: cols, tile: tile)
    }
}

/// gemmKernel8x32 with B row p at b + offsets[p].
@inline(__always)
func gemmKernel8x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                    rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    if !CPULevel.current.hasAVX512 {
        GemmKernelsV3.gemmTile(kc: kc, a: a, b: b, offsets: offsets, c: c, ldc: ldc, alpha: alpha, beta: beta,
                               rows: rows, cols: cols, tile: tile)
    } else {
        GemmKernelsV4.gemmTile(kc: kc, a: a, b: b, offsets: offsets, c: c, ldc: ldc, alpha: alpha, beta: beta,
                               rows: rows, cols: cols, tile: tile)
    }
}

/// C = alpha * A * B^T + beta * C as dot products along k (GemmDot.swift).
func gemmDotABt(m0: Int, m1: Int, n0: Int, n1: Int, k: Int, alpha: Float,
                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if !CPULevel.current.hasAVX512 {
        GemmKernelsV3.gemmDot(m0: m0, m1: m1, n0: n0, n1: n1, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                              beta: beta, c: c, ldc: ldc)
    } else {
        GemmKernelsV4.gemmDot(m0: m0, m1: m1, n0: n0, n1: n1, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                              beta: beta, c: c, ldc: ldc)
    }
}

/// gemmDotABt with row j of B^T at b + offsets[j].
func gemmDotABt(m0: Int, m1: Int, n0: Int, n1: Int, k: Int, alpha: Float,
                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if !CPULevel.current.hasAVX512 {
        GemmKernelsV3.gemmDot(m0: m0, m1: m1, n0: n0, n1: n1, k: k, alpha: alpha, a: a, lda: lda, b: b,
                              offsets: offsets, beta: beta, c: c, ldc: ldc)
    } else {
        GemmKernelsV4.gemmDot(m0: m0, m1: m1, n0: n0, n1: n1, k: k, alpha: alpha, a: a, lda: lda, b: b,
                              offsets: offsets, beta: beta, c: c, ldc: ldc)
    }
}

/// The benchmarks' FMA peak loop of the level in use (GemmKernelsV4/FMAPeak.swift).
public func benchFMAPeakLoop(iterations: Int, seed: Float) -> Float {
    CPULevel.current.hasAVX512 ? GemmKernelsV4.fmaPeakLoop(iterations: iterations, seed: seed)
        : GemmKernelsV3.fmaPeakLoop(iterations: iterations, seed: seed)
}
