// The GEMM micro-kernel: an MR x NR = 8 x 32 tile of C held in 16 SIMD16<Float>
// accumulators (plus 2 B vectors and 1 broadcast: 19 of AVX-512's 32 registers).
//
// Per k step it loads one 32-wide row of the B micro-panel (two vectors) and
// broadcasts 8 consecutive values of the packed A micro-panel: 16 FMAs for
// 2 vector loads + 8 scalar broadcasts. The k order is fixed (0..<kc), so each
// element of C is always accumulated the same way, whatever the threading.
//
// Epilogue: C = alpha * acc + beta * C, with beta == 0 never reading C (NaN-safe).
// A tile cut by the matrix edge (rows < MR or cols < NR) is written through a
// small scratch tile and merged element by element with the same arithmetic.

@usableFromInline let gemmMR = 8
@usableFromInline let gemmNR = 32

@inline(__always)
func gemmLoad(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func gemmStore(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Writes alpha * acc (+ beta * C) into 16 consecutive floats of C.
@inline(__always)
func gemmEpilogue(_ acc: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>,
                  _ alpha: SIMD16<Float>, _ beta: Float) {
    var v = alpha * acc
    if beta != 0 { v = v + SIMD16<Float>(repeating: beta) * gemmLoad(p) }
    gemmStore(v, p)
}

/// Where row p of a B operand starts: rows a fixed stride apart (a packed panel or a
/// row-major matrix), or rows at tabulated offsets from a base (the implicit-GEMM
/// convolution reads its B rows in place from a zero-bordered image, see
/// Conv2dImplicit.swift). Generic code over these is specialised and inlined, so
/// the strided kernel compiles as it did before the offsets existed.
protocol GemmRows {
    func row(_ p: Int) -> UnsafePointer<Float>
}

struct GemmStridedRows: GemmRows {
    let base: UnsafePointer<Float>
    let stride: Int
    @inline(__always) func row(_ p: Int) -> UnsafePointer<Float> { base + p * stride }
}

struct GemmOffsetRows: GemmRows {
    let base: UnsafePointer<Float>
    let offsets: UnsafePointer<Int>
    @inline(__always) func row(_ p: Int) -> UnsafePointer<Float> { base + offsets[p] }
}

/// C[0..<rows, 0..<cols] (row stride ldc) = alpha * Apanel * Bpanel + beta * C.
///
/// - a: packed A micro-panel, kc steps of MR consecutive values (zero-padded rows).
/// - b: B micro-panel, kc rows of NR values, row p at b + p * bStride (packed: NR;
///   read in place from a row-major B: ldb).
/// - tile: scratch of MR * NR floats, used only when rows < MR or cols < NR.
@inline(never)
func gemmKernel8x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int,
                    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                    rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    gemmTile8x32(kc: kc, a: a, b: GemmStridedRows(base: b, stride: bStride), c: c, ldc: ldc, alpha: alpha,
                 beta: beta, rows: rows, cols: cols, tile: tile)
}

/// gemmKernel8x32 with B row p at b + offsets[p]; all NR values of each row are read,
/// also when cols < NR (the caller keeps them inside its buffer).
@inline(never)
func gemmKernel8x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                    rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    gemmTile8x32(kc: kc, a: a, b: GemmOffsetRows(base: b, offsets: offsets), c: c, ldc: ldc, alpha: alpha,
                 beta: beta, rows: rows, cols: cols, tile: tile)
}

@inline(__always)
func gemmTile8x32<R: GemmRows>(kc: Int, a: UnsafePointer<Float>, b: R,
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
        let b0 = gemmLoad(bp), b1 = gemmLoad(bp + 16)
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
    if rows == gemmMR && cols == gemmNR {
        var cp = c
        gemmEpilogue(c00, cp, va, beta); gemmEpilogue(c01, cp + 16, va, beta); cp += ldc
        gemmEpilogue(c10, cp, va, beta); gemmEpilogue(c11, cp + 16, va, beta); cp += ldc
        gemmEpilogue(c20, cp, va, beta); gemmEpilogue(c21, cp + 16, va, beta); cp += ldc
        gemmEpilogue(c30, cp, va, beta); gemmEpilogue(c31, cp + 16, va, beta); cp += ldc
        gemmEpilogue(c40, cp, va, beta); gemmEpilogue(c41, cp + 16, va, beta); cp += ldc
        gemmEpilogue(c50, cp, va, beta); gemmEpilogue(c51, cp + 16, va, beta); cp += ldc
        gemmEpilogue(c60, cp, va, beta); gemmEpilogue(c61, cp + 16, va, beta); cp += ldc
        gemmEpilogue(c70, cp, va, beta); gemmEpilogue(c71, cp + 16, va, beta)
        return
    }
    gemmStore(c00, tile); gemmStore(c01, tile + 16)
    gemmStore(c10, tile + 32); gemmStore(c11, tile + 48)
    gemmStore(c20, tile + 64); gemmStore(c21, tile + 80)
    gemmStore(c30, tile + 96); gemmStore(c31, tile + 112)
    gemmStore(c40, tile + 128); gemmStore(c41, tile + 144)
    gemmStore(c50, tile + 160); gemmStore(c51, tile + 176)
    gemmStore(c60, tile + 192); gemmStore(c61, tile + 208)
    gemmStore(c70, tile + 224); gemmStore(c71, tile + 240)
    for i in 0..<rows {
        let cr = c + i * ldc, tr = tile + i * gemmNR
        if beta == 0 {
            for j in 0..<cols { cr[j] = alpha * tr[j] }
        } else {
            for j in 0..<cols { cr[j] = alpha * tr[j] + beta * cr[j] }
        }
    }
}
