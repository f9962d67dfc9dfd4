// im2col of stride-2 convolutions through parity planes. With stride 2, kernel row ky
// reads input row 2 oy + d (d = ky - padH), which is row oy + floor(d/2) of the
// parity-(d mod 2) half of the rows; likewise for columns. When each parity half of
// the plane is exactly OH x OW (H = 2 OH, W = 2 OW: ResNet's 28 -> 14 and 14 -> 7),
// the column-matrix row of a kernel offset whose floor(d/2) is 0 in both directions
// ("a base row") is one parity plane, and every other row is a base row shifted by a
// constant: one long copy, as for stride 1, instead of a strided gather per output row.
// Base rows are filled by de-interleaving each input row once.

import VectorShuffles

/// For each of the four parities the base row holding that parity plane (the kernel
/// offset ky * kW + kx is col's row); nil when the convolution does not qualify.
struct ConvParityPlan {
    /// base[2 * py + px]: the kernel offset row whose column-matrix row is parity plane (py, px), or -1.
    var base = SIMD4<Int>(repeating: -1)

    init?(_ s: Conv2dShape) {
        guard s.strideH == 2 && s.strideW == 2 && s.height == 2 * s.outHeight && s.width == 2 * s.outWidth else {
            return nil
        }
        for ky in 0..<s.kernelH {
            for kx in 0..<s.kernelW where (ky - s.padH) >> 1 == 0 && (kx - s.padW) >> 1 == 0 {
                base[2 * ((ky - s.padH) & 1) + ((kx - s.padW) & 1)] = ky * s.kernelW + kx
            }
        }
        // Every parity some kernel offset reads must have its base row.
        for ky in 0..<s.kernelH {
            for kx in 0..<s.kernelW where base[2 * ((ky - s.padH) & 1) + ((kx - s.padW) & 1)] < 0 { return nil }
        }
    }
}

/// convIm2col for a convolution with a parity plan (one image, one group).
func convIm2colParity(_ s: Conv2dShape, _ plan: ConvParityPlan, _ x: UnsafePointer<Float>,
                      _ col: UnsafeMutablePointer<Float>, ld: Int) {
    let h = s.height, w = s.width, oh = s.outHeight, ow = s.outWidth, kk = s.kernelH * s.kernelW
    for c in 0..<s.inPerGroup {
        let xc = x + c * h * w, rows = col + c * kk * ld
        // Base rows: each input row's even and odd columns into the base rows of its row parity.
        for y in 0..<h {
            let even = plan.base[2 * (y & 1)], odd = plan.base[2 * (y & 1) + 1]
            convDeinterleaveRow(xc + y * w, ow, even: even < 0 ? nil : rows + even * ld + (y >> 1) * ow,
                                odd: odd < 0 ? nil : rows + odd * ld + (y >> 1) * ow)
        }
        for ky in 0..<s.kernelH {
            for kx in 0..<s.kernelW {
                let dy = ky - s.padH, dx = kx - s.padW
                if dy >> 1 == 0 && dx >> 1 == 0 { continue }
                let src = UnsafePointer(rows + plan.base[2 * (dy & 1) + (dx & 1)] * ld)
                convShiftedPlane(src, height: oh, width: ow, dy: dy >> 1, dx: dx >> 1, rows + (ky * s.kernelW + kx) * ld)
            }
        }
    }
}

/// dst[oy, ox] = src[oy + dy, ox + dx] on an OH x OW plane, zero where that lies outside it.
@inline(__always) func convShiftedPlane(_ src: UnsafePointer<Float>, height oh: Int, width ow: Int, dy: Int, dx: Int,
                                        _ dst: UnsafeMutablePointer<Float>) {
    let oyRange = convValidRange(outCount: oh, inCount: oh, k: dy, stride: 1, pad: 0)
    let ox = convValidRange(outCount: ow, inCount: ow, k: dx, stride: 1, pad: 0)
    if oyRange.isEmpty || ox.isEmpty { convFill(oh * ow, 0, dst); return }
    if oyRange.lowerBound > 0 { convFill(oyRange.lowerBound * ow, 0, dst) }
    if oyRange.upperBound < oh { convFill((oh - oyRange.upperBound) * ow, 0, dst + oyRange.upperBound * ow) }
    convShiftedCopy(src, count: oh * ow, offset: dy * ow + dx, rows: oyRange, columns: ox, width: ow, dst)
}

/// even[i] = src[2i], odd[i] = src[2i + 1] for i < n (either may be nil), in overlapping
/// vectors that read only src[0 ..< 2n].
@inline(__always) func convDeinterleaveRow(_ src: UnsafePointer<Float>, _ n: Int, even: UnsafeMutablePointer<Float>?,
                                           odd: UnsafeMutablePointer<Float>?) {
    @inline(__always) func eight(_ i: Int) {
        let (e, o) = deinterleave(convLoad16(src + 2 * i))
        if let even { UnsafeMutableRawPointer(even + i).storeBytes(of: e, as: SIMD8<Float>.self) }
        if let odd { UnsafeMutableRawPointer(odd + i).storeBytes(of: o, as: SIMD8<Float>.self) }
    }
    @inline(__always) func four(_ i: Int) {
        let (e, o) = deinterleave(UnsafeRawPointer(src + 2 * i).loadUnaligned(as: SIMD8<Float>.self))
        if let even { UnsafeMutableRawPointer(even + i).storeBytes(of: e, as: SIMD4<Float>.self) }
        if let odd { UnsafeMutableRawPointer(odd + i).storeBytes(of: o, as: SIMD4<Float>.self) }
    }
    if n >= 8 {
        var i = 0
        while i + 8 <= n { eight(i); i += 8 }
        if i < n { eight(n - 8) }
    } else if n >= 4 {
        four(0); four(n - 4)
    } else {
        for i in 0..<n {
            even?[i] = src[2 * i]
            odd?[i] = src[2 * i + 1]
        }
    }
}
