// The transforms of Winograd F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016, interpolation points 0, 1, -1, 2, -2, inf):
//
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
// kernel U = G g G^T (6x6), input patch V = B^T d B (6x6), output Y = A^T M A (4x4).
// The 1-D input and output transforms below share their common terms and use fused
// multiply-adds (14 and 10 operations instead of 22 and 16 for the plain products), so
// they round differently from Conv2dWinogradReference's plain matrix products: the two
// are compared within a tolerance. The 2-D transforms run along each row of the patch
// first, then along each column, on 16 tiles at once (one SIMD16 lane per tile).

import VectorShuffles

/// The 1-D kernel transform G (g0, g1, g2), in Double: U is computed once per call and
/// rounded once.
@inline(__always) func winograd4Kernel1D(_ g0: Double, _ g1: Double, _ g2: Double)
    -> (Double, Double, Double, Double, Double, Double) {
    let sixth = 1.0 / 6, twentyFourth = 1.0 / 24
    return (0.25 * g0, -(g0 + g1 + g2) * sixth, -(g0 - g1 + g2) * sixth, (g0 + 2 * g1 + 4 * g2) * twentyFourth,
            (g0 - 2 * g1 + 4 * g2) * twentyFourth, g2)
}

/// U = G g G^T of one 3x3 kernel g(kh, kw); store(xi, U[xi]) for xi = 6i + j.
@inline(__always) func winograd4KernelTransform(_ g: (Int, Int) -> Float, _ store: (Int, Float) -> Void) {
    func d(_ kh: Int, _ kw: Int) -> Double { Double(g(kh, kw)) }
    let r0 = winograd4Kernel1D(d(0, 0), d(0, 1), d(0, 2))
    let r1 = winograd4Kernel1D(d(1, 0), d(1, 1), d(1, 2))
    let r2 = winograd4Kernel1D(d(2, 0), d(2, 1), d(2, 2))
    func column(_ j: Int, _ u: (Double, Double, Double, Double, Double, Double)) {
        store(j, Float(u.0)); store(6 + j, Float(u.1)); store(12 + j, Float(u.2))
        store(18 + j, Float(u.3)); store(24 + j, Float(u.4)); store(30 + j, Float(u.5))
    }
    column(0, winograd4Kernel1D(r0.0, r1.0, r2.0)); column(1, winograd4Kernel1D(r0.1, r1.1, r2.1))
    column(2, winograd4Kernel1D(r0.2, r1.2, r2.2)); column(3, winograd4Kernel1D(r0.3, r1.3, r2.3))
    column(4, winograd4Kernel1D(r0.4, r1.4, r2.4)); column(5, winograd4Kernel1D(r0.5, r1.5, r2.5))
}

typealias Winograd4Six = (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes)
typealias Winograd4Four = (WinogradLanes, WinogradLanes, WinogradLanes, WinogradLanes)

/// The 1-D input transform B^T (d0 .. d5):
///   4 d0 - 5 d2 + d4 = 4 (d0 - d2) + (d4 - d2),   4 d1 - 5 d3 + d5 = 4 (d1 - d3) + (d5 - d3),
///   (d3 + d4) -/+ 4 (d1 + d2) and (d4 - d3) + 4 (d1 - d2), (d4 - d2) -/+ 2 (d1 - d3).
/// acc + c * x, one rounding.
@inline(__always) func winograd4FMA(_ acc: WinogradLanes, _ c: Float, _ x: WinogradLanes) -> WinogradLanes {
    var r = acc
    r.addProduct(WinogradLanes(repeating: c), x)
    return r
}

@inline(__always) func winograd4Input1D(_ d: Winograd4Six) -> Winograd4Six {
    let a = d.4 - d.2, e = d.1 - d.3
    return (winograd4FMA(a, 4, d.0 - d.2), winograd4FMA(d.3 + d.4, -4, d.1 + d.2), winograd4FMA(d.4 - d.3, 4, d.1 - d.2),
            winograd4FMA(a, -2, e), winograd4FMA(a, 2, e), winograd4FMA(d.5 - d.3, 4, e))
}

/// The 1-D output transform A^T (m0 .. m5): with p, q = m1 +/- m2 and r, s = m3 +/- m4,
/// (m0 + p) + r, q + 2 s, p + 4 r, (q + 8 s) + m5.
@inline(__always) func winograd4Output1D(_ m: Winograd4Six) -> Winograd4Four {
    let p = m.1 + m.2, q = m.1 - m.2, r = m.3 + m.4, s = m.3 - m.4
    return ((m.0 + p) + r, winograd4FMA(q, 2, s), winograd4FMA(p, 4, r), winograd4FMA(q, 8, s) + m.5)
}

