// What every level's GEMM kernels share. This file is compiled into GemmKernelsV3
// (x86-64-v3, 16 ymm registers) and GemmKernelsV4 (x86-64-v4, 32 zmm registers)
// through a symlink, so both levels address B rows, merge edge tiles and reduce
// dot products with the same code: the per-level files hold only what the
// register file decides (the micro-tile's register blocking).
//
// Every C element is accumulated in the same order on every level (k ascending,
// one FMA per step; the dot kernel's 16 lane partial sums and their fixed
// reduction tree), so the levels give bit-identical results.

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// The micro-tile: MR rows of packed A by NR columns of B (the packing in
/// TensorEngine/GemmPacking.swift is the same on every level).
public let gemmTileRows = 8
public let gemmTileColumns = 32

/// Where row p of a B operand starts: rows a fixed stride apart (a packed panel or a
/// row-major matrix), or rows at tabulated offsets from a base (the implicit-GEMM
/// convolution reads its B rows in place from a zero-bordered image).
protocol GemmRows {
    func row(_ p: Int) -> UnsafePointer<Float>
}

struct GemmStridedRows: GemmRows {
    let base: UnsafePointer<Float>
    let stride: Int
    @inline(__always) func row(_ p: Int) -> UnsafePointer<Float> { base + p &* stride }
}

struct GemmOffsetRows: GemmRows {
    let base: UnsafePointer<Float>
    let offsets: UnsafePointer<Int>
    @inline(__always) func row(_ p: Int) -> UnsafePointer<Float> { base + offsets[p] }
}

/// C[0..<rows, 0..<cols] = alpha * tile + beta * C for an edge tile computed in full
/// into `tile` (row stride NR). beta == 0 never reads C (NaN-safe).
@inline(__always)
func mergeEdgeTile(_ tile: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, ldc: Int,
                   rows: Int, cols: Int, alpha: Float, beta: Float) {
    for i in 0..<rows {
        let cr = c + i * ldc, tr = tile + i * gemmTileColumns
        if beta == 0 {
            for j in 0..<cols { cr[j] = alpha * tr[j] }
        } else {
            for j in 0..<cols { cr[j] = alpha * tr[j] + beta * cr[j] }
        }
    }
}

/// C[0..<rows, 0..<cols] (row stride ldc) = alpha * Apanel * Bpanel + beta * C.
///
/// - a: packed A micro-panel, kc steps of MR consecutive values (zero-padded rows).
/// - b: B micro-panel, kc rows of NR values, row p at b + p * bStride.
/// - tile: scratch of MR * NR floats, used only when rows < MR or cols < NR.
@inline(never)
public func gemmTile(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int,
                     c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                     rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    gemmTileBlocked(kc: kc, a: a, b: GemmStridedRows(base: b, stride: bStride), c: c, ldc: ldc, alpha: alpha,
                    beta: beta, rows: rows, cols: cols, tile: tile)
}

/// gemmTile with B row p at b + offsets[p]; all NR values of each row are read,
/// also when cols < NR (the caller keeps them inside its buffer).
@inline(never)
public func gemmTile(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                     rows: Int, cols: Int, tile: UnsafeMutablePointer<Float>) {
    gemmTileBlocked(kc: kc, a: a, b: GemmOffsetRows(base: b, offsets: offsets), c: c, ldc: ldc, alpha: alpha,
                    beta: beta, rows: rows, cols: cols, tile: tile)
}
