// Depthwise backward-data at stride 2 (both directions) as flat runs. The row loop of
// Depthwise.swift scatters each dy row into every second column of the padded gradient,
// one scalar at a time. Split the padded gradient into its four phases by row and column
// parity, as the forward splits the input (DepthwiseFlat.swift): phase (a, b)[y][x] =
// dpadded[2y + a][2x + b] = Σ over taps ky ≡ a, kx ≡ b (mod 2) of w[ky, kx] ·
// dy[y - ky / 2][x - kx / 2], a stride-1 correlation of dy with that parity's taps. With dy
// staged behind a zero border of (K - 1) / 2 rows above and columns left (zeros below and
// right too), every tap of a phase reads one flat run, 16 floats at a time; the phases are
// then gathered into dx, dropping the padding.

import VectorShuffles

/// Where one plane's staged dy and the four phase gradients sit in a thread's buffer.
struct DepthwiseStride2DataLayout {
    /// Zero rows above and columns left of dy in the staging.
    let borderH: Int, borderW: Int
    /// Floats per staged row and per phase row (a phase's width, half the padded width
    /// rounded up, plus the left border; the extra columns are junk).
    let rowWidth: Int
    /// Rows of a phase: half the padded height, rounded up.
    let phaseRows: Int
    /// Floats of the staged dy and its slack, and of one phase plane.
    let stagedFloats: Int, phaseFloats: Int

    init(_ s: Conv2dShape) {
        borderH = (s.kernelH - 1) / 2; borderW = (s.kernelW - 1) / 2
        rowWidth = (s.width + 2 * s.padW + 1) / 2 + borderW
        phaseRows = (s.height + 2 * s.padH + 1) / 2
        // A vector at the last flat index of a phase reads 15 floats and the border past it.
        stagedFloats = ((phaseRows + borderH) * rowWidth + 16 + borderW + 15) & ~15
        phaseFloats = (phaseRows * rowWidth + 15) & ~15
    }

    /// The staging, the phases, and the 15 floats past the last phase that the gather's
    /// last vector may read.
    var bufferFloats: Int { stagedFloats + 4 * phaseFloats + 16 }
}

/// gradInput (H x W) of one plane from its gradOutput (OH x OW) and its kernel w.
func convDepthwiseStride2Data(_ s: Conv2dShape, _ l: DepthwiseStride2DataLayout, _ buffer: UnsafeMutablePointer<Float>,
                              gradOutput dy: UnsafePointer<Float>, weights w: UnsafePointer<Float>,
                              gradInput dx: UnsafeMutablePointer<Float>) {
    let rw = l.rowWidth, oh = s.outHeight, ow = s.outWidth
    let staged = buffer, phases = buffer + l.stagedFloats
    convFill(l.stagedFloats, 0, staged)
    for oy in 0..<oh { convCopy(ow, dy + oy * ow, staged + (oy + l.borderH) * rw + l.borderW) }
    let n = l.phaseRows * rw
    for a in 0..<2 {
        for b in 0..<2 {
            let out = phases + (a * 2 + b) * l.phaseFloats
            var i = 0
            while i < n {
                var acc = SIMD16<Float>()
                for ky in stride(from: a, to: s.kernelH, by: 2) {
                    for kx in stride(from: b, to: s.kernelW, by: 2) {
                        let src = staged + i + (l.borderH - ky / 2) * rw + (l.borderW - kx / 2)
                        acc = acc + SIMD16<Float>(repeating: w[ky * s.kernelW + kx]) * convLoad16(src)
                    }
                }
                convStore16(acc, out + i)
                i += 16
            }
        }
    }
    // Row iy of dx is padded row iy + padH from its even and odd column phases, interleaved
    // 16 + 16 floats at a time into a scratch row, from column padW on.
    let half = (s.padW + s.width + 1) / 2, chunks = (half + 15) / 16
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 * chunks) { scratch in
        let row = scratch.baseAddress!
        for iy in 0..<s.height {
            let py = iy + s.padH
            let even = phases + (py & 1) * 2 * l.phaseFloats + (py >> 1) * rw, odd = even + l.phaseFloats
            for k in 0..<chunks {
                UnsafeMutableRawPointer(row + 32 * k).storeBytes(
                    of: interleave(convLoad16(even + 16 * k), convLoad16(odd + 16 * k)), as: SIMD32<Float>.self)
            }
            convCopy(s.width, row + s.padW, dx + iy * s.width)
        }
    }
}