/// V = B^T d B of 16 consecutive tiles in the phase planes of WinogradF4x4.swift:
/// patch value (i, j) of the tiles at p + (4 (i mod 4) + j mod 4) * phase + (i / 4) *
/// across + j / 4; V[6i + j] lanes stored at dst + (6i + j) * xiStride.
@inline(__always) func winograd4InputTiles16(_ p: UnsafePointer<Float>, phase: Int, across: Int,
                                             _ dst: UnsafeMutablePointer<Float>, xiStride: Int) {
    @inline(__always) func row(_ q: UnsafePointer<Float>) -> Winograd4Six {
        winograd4Input1D((convLoad16(q), convLoad16(q + phase), convLoad16(q + 2 * phase),
                          convLoad16(q + 3 * phase), convLoad16(q + 1), convLoad16(q + phase + 1)))
    }
    let r0 = row(p), r1 = row(p + 4 * phase), r2 = row(p + 8 * phase), r3 = row(p + 12 * phase)
    let r4 = row(p + across), r5 = row(p + 4 * phase + across)
    @inline(__always) func column(_ j: Int, _ c: Winograd4Six) {
        convStore16(c.0, dst + j * xiStride); convStore16(c.1, dst + (6 + j) * xiStride)
        convStore16(c.2, dst + (12 + j) * xiStride); convStore16(c.3, dst + (18 + j) * xiStride)
        convStore16(c.4, dst + (24 + j) * xiStride); convStore16(c.5, dst + (30 + j) * xiStride)
    }
    column(0, winograd4Input1D((r0.0, r1.0, r2.0, r3.0, r4.0, r5.0)))
    column(1, winograd4Input1D((r0.1, r1.1, r2.1, r3.1, r4.1, r5.1)))
    column(2, winograd4Input1D((r0.2, r1.2, r2.2, r3.2, r4.2, r5.2)))
    column(3, winograd4Input1D((r0.3, r1.3, r2.3, r3.3, r4.3, r5.3)))
    column(4, winograd4Input1D((r0.4, r1.4, r2.4, r3.4, r4.4, r5.4)))
    column(5, winograd4Input1D((r0.5, r1.5, r2.5, r3.5, r4.5, r5.5)))
}

/// 64 floats (a0, b0, c0, d0, a1, b1, ...): a tile's four output columns side by side, at p.
@inline(__always) func winograd4StoreInterleaved(_ a: WinogradLanes, _ b: WinogradLanes, _ c: WinogradLanes,
                                                 _ d: WinogradLanes, _ p: UnsafeMutablePointer<Float>) {
    let (first, second) = interleave4(a, b, c, d)
    UnsafeMutableRawPointer(p).storeBytes(of: first, as: SIMD32<Float>.self)
    UnsafeMutableRawPointer(p + 32).storeBytes(of: second, as: SIMD32<Float>.self)
}

/// Y = A^T M A of 16 consecutive tiles, M[xi] lanes at m + xi * xiStride; output row r
/// of the tiles is written as 64 consecutive floats (4 per tile) at out + r * phase.
@inline(__always) func winograd4OutputTiles16(_ m: UnsafePointer<Float>, xiStride: Int,
                                              _ out: UnsafeMutablePointer<Float>, phase: Int) {
    @inline(__always) func row(_ i: Int) -> Winograd4Four {
        let q = m + 6 * i * xiStride
        return winograd4Output1D((convLoad16(q), convLoad16(q + xiStride), convLoad16(q + 2 * xiStride),
                                  convLoad16(q + 3 * xiStride), convLoad16(q + 4 * xiStride),
                                  convLoad16(q + 5 * xiStride)))
    }
    let t0 = row(0), t1 = row(1), t2 = row(2), t3 = row(3), t4 = row(4), t5 = row(5)
    let y0 = winograd4Output1D((t0.0, t1.0, t2.0, t3.0, t4.0, t5.0))
    let y1 = winograd4Output1D((t0.1, t1.1, t2.1, t3.1, t4.1, t5.1))
    let y2 = winograd4Output1D((t0.2, t1.2, t2.2, t3.2, t4.2, t5.2))
    let y3 = winograd4Output1D((t0.3, t1.3, t2.3, t3.3, t4.3, t5.3))
    winograd4StoreInterleaved(y0.0, y1.0, y2.0, y3.0, out)
    winograd4StoreInterleaved(y0.1, y1.1, y2.1, y3.1, out + phase)
    winograd4StoreInterleaved(y0.2, y1.2, y2.2, y3.2, out + 2 * phase)
    winograd4StoreInterleaved(y0.3, y1.3, y2.3, y3.3, out + 3 * phase)
}
