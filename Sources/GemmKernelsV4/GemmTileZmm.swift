// The x86-64-v4 (AVX-512) GEMM micro-kernel: an 8 x 32 tile of C held in 16
// SIMD16<Float> accumulators (plus 2 B vectors and 1 broadcast: 19 of AVX-512's 32
// zmm registers). Per k step it loads one 32-wide row of the B micro-panel (two
// vectors) and broadcasts 8 consecutive values of the packed A micro-panel: 16 FMAs
// for 2 vector loads + 8 scalar broadcasts. The k order is fixed (0..<kc).
//
// Epilogue: C = alpha * acc + beta * C, with beta == 0 never reading C (NaN-safe).
// A tile cut by the matrix edge is computed in full into a scratch tile and merged
// (GemmKernelCommon.swift). The plain reference is TensorEngine/GemmReference.swift.

/// Writes alpha * acc (+ beta * C) into 16 consecutive floats of C.
@inline(__always)
func epilogue16(_ acc: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>,
                _ alpha: SIMD16<Float>, _ beta: Float) {
    var v = alpha * acc
    if beta != 0 { v = v + SIMD16<Float>(repeating: beta) * load16(p) }
    store16(v, p)
}

@inline(__always)
func gemmTileBlocked<R: GemmRows>(kc: Int, a: UnsafePointer<Float>, b: R,
                                  c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                                  rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
    var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>()
    var c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    var ap = a
    var p = 0
    while p < kc {
        let bp = b.row(p)
        let b0 = load16(bp), b1 = load16(bp + 16)
        var x = SIMD16<Float>(repeating: ap[0]); c00.addProduct(x, b0); c01.addProduct(x, b1)
        x = SIMD16<Float>(repeating: ap[1]); c10.addProduct(x, b0); c11.addProduct(x, b1)
        x = SIMD16<Float>(repeating: ap[2]); c20.addProduct(x, b0); c21.addProduct(x, b1)
        x = SIMD16<Float>(repeating: ap[3]); c30.addProduct(x, b0); c31.addProduct(x, b1)
        x = SIMD16<Float>(repeating: ap[4]); c40.addProduct(x, b0); c41.addProduct(x, b1)
        x = SIMD16<Float>(repeating: ap[5]); c50.addProduct(x, b0); c51.addProduct(x, b1)
        x = SIMD16<Float>(repeating: ap[6]); c60.addProduct(x, b0); c61.addProduct(x, b1)
        x = SIMD16<Float>(repeating: ap[7]); c70.addProduct(x, b0); c71.addProduct(x, b1)
        ap += 8; p += 1
    }
    let va = SIMD16<Float>(repeating: alpha)
    if rows == gemmTileRows && cols == gemmTileColumns {
        var cp = c
        epilogue16(c00, cp, va, beta); epilogue16(c01, cp + 16, va, beta); cp += ldc
        epilogue16(c10, cp, va, beta); epilogue16(c11, cp + 16, va, beta); cp += ldc
        epilogue16(c20, cp, va, beta); epilogue16(c21, cp + 16, va, beta); cp += ldc
        epilogue16(c30, cp, va, beta); epilogue16(c31, cp + 16, va, beta); cp += ldc
        epilogue16(c40, cp, va, beta); epilogue16(c41, cp + 16, va, beta); cp += ldc
        epilogue16(c50, cp, va, beta); epilogue16(c51, cp + 16, va, beta); cp += ldc
        epilogue16(c60, cp, va, beta); epilogue16(c61, cp + 16, va, beta); cp += ldc
        epilogue16(c70, cp, va, beta); epilogue16(c71, cp + 16, va, beta)
        return
    }
    store16(c00, tile); store16(c01, tile + 16)
    store16(c10, tile + 32); store16(c11, tile + 48)
    store16(c20, tile + 64); store16(c21, tile + 80)
    store16(c30, tile + 96); store16(c31, tile + 112)
    store16(c40, tile + 128); store16(c41, tile + 144)
    store16(c50, tile + 160); store16(c51, tile + 176)
    store16(c60, tile + 192); store16(c61, tile + 208)
    store16(c70, tile + 224); store16(c71, tile + 240)
    mergeEdgeTile(tile, c, ldc: ldc, rows: rows, cols: cols, alpha: alpha, beta: beta)
}

/// 4 x 3 dot products per block: 12 SIMD16 partial sums, 7 vector loads per 12 FMAs.
let dotBlockRows = 4

@inline(__always)
func dotBlock(a a0: UnsafePointer<Float>, lda: Int, b0: UnsafePointer<Float>, b1: UnsafePointer<Float>,
              b2: UnsafePointer<Float>, kv: Int, k: Int, alpha: Float, beta: Float,
              c cp: UnsafeMutablePointer<Float>, ldc: Int) {
    let a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda
    var s00 = SIMD16<Float>(), s01 = SIMD16<Float>(), s02 = SIMD16<Float>()
    var s10 = SIMD16<Float>(), s11 = SIMD16<Float>(), s12 = SIMD16<Float>()
    var s20 = SIMD16<Float>(), s21 = SIMD16<Float>(), s22 = SIMD16<Float>()
    var s30 = SIMD16<Float>(), s31 = SIMD16<Float>(), s32 = SIMD16<Float>()
    var p = 0
    while p < kv {
        let y0 = load16(b0 + p), y1 = load16(b1 + p), y2 = load16(b2 + p)
        var x = load16(a0 + p); s00.addProduct(x, y0); s01.addProduct(x, y1); s02.addProduct(x, y2)
        x = load16(a1 + p); s10.addProduct(x, y0); s11.addProduct(x, y1); s12.addProduct(x, y2)
        x = load16(a2 + p); s20.addProduct(x, y0); s21.addProduct(x, y1); s22.addProduct(x, y2)
        x = load16(a3 + p); s30.addProduct(x, y0); s31.addProduct(x, y1); s32.addProduct(x, y2)
        p += 16
    }
    dotFinish(s00, a0, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp)
    dotFinish(s01, a0, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 1)
    dotFinish(s02, a0, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2)
    dotFinish(s10, a1, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc)
    dotFinish(s11, a1, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc + 1)
    dotFinish(s12, a1, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + ldc + 2)
    dotFinish(s20, a2, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2 * ldc)
    dotFinish(s21, a2, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2 * ldc + 1)
    dotFinish(s22, a2, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 2 * ldc + 2)
    dotFinish(s30, a3, b0, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 3 * ldc)
    dotFinish(s31, a3, b1, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 3 * ldc + 1)
    dotFinish(s32, a3, b2, from: kv, to: k, alpha: alpha, beta: beta, c: cp + 3 * ldc + 2)
}
