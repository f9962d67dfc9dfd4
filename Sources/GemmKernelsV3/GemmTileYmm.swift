// The x86-64-v3 (AVX2, 16 ymm registers) GEMM micro-kernel over the same packed
// 8 x 32 tile as v4's. The 8 x 32 tile would need 32 ymm accumulators (each
// SIMD16 spills into two of AVX2's 16 registers: 0.32x OpenBLAS measured), so it
// is computed in three register blocks: rows 0-3 and rows 4-7 of columns 0-23
// (12 SIMD8<Float> accumulators, 3 B vectors, 1 broadcast: all 16 registers; per
// k step 3 loads and 4 broadcasts feed 12 FMAs), then all 8 rows of columns
// 24-31 (8 accumulators). Twelve independent chains leave slack over the 8 that
// 2 FMA units x 4 cycles of latency need (Zen 3, Haswell-class cores); the
// earlier four 4 x 16 blocks had exactly 8 and ran the micro-kernel at 0.88-0.90x
// of this one (kc = 256, panels in L1/L2, best of 30 interleaved, Zen 3 idle).
// The A and B micro-panels are re-read per block from L1.
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

/// Rows r0..<r0+4 and columns 0..<24 of the tile: into C (beta/alpha epilogue) when
/// `out` has row stride ldc, or raw into the scratch tile (row stride NR, alpha 1, beta 0).
/// 12 accumulators, 3 B vectors and 1 broadcast: 16 of 16 registers.
@inline(__always)
func subTile4x24<R: GemmRows>(kc: Int, a: UnsafePointer<Float>, b: R, r0: Int,
                              out: UnsafeMutablePointer<Float>, ld: Int, alpha: Float, beta: Float) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c02 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>(), c12 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c22 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>(), c32 = SIMD8<Float>()
    var ap = a + r0
    var p = 0
    while p < kc {
        let bp = b.row(p)
        let b0 = load8(bp), b1 = load8(bp + 8), b2 = load8(bp + 16)
        var x = SIMD8<Float>(repeating: ap[0]); c00.addProduct(x, b0); c01.addProduct(x, b1); c02.addProduct(x, b2)
        x = SIMD8<Float>(repeating: ap[1]); c10.addProduct(x, b0); c11.addProduct(x, b1); c12.addProduct(x, b2)
        x = SIMD8<Float>(repeating: ap[2]); c20.addProduct(x, b0); c21.addProduct(x, b1); c22.addProduct(x, b2)
        x = SIMD8<Float>(repeating: ap[3]); c30.addProduct(x, b0); c31.addProduct(x, b1); c32.addProduct(x, b2)
        ap += gemmTileRows; p += 1
    }
    let va = SIMD8<Float>(repeating: alpha)
    var cp = out + r0 * ld
    epilogue8(c00, cp, va, beta); epilogue8(c01, cp + 8, va, beta); epilogue8(c02, cp + 16, va, beta); cp += ld
    epilogue8(c10, cp, va, beta); epilogue8(c11, cp + 8, va, beta); epilogue8(c12, cp + 16, va, beta); cp += ld
    epilogue8(c20, cp, va, beta); epilogue8(c21, cp + 8, va, beta); epilogue8(c22, cp + 16, va, beta); cp += ld
    epilogue8(c30, cp, va, beta); epilogue8(c31, cp + 8, va, beta); epilogue8(c32, cp + 16, va, beta)
}

/// All 8 rows and columns 24..<32 of the tile: 8 accumulators, 1 B vector, 1 broadcast.
@inline(__always)
func subTile8x8<R: GemmRows>(kc: Int, a: UnsafePointer<Float>, b: R,
                             out: UnsafeMutablePointer<Float>, ld: Int, alpha: Float, beta: Float) {
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
    var c4 = SIMD8<Float>(), c5 = SIMD8<Float>(), c6 = SIMD8<Float>(), c7 = SIMD8<Float>()
    var ap = a
    var p = 0
    while p < kc {
        let b0 = load8(b.row(p) + 24)
        c0.addProduct(SIMD8<Float>(repeating: ap[0]), b0); c1.addProduct(SIMD8<Float>(repeating: ap[1]), b0)
        c2.addProduct(SIMD8<Float>(repeating: ap[2]), b0); c3.addProduct(SIMD8<Float>(repeating: ap[3]), b0)
        c4.addProduct(SIMD8<Float>(repeating: ap[4]), b0); c5.addProduct(SIMD8<Float>(repeating: ap[5]), b0)
        c6.addProduct(SIMD8<Float>(repeating: ap[6]), b0); c7.addProduct(SIMD8<Float>(repeating: ap[7]), b0)
        ap += gemmTileRows; p += 1
    }
    let va = SIMD8<Float>(repeating: alpha)
    let cp = out + 24
    epilogue8(c0, cp, va, beta); epilogue8(c1, cp + ld, va, beta)
    epilogue8(c2, cp + 2 * ld, va, beta); epilogue8(c3, cp + 3 * ld, va, beta)
    epilogue8(c4, cp + 4 * ld, va, beta); epilogue8(c5, cp + 5 * ld, va, beta)
    epilogue8(c6, cp + 6 * ld, va, beta); epilogue8(c7, cp + 7 * ld, va, beta)
}

@inline(__always)
func gemmTileBlocked<R: GemmRows>(kc: Int, a: UnsafePointer<Float>, b: R,
                                  c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                                  rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    let full = rows == gemmTileRows && cols == gemmTileColumns
    let out = full ? c : tile, ld = full ? ldc : gemmTileColumns
    let al: Float = full ? alpha : 1, be: Float = full ? beta : 0
    subTile4x24(kc: kc, a: a, b: b, r0: 0, out: out, ld: ld, alpha: al, beta: be)
    subTile4x24(kc: kc, a: a, b: b, r0: 4, out: out, ld: ld, alpha: al, beta: be)
    subTile8x8(kc: kc, a: a, b: b, out: out, ld: ld, alpha: al, beta: be)
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
