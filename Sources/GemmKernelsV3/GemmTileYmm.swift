// The x86-64-v3 (AVX2, 16 ymm registers) GEMM micro-kernel over the same packed
// 8 x 32 tile as v4's. The 8 x 32 tile would need 32 ymm accumulators (each
// SIMD16 spills into two of AVX2's 16 registers: 0.32x OpenBLAS measured), so it
// is computed as four 4 x 16 sub-tiles, each in 8 SIMD8<Float> accumulators plus
// 2 B vectors and 1 broadcast (11 of 16 registers): per k step 2 vector loads and
// 4 broadcasts feed 8 FMAs, and 8 independent accumulator chains cover the FMA
// latency (2 FMA units x 4 cycles on Zen 3 and Haswell-class cores). The A and B
// micro-panels are re-read per sub-tile from L1.
//
// Each element of C is still accumulated with one FMA per k step in ascending k,
// as on v4, so both levels give the same bits. Edge tiles are computed in full
// into the scratch tile and merged (GemmKernelCommon.swift).

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Writes alpha * acc (+ beta * C) into 8 consecutive floats of C.
@inline(__always)
func epilogue8(_ acc: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ alpha: SIMD8<Float>, _ beta: Float) {
    var v = alpha * acc
    if beta != 0 { v = v + SIMD8<Float>(repeating: beta) * load8(p) }
    store8(v, p)
}

/// Rows r0..<r0+4 and columns j0..<j0+16 of the tile: into C (beta/alpha epilogue) when
/// `out` has row stride ldc, or raw into the scratch tile (row stride NR, alpha 1, beta 0).
@inline(__always)
func subTile4x16<R: GemmRows>(kc: Int, a: UnsafePointer<Float>, b: R, r0: Int, j0: Int,
                              out: UnsafeMutablePointer<Float>, ld: Int, alpha: Float, beta: Float) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var ap = a + r0
    var p = 0
    while p < kc {
        let bp = b.row(p) + j0
        let b0 = load8(bp), b1 = load8(bp + 8)
        var x = SIMD8<Float>(repeating: ap[0]); c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = SIMD8<Float>(repeating: ap[1]); c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = SIMD8<Float>(repeating: ap[2]); c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = SIMD8<Float>(repeating: ap[3]); c30.addProduct(x, b0); c31.addProduct(x, b1)
        ap += gemmTileRows; p += 1
    }
    let va = SIMD8<Float>(repeating: alpha)
    var cp = out + r0 * ld + j0
    epilogue8(c00, cp, va, beta); epilogue8(c01, cp + 8, va, beta); cp += ld
    epilogue8(c10, cp, va, beta); epilogue8(c11, cp + 8, va, beta); cp += ld
    epilogue8(c20, cp, va, beta); epilogue8(c21, cp + 8, va, beta); cp += ld
    epilogue8(c30, cp, va, beta); epilogue8(c31, cp + 8, va, beta)
}

@inline(__always)
func gemmTileBlocked<R: GemmRows>(kc: Int, a: UnsafePointer<Float>, b: R,
                                  c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                                  rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    let full = rows == gemmTileRows && cols == gemmTileColumns
    let out = full ? c : tile, ld = full ? ldc : gemmTileColumns
    let al: Float = full ? alpha : 1, be: Float = full ? beta : 0
    subTile4x16(kc: kc, a: a, b: b, r0: 0, j0: 0, out: out, ld: ld, alpha: al, beta: be)
    subTile4x16(kc: kc, a: a, b: b, r0: 0, j0: 16, out: out, ld: ld, alpha: al, beta: be)
    subTile4x16(kc: kc, a: a, b: b, r0: 4, j0: 0, out: out, ld: ld, alpha: al, beta: be)
    subTile4x16(kc: kc, a: a, b: b, r0: 4, j0: 16, out: out, ld: ld, alpha: al, beta: be)
    if !full { mergeEdgeTile(tile, c, ldc: ldc, rows: rows, cols: cols, alpha: alpha, beta: beta) }
}

/// 2 x 3 dot products per block: 6 SIMD16 partial sums (12 ymm), 5 vector loads per 6 FMAs.
let dotBlockRows = 2

@inline(__always)
func dotBlock(a a0: UnsafePointer<Float>, lda: Int, b0: UnsafePointer<Float>, b1: UnsafePointer<Float>,
              b2: UnsafePointer<Float>, kv: Int, k: Int, alpha: Float, beta: Float,
              c cp: UnsafeMutablePointer<Float>, ldc: Int) {
    let a1 = a0 + lda
    var s00 = SIMD16<Float>(), s01 = SIMD16<Float>(), s02 = SIMD16<Float>()
    var s10 = SIMD16<Float>(), s11 = SIMD16<Float>(), s12 = SIMD16<Float>()
    var p = 0
    while p < kv {
        let y0 = load16(b0 + p), y1 = load16(b1 + p), y2 = load16(b2 + p)
        var x = load16(a0 + p); s00.addProduct(x, y0); s01.addProduct(x, y1); s02.addProduct(x, y2)
        x = load16(a1 + p); s10.addProduct(x, y0); s11.addProduct(x, y1); s12.addProduct(x, y2)
        p += 16
    }
    dotFinish(s00, a0, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp)
    dotFinish(s01, a0, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 1)
    dotFinish(s02, a0, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2)
    dotFinish(s10, a1, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc)
    dotFinish(s11, a1, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc + 1)
    dotFinish(s12, a1, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc + 2)
}
