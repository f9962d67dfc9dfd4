// Stride-1 and stride-2 depthwise planes as flat runs. The row loops of Depthwise.swift add
// each tap to one output row at a time; on MobileNetV2's late planes a row is 8 or 4 floats,
// under one 16-float vector, and ran as scalar tails (stride 2 was scalar throughout). Here an
// output (oy, ox) sits at flat index i = oy * fw + ox of a plane fw floats wide, and tap
// (ky, kx) reads buffer[i + tapOffset(ky, kx)] for every i at once: the whole plane is one
// run of 16-float vectors per tap, accumulated in registers. Columns ox >= OW of each flat
// row are junk, computed and dropped.
//  - stride 1: the buffer is the zero-bordered input (fw = wp = W + 2 pad), tap offset
//    ky * wp + kx;
//  - stride 2 (both directions): the zero-bordered input split into its four phases by row
//    and column parity, phase (a, b)[y][x] = padded[2y + a][2x + b], each hp2 x wp2 (half
//    the padded size, rounded up; fw = wp2), tap offset phase(ky % 2, kx % 2) +
//    (ky / 2) * wp2 + kx / 2. A valid output never reads past its phase's row
//    (ox + kx / 2 <= (wp - 1) / 2 < wp2).
//
// A thread's buffer (Conv2dWorkspace.col) holds the plane (or phases), zero slack that the
// last vector's taps read past it, and a staging plane of OH rows of fw floats.
/// Where a shape's flat runs read and write in a thread's buffer.
struct DepthwiseFlatLayout {
    /// Floats per flat row: the padded width (stride 1) or half of it rounded up (stride 2).
    let flatWidth: Int
    /// Rows of a stride-2 phase (0 for stride 1).
    let phaseRows: Int
    /// Floats of the padded plane or its four phases, then of the slack; staging starts there.
    let stagingOffset: Int
    let kernelW: Int

    init(_ s: Conv2dShape) {
        let hp = s.height + 2 * s.padH, wp = s.width + 2 * s.padW
        let planes: Int
        if convDepthwiseStride2(s) {
            flatWidth = (wp + 1) / 2; phaseRows = (hp + 1) / 2
            planes = 4 * phaseRows * flatWidth
        } else {
            flatWidth = wp; phaseRows = 0
            planes = hp * wp
        }
        // A vector starting at the last flat index reads up to 15 + the largest tap offset
        // past it; the last plane's taps reach at most kernelW - 1 columns beyond its end.
        stagingOffset = (planes + 16 + s.kernelW + 15) & ~15
        kernelW = s.kernelW
    }

    /// Where tap t = ky * kernelW + kx reads for flat index 0.
    @inline(__always) func tapOffset(_ t: Int) -> Int {
        let ky = t / kernelW, kx = t % kernelW, fw = flatWidth
        return phaseRows == 0 ? ky * fw + kx : ((ky & 1) * 2 + (kx & 1)) * phaseRows * fw + (ky >> 1) * fw + (kx >> 1)
    }

