// The transforms of Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016):
//
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]       kernel:  U = G g G^T
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]       input:   V = B^T d B
//   A^T = [1 1 1 0; 0 1 -1 -1]                         output:  Y = A^T M A
//
// and for the weight gradient, their adjoints: the output gradient's tile dY (2x2)
// becomes A dY A^T (4x4), and the summed dU (4x4) the kernel gradient G^T dU G (3x3).
//
// Each 2-D transform is the 1-D one along the columns of every row, then along the
// rows of every column. The sums are written out in the order of the matrix rows
// (terms left to right, zero terms dropped), the order the scalar reference's plain
// matrix products use, so both give the same bits.
//
// The input and output transforms run on 16 tiles at once, one SIMD16 lane per tile.

import VectorShuffles

/// The 1-D kernel transform G (g0, g1, g2).
@inline(__always) func winogradKernel1D(_ g0: Float, _ g1: Float, _ g2: Float) -> (Float, Float, Float, Float) {
    (g0, (0.5 * g0 + 0.5 * g1) + 0.5 * g2, (0.5 * g0 - 0.5 * g1) + 0.5 * g2, g2)
}

/// U = G g G^T of one 3x3 kernel g(kh, kw); store(xi, U[xi]) for xi = 4i + j.
@inline(__always) func winogradKernelTransform(_ g: (Int, Int) -> Float, _ store: (Int, Float) -> Void) {
    // Rows first: r[kh] = G g[kh][.] (4 values each), then each of the 4 columns of the 3x4 result.
    let r0 = winogradKernel1D(g(0, 0), g(0, 1), g(0, 2))
    let r1 = winogradKernel1D(g(1, 0), g(1, 1), g(1, 2))
    let r2 = winogradKernel1D(g(2, 0), g(2, 1), g(2, 2))
    func column(_ j: Int, _ u: (Float, Float, Float, Float)) {
        store(j, u.0); store(4 + j, u.1); store(8 + j, u.2); store(12 + j, u.3)
    }
    column(0, winogradKernel1D(r0.0, r1.0, r2.0)); column(1, winogradKernel1D(r0.1, r1.1, r2.1))
    column(2, winogradKernel1D(r0.2, r1.2, r2.2)); column(3, winogradKernel1D(r0.3, r1.3, r2.3))
}

typealias WinogradLanes = SIMD16<Float>

/// The 1-D input transform B^T (d0, d1, d2, d3).
@inline(__always) func winogradInput1D(_ d0: WinogradLanes, _ d1: WinogradLanes, _ d2: WinogradLanes,
                                       _ d3: WinogradLanes)
    -> (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes) {
    (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
}

/// The 1-D output transform A^T (m0, m1, m2, m3).
@inline(__always) func winogradOutput1D(_ m0: WinogradLanes, _ m1: WinogradLanes, _ m2: WinogradLanes,
                                        _ m3: WinogradLanes) -> (WinogradLanes, WinogradLanes) {
    ((m0 + m1) + m2, (m1 - m2) - m3)
}

/// One patch row of 16 consecutive tiles, transformed along its columns: the row's
/// floats 2v .. 2v+3 for tile v, loaded as two 32-float runs split into even and odd columns.
@inline(__always) func winogradInputRow(_ p: UnsafePointer<Float>)
    -> (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes) {
    let a = UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Float>.self)
    let b = UnsafeRawPointer(p + 2).loadUnaligned(as: SIMD32<Float>.self)
    let (a0, a1) = deinterleave(a), (b0, b1) = deinterleave(b)
    return winogradInput1D(a0, a1, b0, b1)
}

/// V[xi] of 16 consecutive tiles whose patches start at p (even row plane) and
/// p + oddOffset (odd row plane); V[xi] lanes stored at dst + xi * xiStride.
@inline(__always) func winogradInputTiles16(_ p: UnsafePointer<Float>, rowStride: Int, oddOffset: Int,
                                            _ dst: UnsafeMutablePointer<Float>, xiStride: Int) {
    let r0 = winogradInputRow(p), r1 = winogradInputRow(p + oddOffset)
    let r2 = winogradInputRow(p + rowStride), r3 = winogradInputRow(p + oddOffset + rowStride)
    let c0 = winogradInput1D(r0.0, r1.0, r2.0, r3.0), c1 = winogradInput1D(r0.1, r1.1, r2.1, r3.1)
    let c2 = winogradInput1D(r0.2, r1.2, r2.2, r3.2), c3 = winogradInput1D(r0.3, r1.3, r2.3, r3.3)
    winogradStoreColumns16(c0, c1, c2, c3, dst, xiStride: xiStride)
}

typealias WinogradColumn = (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes)

