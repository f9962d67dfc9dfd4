// Column-matrix transforms and small SIMD loops shared by the 2-D convolution kernels.
//
// im2col turns one image's group of channels [cinG, H, W] into the matrix
// col[cinG*kH*kW, OH*OW] (row (c*kH + ky)*kW + kx, column oy*OW + ox), zero where the
// window reads padding; col2im adds such a matrix back into an image (the adjoint).
// For stride 1 every row of a column-matrix row is a contiguous run of an input row.

import VectorShuffles

/// Unaligned 16-float load / store.
@inline(__always) func convLoad16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}
@inline(__always) func convStore16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// y[0..<n] += x[0..<n]
@inline(__always) func convAdd(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 16 <= n { convStore16(convLoad16(y + i) + convLoad16(x + i), y + i); i += 16 }
    while i < n { y[i] += x[i]; i += 1 }
}

/// y[0..<n] += a * x[0..<n]  (the same rounding in the SIMD body and the tail: multiply, then add)
@inline(__always) func convAxpy(_ n: Int, _ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let av = SIMD16<Float>(repeating: a)
    var i = 0
    while i + 16 <= n { convStore16(convLoad16(y + i) + av * convLoad16(x + i), y + i); i += 16 }
    while i < n { y[i] = y[i] + a * x[i]; i += 1 }
}

/// Sum of x[0..<n] in a fixed order (16 lane partial sums, then the tail).
@inline(__always) func convSum(_ n: Int, _ x: UnsafePointer<Float>) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= n { acc += convLoad16(x + i); i += 16 }
    var s = simdSum(acc)
    while i < n { s += x[i]; i += 1 }
    return s
}

/// Dot product of x[0..<n] and y[0..<n] in a fixed order.
@inline(__always) func convDot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= n { acc.addProduct(convLoad16(x + i), convLoad16(y + i)); i += 16 }
    var s = simdSum(acc)
    while i < n { s += x[i] * y[i]; i += 1 }
    return s
}

/// Fills dst[0..<n] with v.
@inline(__always) func convFill(_ n: Int, _ v: Float, _ dst: UnsafeMutablePointer<Float>) {
    let vv = SIMD16<Float>(repeating: v)
    var i = 0
    while i + 16 <= n { convStore16(vv, dst + i); i += 16 }
    while i < n { dst[i] = v; i += 1 }
}

/// Zeroes d[0..<n] for the one or two padding columns of a row without a memset call.
@inline(__always) func convZeroFew(_ n: Int, _ d: UnsafeMutablePointer<Float>) {
    if n >= 1 { d[0] = 0 }
    if n >= 2 { d[1] = 0 }
    if n > 2 { convFill(n - 2, 0, d + 2) }
}

/// Copies src[0..<n] to dst (short rows: an inline loop beats a memmove call).
@inline(__always) func convCopy(_ n: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 16 <= n { convStore16(convLoad16(src + i), dst + i); i += 16 }
    while i < n { dst[i] = src[i]; i += 1 }
}

/// Output positions o in 0..<outCount whose input index o*stride + k - pad lies in 0..<inCount.
@inline(__always) func convValidRange(outCount: Int, inCount: Int, k: Int, stride: Int, pad: Int) -> Range<Int> {
    // o*stride >= pad - k   and   o*stride <= inCount - 1 + pad - k
    let loNum = pad - k
    let lo = loNum <= 0 ? 0 : (loNum + stride - 1) / stride
    let hiNum = inCount - 1 + pad - k
    let hi = hiNum < 0 ? 0 : min(outCount, hiNum / stride + 1)
    return lo < hi ? lo..<hi : 0..<0
}

