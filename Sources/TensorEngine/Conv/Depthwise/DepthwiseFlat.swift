// Stride-1 depthwise planes as flat runs. The row loops of Depthwise.swift add each tap
// to one output row at a time; on MobileNetV2's late planes a row is 8 or 4 floats, under
// one 16-float vector, and ran as scalar tails. Here an output (oy, ox) sits at flat index
// i = oy * wp + ox of a plane as wide as the zero-bordered input (wp = W + 2 pad), so tap
// (ky, kx) reads padded[i + ky * wp + kx] for every i at once: the whole plane is one run
// of 16-float vectors per tap, accumulated in registers. Columns ox >= OW of each flat row
// are junk, computed and dropped.
//
// A thread's buffer (Conv2dWorkspace.col) holds the zero-bordered plane, zero slack that
// the last vector's taps read past it, and a staging plane of OH rows of wp floats.

/// Floats of one thread's depthwise buffer.
func convDepthwiseBufferFloats(_ s: Conv2dShape) -> Int {
    convDepthwiseStagingOffset(s) + ((s.outHeight * (s.width + 2 * s.padW) + 15) & ~15) + 16
}

/// Where the staging plane starts: after the padded plane and its slack (a vector starting
/// at the last flat index reads up to 15 + kernelW - 1 floats past the plane).
@inline(__always) func convDepthwiseStagingOffset(_ s: Conv2dShape) -> Int {
    ((s.height + 2 * s.padH) * (s.width + 2 * s.padW) + 16 + s.kernelW + 15) & ~15
}

/// Whether backward-data runs as the flat forward of the padded gradient with the kernel
/// turned by 180 degrees: stride 1 and "same" padding (2 * pad = kernel - 1).
@inline(__always) func convDepthwiseFlatBackwardData(_ s: Conv2dShape) -> Bool {
    s.strideH == 1 && s.strideW == 1 && 2 * s.padH == s.kernelH - 1 && 2 * s.padW == s.kernelW - 1
}

/// Pads `plane` (the input's H x W) into the buffer and zeroes the slack after it.
@inline(__always) func convDepthwisePad(_ s: Conv2dShape, _ plane: UnsafePointer<Float>,
                                        _ buffer: UnsafeMutablePointer<Float>) {
    let end = (s.height + 2 * s.padH) * (s.width + 2 * s.padW)
    convPadPlane(s, plane, buffer)
    convFill(convDepthwiseStagingOffset(s) - end, 0, buffer + end)
}

/// out (OH x OW) = bias + Σ over taps t of w[t] · padded[i + offset(t)], the products added
/// in tap order, multiply then add: the rounding of convDepthwiseForward's row loop. The
/// buffer holds the padded plane (convDepthwisePad).
@inline(__always) func convDepthwiseFlatPlane(_ s: Conv2dShape, _ buffer: UnsafeMutablePointer<Float>,
                                              weights w: UnsafePointer<Float>, bias: Float,
                                              out: UnsafeMutablePointer<Float>) {
    let wp = s.width + 2 * s.padW, oh = s.outHeight, ow = s.outWidth, n = oh * wp
    let padded = UnsafePointer(buffer), staging = buffer + convDepthwiseStagingOffset(s)
    var i = 0
    while i < n {
        var acc = SIMD16<Float>(repeating: bias)
        for ky in 0..<s.kernelH {
            let row = padded + i + ky * wp
            for kx in 0..<s.kernelW {
                acc = acc + SIMD16<Float>(repeating: w[ky * s.kernelW + kx]) * convLoad16(row + kx)
            }
        }
        convStore16(acc, staging + i)
        i += 16
    }
    for oy in 0..<oh { convCopy(ow, staging + oy * wp, out + oy * ow) }
}

/// dw[t] += Σ over outputs of dy · padded input under tap t, for one plane: dy is laid out
/// in the staging plane with zero junk columns, so each tap is one flat dot product. The
/// buffer holds the padded input plane (convDepthwisePad).
@inline(__always) func convDepthwiseFlatWeights(_ s: Conv2dShape, _ buffer: UnsafeMutablePointer<Float>,
                                                gradOutput dy: UnsafePointer<Float>, gradWeight dw: UnsafeMutablePointer<Float>) {
    let wp = s.width + 2 * s.padW, oh = s.outHeight, ow = s.outWidth, n = oh * wp, n16 = (n + 15) & ~15
    let padded = UnsafePointer(buffer), staging = buffer + convDepthwiseStagingOffset(s)
    for oy in 0..<oh {
        convCopy(ow, dy + oy * ow, staging + oy * wp)
        convFill(wp - ow, 0, staging + oy * wp + ow)
    }
    convFill(n16 - n, 0, staging + n)
    for ky in 0..<s.kernelH {
        for kx in 0..<s.kernelW {
            let src = padded + ky * wp + kx
            var acc = SIMD16<Float>()
            var i = 0
            while i < n16 {
                acc.addProduct(convLoad16(staging + i), convLoad16(src + i))
                i += 16
            }
            dw[ky * s.kernelW + kx] += simdSum(acc)
        }
    }
}