/// Stores 4x4 values of 16 tiles given as columns j = 0..3 (c_j.i the value at row i):
/// value (i, j) is xi = 4i + j, its lanes at dst + xi * xiStride.
@inline(__always) func winogradStoreColumns16(_ c0: WinogradColumn, _ c1: WinogradColumn, _ c2: WinogradColumn,
                                              _ c3: WinogradColumn, _ dst: UnsafeMutablePointer<Float>,
                                              xiStride: Int) {
    convStore16(c0.0, dst); convStore16(c1.0, dst + xiStride)
    convStore16(c2.0, dst + 2 * xiStride); convStore16(c3.0, dst + 3 * xiStride)
    convStore16(c0.1, dst + 4 * xiStride); convStore16(c1.1, dst + 5 * xiStride)
    convStore16(c2.1, dst + 6 * xiStride); convStore16(c3.1, dst + 7 * xiStride)
    convStore16(c0.2, dst + 8 * xiStride); convStore16(c1.2, dst + 9 * xiStride)
    convStore16(c2.2, dst + 10 * xiStride); convStore16(c3.2, dst + 11 * xiStride)
    convStore16(c0.3, dst + 12 * xiStride); convStore16(c1.3, dst + 13 * xiStride)
    convStore16(c2.3, dst + 14 * xiStride); convStore16(c3.3, dst + 15 * xiStride)
}

/// One row of M (4 values, xiStride apart) of 16 tiles, transformed along its columns.
@inline(__always) func winogradOutputRow(_ q: UnsafePointer<Float>, _ xiStride: Int) -> (WinogradLanes, WinogradLanes) {
    winogradOutput1D(convLoad16(q), convLoad16(q + xiStride), convLoad16(q + 2 * xiStride), convLoad16(q + 3 * xiStride))
}

/// Y = A^T M A of 16 consecutive tiles, M[xi] lanes at m + xi * xiStride; the tiles'
/// first output rows are written as 32 consecutive floats at even, their second at odd.
@inline(__always) func winogradOutputTiles16(_ m: UnsafePointer<Float>, xiStride: Int,
                                             _ even: UnsafeMutablePointer<Float>, _ odd: UnsafeMutablePointer<Float>) {
    let t0 = winogradOutputRow(m, xiStride), t1 = winogradOutputRow(m + 4 * xiStride, xiStride)
    let t2 = winogradOutputRow(m + 8 * xiStride, xiStride), t3 = winogradOutputRow(m + 12 * xiStride, xiStride)
    let y0 = winogradOutput1D(t0.0, t1.0, t2.0, t3.0), y1 = winogradOutput1D(t0.1, t1.1, t2.1, t3.1)
    UnsafeMutableRawPointer(even).storeBytes(of: interleave(y0.0, y1.0), as: SIMD32<Float>.self)
    UnsafeMutableRawPointer(odd).storeBytes(of: interleave(y0.1, y1.1), as: SIMD32<Float>.self)
}

/// The 1-D adjoint of the output transform, A (y0, y1).
@inline(__always) func winogradGradient1D(_ y0: WinogradLanes, _ y1: WinogradLanes)
    -> (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes) {
    (y0, y0 + y1, y0 - y1, -y1)
}

/// A dY A^T of 16 consecutive tiles, their output gradients (row a, column b) at
/// q[2a + b] + 0..<16; the 16 values of each tile stored at dst + xi * xiStride.
@inline(__always) func winogradGradientTiles16(_ q00: UnsafePointer<Float>, _ q01: UnsafePointer<Float>,
                                               _ q10: UnsafePointer<Float>, _ q11: UnsafePointer<Float>,
                                               _ dst: UnsafeMutablePointer<Float>, xiStride: Int) {
    // Along each row (index j), then along each column (index i): xi = 4i + j.
    let r0 = winogradGradient1D(convLoad16(q00), convLoad16(q01))
    let r1 = winogradGradient1D(convLoad16(q10), convLoad16(q11))
    let c0 = winogradGradient1D(r0.0, r1.0), c1 = winogradGradient1D(r0.1, r1.1)
    let c2 = winogradGradient1D(r0.2, r1.2), c3 = winogradGradient1D(r0.3, r1.3)
    winogradStoreColumns16(c0, c1, c2, c3, dst, xiStride: xiStride)
}

/// The 1-D adjoint of the kernel transform, G^T (u0, u1, u2, u3).
@inline(__always) func winogradKernelGradient1D(_ u0: Float, _ u1: Float, _ u2: Float, _ u3: Float)
    -> (Float, Float, Float) {
    ((u0 + 0.5 * u1) + 0.5 * u2, 0.5 * u1 - 0.5 * u2, (0.5 * u1 + 0.5 * u2) + u3)
}

/// G^T dU G of one 4x4 dU(i, j); store(kh, kw, value) for the 3x3 kernel gradient.
@inline(__always) func winogradKernelGradient(_ du: (Int, Int) -> Float, _ store: (Int, Int, Float) -> Void) {
    // Along each row of dU (4 -> 3), then along each of the 3 columns (4 -> 3).
    func row(_ i: Int) -> (Float, Float, Float) { winogradKernelGradient1D(du(i, 0), du(i, 1), du(i, 2), du(i, 3)) }
    let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
    let c0 = winogradKernelGradient1D(r0.0, r1.0, r2.0, r3.0)
    let c1 = winogradKernelGradient1D(r0.1, r1.1, r2.1, r3.1)
    let c2 = winogradKernelGradient1D(r0.2, r1.2, r2.2, r3.2)
    store(0, 0, c0.0); store(1, 0, c0.1); store(2, 0, c0.2)
    store(0, 1, c1.0); store(1, 1, c1.1); store(2, 1, c1.2)
    store(0, 2, c2.0); store(1, 2, c2.1); store(2, 2, c2.2)
}