/// col[cinG*kH*kW, OH*OW] from x[cinG, H, W] (one image, one group). Rows of col are
/// ld floats apart (ld >= OH*OW: several images' columns side by side).
func convIm2col(_ s: Conv2dShape, _ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, ld: Int = 0) {
    let h = s.height, w = s.width, oh = s.outHeight, ow = s.outWidth, n = oh * ow
    let ld = ld == 0 ? n : ld
    if let plan = ConvParityPlan(s) {
        convIm2colParity(s, plan, x, col, ld: ld)
        return
    }
    let sh = s.strideH, sw = s.strideW, ph = s.padH, pw = s.padW
    let shifted = convColumnRowsShifted(s)
    convForEachColumnRow(s) { row, c, ky, kx, oyRange, ox in
        let xc = x + c * h * w
        let planeEnd = xc + h * w
        let dst = col + row * ld
        if oyRange.isEmpty || ox.isEmpty { convFill(n, 0, dst); return }
        if oyRange.lowerBound > 0 { convFill(oyRange.lowerBound * ow, 0, dst) }
        if oyRange.upperBound < oh { convFill((oh - oyRange.upperBound) * ow, 0, dst + oyRange.upperBound * ow) }
        if shifted {
            convShiftedCopy(xc, count: h * w, offset: (ky - ph) * w + kx - pw, rows: oyRange, columns: ox,
                            width: ow, dst)
            return
        }
        for oy in oyRange {
            let d = dst + oy * ow
            let srow = xc + (oy * sh + ky - ph) * w + kx - pw  // input index of ox = 0 (may be out of row)
            convZeroFew(ox.lowerBound, d)
            convZeroFew(ow - ox.upperBound, d + ox.upperBound)
            if sw == 1 {
                convCopy(ox.count, srow + ox.lowerBound, d + ox.lowerBound)
            } else if sw == 2 {
                convGatherEven(srow, d, ox, planeEnd: planeEnd)
            } else {
                for i in ox { d[i] = srow[i * sw] }
            }
        }
    }
}

/// Stride 1 with ow == w: a column-matrix row is the input plane shifted by a constant.
@inline(__always) func convColumnRowsShifted(_ s: Conv2dShape) -> Bool {
    s.strideH == 1 && s.strideW == 1 && s.outWidth == s.width
}

/// The column-matrix rows (c, ky, kx) of one image and group in order, each with
/// its row index and the output rows and columns whose input lies inside the
/// plane: the walk convIm2col and its adjoint convCol2im share.
@inline(__always)
func convForEachColumnRow(_ s: Conv2dShape,
                          _ body: (_ row: Int, _ c: Int, _ ky: Int, _ kx: Int, _ oy: Range<Int>, _ ox: Range<Int>) -> Void) {
    var row = 0
    for c in 0..<s.inPerGroup {
        for ky in 0..<s.kernelH {
            let oyRange = convValidRange(outCount: s.outHeight, inCount: s.height, k: ky, stride: s.strideH, pad: s.padH)
            for kx in 0..<s.kernelW {
                let ox = convValidRange(outCount: s.outWidth, inCount: s.width, k: kx, stride: s.strideW, pad: s.padW)
                body(row, c, ky, kx, oyRange, ox)
                row += 1
            }
        }
    }
}

/// x[cinG, H, W] += col2im(col): the adjoint of convIm2col (x must hold its prior sum, e.g. zeros).
/// col is scratch: entries that map to padding may be overwritten with zeros. Rows of
/// col are ld floats apart (0: OH*OW).
func convCol2im(_ s: Conv2dShape, _ col: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, ld: Int = 0) {
    let h = s.height, w = s.width, ow = s.outWidth, n = s.outHeight * ow
    let ld = ld == 0 ? n : ld
    let sh = s.strideH, sw = s.strideW, ph = s.padH, pw = s.padW
    let shifted = convColumnRowsShifted(s)
    convForEachColumnRow(s) { row, c, ky, kx, oyRange, ox in
        let xc = x + c * h * w
        let planeEnd = xc + h * w
        let src = col + row * ld
        if ox.isEmpty || oyRange.isEmpty { return }
        if shifted {
            // Zero the padding columns of this (scratch) row, then add it to the
            // plane shifted by a constant in one long run, as in convIm2col.
            for oy in oyRange {
                let d = src + oy * ow
                convZeroFew(ox.lowerBound, d)
                convZeroFew(ow - ox.upperBound, d + ox.upperBound)
            }
            let off = (ky - ph) * w + kx - pw
            let jLo = oyRange.lowerBound * ow, jHi = oyRange.upperBound * ow
            let cLo = max(jLo, -off), cHi = min(jHi, h * w - off)
            if cLo < cHi { convAdd(cHi - cLo, src + cLo, xc + cLo + off) }
            return
        }
        for oy in oyRange {
            let d = src + oy * ow
            let xrow = xc + (oy * sh + ky - ph) * w + kx - pw
            if sw == 1 {
                convAdd(ox.count, d + ox.lowerBound, xrow + ox.lowerBound)
            } else if sw == 2 {
                // Add into the even lanes of 16 floats and store all 16 back (the odd
                // lanes unchanged); the last lane must stay inside the plane.
                var i = ox.lowerBound
                while i + 8 <= ox.upperBound && xrow + 2 * i + 16 <= planeEnd {
                    var v = convLoad16(xrow + 2 * i)
                    v.evenHalf += UnsafeRawPointer(d + i).loadUnaligned(as: SIMD8<Float>.self)
                    convStore16(v, xrow + 2 * i)
                    i += 8
                }
                while i < ox.upperBound { xrow[2 * i] += d[i]; i += 1 }
            } else {
                for i in ox { xrow[i * sw] += d[i] }
            }
        }
    }
}