    /// The tap offsets in a stack buffer for `body` (a heap array here would allocate in
    /// every training step).
    @inline(__always) func withTapOffsets<R>(taps: Int, _ body: (UnsafePointer<Int>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { o in
            for t in 0..<taps { o[t] = tapOffset(t) }
            return body(UnsafePointer(o.baseAddress!))
        }
    }

    /// Floats of one thread's buffer.
    func bufferFloats(_ s: Conv2dShape) -> Int { stagingOffset + ((s.outHeight * flatWidth + 15) & ~15) + 16 }
}

/// Floats of one thread's depthwise buffer: the flat runs', stride 2's backward-data's
/// (DepthwiseStride2Data.swift), and at least the row loops' padded plane, hp * wp.
func convDepthwiseBufferFloats(_ s: Conv2dShape) -> Int {
    max(DepthwiseFlatLayout(s).bufferFloats(s), convDepthwiseStride2(s) ? DepthwiseStride2DataLayout(s).bufferFloats : 0)
}

/// Whether the forward and weight gradient run flat: stride 1 or stride 2 in both directions.
@inline(__always) func convDepthwiseFlat(_ s: Conv2dShape) -> Bool {
    (s.strideH == 1 && s.strideW == 1) || convDepthwiseStride2(s)
}

@inline(__always) func convDepthwiseStride2(_ s: Conv2dShape) -> Bool { s.strideH == 2 && s.strideW == 2 }

/// Whether backward-data runs as the flat forward of the padded gradient with the kernel
/// turned by 180 degrees: stride 1 and "same" padding (2 * pad = kernel - 1).
@inline(__always) func convDepthwiseFlatBackwardData(_ s: Conv2dShape) -> Bool {
    s.strideH == 1 && s.strideW == 1 && 2 * s.padH == s.kernelH - 1 && 2 * s.padW == s.kernelW - 1
}

/// Lays `plane` (the input's H x W) out in the buffer, zero-bordered (stride 1) or as the
/// zero-bordered plane's four phases (stride 2), and zeroes the slack after it.
@inline(__always) func convDepthwisePad(_ s: Conv2dShape, _ l: DepthwiseFlatLayout, _ plane: UnsafePointer<Float>,
                                        _ buffer: UnsafeMutablePointer<Float>) {
    let end: Int
    if l.phaseRows == 0 {
        end = (s.height + 2 * s.padH) * (s.width + 2 * s.padW)
        convPadPlane(s, plane, buffer)
    } else {
        // Each padded row, built in a scratch row 2 fw floats long, de-interleaved into
        // its even (phase b = 0) and odd (b = 1) columns.
        let fw = l.flatWidth, rows = l.phaseRows, w = s.width, pw = s.padW
        end = 4 * rows * fw
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * fw) { scratch in
            let row = scratch.baseAddress!
            convFill(pw, 0, row)
            convFill(2 * fw - pw - w, 0, row + pw + w)
            for a in 0..<2 {
                let even = buffer + a * 2 * rows * fw, odd = even + rows * fw
                for y in 0..<rows {
                    let iy = 2 * y + a - s.padH
                    guard iy >= 0 && iy < s.height else {
                        convFill(fw, 0, even + y * fw); convFill(fw, 0, odd + y * fw); continue
                    }
                    convCopy(w, plane + iy * w, row + pw)
                    convDeinterleaveRow(row, fw, even: even + y * fw, odd: odd + y * fw)
                }
            }
        }
    }
    convFill(l.stagingOffset - end, 0, buffer + end)
}

/// out (OH x OW) = bias + Σ over taps t of w[t] · buffer[i + tapOffset(t)], the products
/// added in tap order, multiply then add: the rounding of convDepthwiseForward's row loop.
/// The buffer holds the plane as convDepthwisePad lays it out.
@inline(__always) func convDepthwiseFlatPlane(_ s: Conv2dShape, _ l: DepthwiseFlatLayout, _ buffer: UnsafeMutablePointer<Float>,
                                              weights w: UnsafePointer<Float>, bias: Float,
                                              out: UnsafeMutablePointer<Float>) {
    let fw = l.flatWidth, oh = s.outHeight, ow = s.outWidth, n = oh * fw
    let planes = UnsafePointer(buffer), staging = buffer + l.stagingOffset, taps = s.kernelH * s.kernelW
    l.withTapOffsets(taps: taps) { offsets in
        var i = 0
        while i < n {
            var acc = SIMD16<Float>(repeating: bias)
            for t in 0..<taps { acc = acc + SIMD16<Float>(repeating: w[t]) * convLoad16(planes + i + offsets[t]) }
            convStore16(acc, staging + i)
            i += 16
        }
    }
    for oy in 0..<oh { convCopy(ow, staging + oy * fw, out + oy * ow) }
}

/// dw[t] += Σ over outputs of dy · input under tap t, for one plane: dy is laid out in the
/// staging plane with zero junk columns, so each tap is one flat dot product. The buffer
/// holds the input plane as convDepthwisePad lays it out.
@inline(__always) func convDepthwiseFlatWeights(_ s: Conv2dShape, _ l: DepthwiseFlatLayout, _ buffer: UnsafeMutablePointer<Float>,
                                                gradOutput dy: UnsafePointer<Float>, gradWeight dw: UnsafeMutablePointer<Float>) {
    let fw = l.flatWidth, oh = s.outHeight, ow = s.outWidth, n = oh * fw, n16 = (n + 15) & ~15
    let planes = UnsafePointer(buffer), staging = buffer + l.stagingOffset
    for oy in 0..<oh {
        convCopy(ow, dy + oy * ow, staging + oy * fw)
        convFill(fw - ow, 0, staging + oy * fw + ow)
    }
    convFill(n16 - n, 0, staging + n)
    for t in 0..<(s.kernelH * s.kernelW) {
        let src = planes + l.tapOffset(t)
        var acc = SIMD16<Float>()
        var i = 0
        while i < n16 {
            acc.addProduct(convLoad16(staging + i), convLoad16(src + i))
            i += 16
        }
        dw[t] += simdSum(acc)
    }
}