/// Copies plane x[H, W] into the zero-bordered dst[(H + 2 padH), (W + 2 padW)].
func convPadPlane(_ s: Conv2dShape, _ x: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
    let h = s.height, w = s.width, wp = w + 2 * s.padW
    if s.padH > 0 { convFill(s.padH * wp, 0, dst); convFill(s.padH * wp, 0, dst + (s.padH + h) * wp) }
    for y in 0..<h {
        let d = dst + (y + s.padH) * wp
        for i in 0..<s.padW { d[i] = 0; d[s.padW + w + i] = 0 }
        convCopy(w, x + y * w, d + s.padW)
    }
}

/// d[i] = srow[2i] for i in `range`: even lanes of 16 (or 8) loaded floats, the last
/// vector overlapping the one before (rows of 14 or 7 outputs would otherwise end in
/// up to 7 scalar steps). A load's last lane, one past the last element used, must stay
/// inside the plane; rows whose loads would not go scalar.
@inline(__always) func convGatherEven(_ srow: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>,
                                      _ range: Range<Int>, planeEnd: UnsafePointer<Float>) {
    let lo = range.lowerBound, hi = range.upperBound
    if hi - lo >= 8 && srow + 2 * hi <= planeEnd {
        var i = lo
        while i + 8 <= hi {
            UnsafeMutableRawPointer(d + i).storeBytes(of: evenLanes(convLoad16(srow + 2 * i)), as: SIMD8<Float>.self)
            i += 8
        }
        if i < hi {
            UnsafeMutableRawPointer(d + hi - 8).storeBytes(of: evenLanes(convLoad16(srow + 2 * (hi - 8))),
                                                           as: SIMD8<Float>.self)
        }
    } else if hi - lo >= 4 && srow + 2 * hi <= planeEnd {
        let first = evenLanes(UnsafeRawPointer(srow + 2 * lo).loadUnaligned(as: SIMD8<Float>.self))
        let last = evenLanes(UnsafeRawPointer(srow + 2 * (hi - 4)).loadUnaligned(as: SIMD8<Float>.self))
        UnsafeMutableRawPointer(d + lo).storeBytes(of: first, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(d + hi - 4).storeBytes(of: last, as: SIMD4<Float>.self)
    } else {
        for i in range { d[i] = srow[2 * i] }
    }
}

/// dst[j] = src[j + offset] for the rows `rows` of a plane `width` wide, in one long
/// copy clamped to src[0 ..< count]; what the clamp leaves out lies outside `columns`,
/// which are zeroed next (the rows outside `rows` are the caller's).
@inline(__always) func convShiftedCopy(_ src: UnsafePointer<Float>, count: Int, offset: Int, rows: Range<Int>,
                                       columns: Range<Int>, width: Int, _ dst: UnsafeMutablePointer<Float>) {
    let jLo = rows.lowerBound * width, jHi = rows.upperBound * width
    let cLo = max(jLo, -offset), cHi = min(jHi, count - offset)
    if cLo < cHi { convCopy(cHi - cLo, src + cLo + offset, dst + cLo) }
    for oy in rows {
        let d = dst + oy * width
        convZeroFew(columns.lowerBound, d)
        convZeroFew(width - columns.upperBound, d + columns.upperBound)
    }
}
