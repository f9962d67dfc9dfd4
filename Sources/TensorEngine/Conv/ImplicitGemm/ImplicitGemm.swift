// Implicit-GEMM convolution for stride-1 "same" convolutions: an odd square
// kernel k > 1, padding k/2, groups 1, on planes at least convImplicitMinWidth wide
// (ResNet's 3x3 convolutions at 28x28 and 14x14). Where Winograd applies
// (WinogradF2x2.swift), this path keeps the weight gradient, and the forward of
// fake-quantized layers (conv2dForward's `winograd: false`).
//
// Why: im2col writes every input value k*k times (9 stores per value for 3x3). With
// 16 output channels that is one store per 16-wide FMA of the GEMM that follows, as
// much memory traffic as arithmetic (perf: im2col and col2im were a fifth of a
// training step). Here the image is copied once into zero-bordered planes of
// PH x PW = (H+2p) x (W+2p). On them, row (c, kh, kw) of the column matrix, taken
// over output rows 0..<H at the full padded width PW, is one contiguous run
// starting at c*PH*PW + kh*PW + kw. So the GEMM reads its B rows in place through a
// table of those offsets (GemmOffsetRows), and the "grid" it computes is H x PW:
// the 2p border columns of each output row are computed and dropped (2/30 = 7%
// more multiply-adds at 28x28, 2/16 = 12.5% at 14x14; at 7x7, 2/9 would cost more
// than im2col saves with 64 channels, so small planes keep im2col).
//
// Forward: grid[Cout, H*PW] = W[Cout, Cin*k*k] * B, B row (ci,kh,kw) at
//   pad + ci*PS + kh*PW + kw; the valid columns are copied out, plus bias.
// Backward-data: the stride-1 "same" convolution's adjoint is the same convolution
//   of the zero-bordered gradOutput with the kernel flipped and its channel axes
//   swapped: W'[ci][(co,kh,kw)] = W[co][ci][k-1-kh][k-1-kw] (packed once per call).
// Backward-weights: dW[co][(ci,kh,kw)] += sum_j dYgrid[co][j] * pad[off(ci,kh,kw) + j],
//   dot products along the grid (GemmDotKernel) with dYgrid the gradient laid on the
//   grid with zeros where there is no output, over several images at once.
//
// Reads past the last plane: a 32-wide tile that ends past the grid reads up to
// 2p + 31 floats beyond the last plane, a weight-gradient dot product up to
// 2p*PW + 2p + 15; the buffer keeps that much zeroed slack. Values read for dropped grid columns never reach a result
// (forward, backward-data) or meet a zero of dYgrid (backward-weights).
//
// Determinism: every output element is one kernel's fixed-order sum over k; weight
// gradients are per-thread partial sums added in thread order (Conv2d.swift).

/// Narrowest plane that takes the implicit path (measured: 14 and 28 gain, 7 loses).
let convImplicitMinWidth = 14

extension Conv2dShape {
    /// Stride-1 "same" convolution with an odd kernel on a plane wide enough for the implicit GEMM.
    var usesImplicitGemm: Bool {
        groups == 1 && strideH == 1 && strideW == 1 && kernelH == kernelW && kernelH > 1 && kernelH % 2 == 1
            && padH == kernelH / 2 && padW == kernelW / 2 && width >= convImplicitMinWidth
    }
}

/// Buffers of the implicit path, part of a Conv2dWorkspace.
final class ConvImplicitBuffers {
    let pw: Int, planeStride: Int, grid: Int, grid16: Int
    /// Images per weight-gradient dot product (convImplicitBackwardWeightsImages).
    let imagesPerDot: Int
    /// Per thread: zero-bordered planes, max(Cin, Cout, Cin * imagesPerDot) of them, plus slack.
    let padStride: Int
    let pad: UnsafeMutablePointer<Float>
    /// Per thread: the grid output [max(Cin, Cout), grid16], or the gradient grid of a group of images.
    let gridStride: Int
    let gridBuf: UnsafeMutablePointer<Float>
    /// Per thread: one MR x NR edge tile for the micro-kernel.
    let tiles: UnsafeMutablePointer<Float>
    /// Row offsets of B: forward and weight gradient (Cin*k*k rows), backward-data (Cout*k*k rows).
    let forwardOffsets: UnsafeMutablePointer<Int>
    let backwardOffsets: UnsafeMutablePointer<Int>
    /// Per thread: row offsets of the interleaved planes of a weight-gradient group.
    let weightOffsets: UnsafeMutablePointer<Int>
    /// The packed A operand of the current call (forward W or backward-data W').
    let packed: UnsafeMutablePointer<Float>

    init(_ s: Conv2dShape, threads: Int) {
        let p = s.padH, k = s.kernelH
        pw = s.width + 2 * p
        planeStride = (s.height + 2 * p) * pw
        grid = s.height * pw
        grid16 = (grid + 15) & ~15
        let channels = max(s.inChannels, s.outChannels)
        // Images per weight-gradient dot product: their planes and gradient grids within ~512 KB.
        imagesPerDot = max(1, min(s.batch, 131_072 / ((s.inChannels + s.outChannels) * planeStride)))
        let slack = 2 * p * pw + 2 * p + gemmNR + 16
        padStride = (max(channels, s.inChannels * imagesPerDot) * planeStride + slack + 15) & ~15
        pad = Tensor.allocate(threads * padStride)
        pad.initialize(repeating: 0, count: threads * padStride)
        gridStride = max(channels * grid16, s.outChannels * ((imagesPerDot * planeStride + 15) & ~15))
        gridBuf = Tensor.allocate(threads * gridStride)
        tiles = Tensor.allocate(threads * gemmMR * gemmNR)
        weightOffsets = UnsafeMutablePointer<Int>.allocate(capacity: threads * s.colRows)
        forwardOffsets = Self.offsets(channels: s.inChannels, k: k, planeStride: planeStride, pw: pw)
        backwardOffsets = Self.offsets(channels: s.outChannels, k: k, planeStride: planeStride, pw: pw)
        let rowsMax = (channels + gemmMR - 1) / gemmMR * gemmMR
        packed = Tensor.allocate(rowsMax * channels * k * k)
    }

    /// offsets[(c*k + kh)*k + kw] = c*PS + kh*PW + kw: where column-matrix row (c, kh, kw) starts.
    static func offsets(channels: Int, k: Int, planeStride: Int, pw: Int) -> UnsafeMutablePointer<Int> {
        let o = UnsafeMutablePointer<Int>.allocate(capacity: channels * k * k)
        var q = 0
        for c in 0..<channels {
            for kh in 0..<k { for kw in 0..<k { o[q] = c * planeStride + kh * pw + kw; q += 1 } }
        }
        return o
    }

    deinit {
        pad.deallocate(); gridBuf.deallocate(); tiles.deallocate()
        forwardOffsets.deallocate(); backwardOffsets.deallocate(); weightOffsets.deallocate(); packed.deallocate()
    }

    @inline(__always) func pad(_ t: Int) -> UnsafeMutablePointer<Float> { pad + t * padStride }
    @inline(__always) func grid(_ t: Int) -> UnsafeMutablePointer<Float> { gridBuf + t * gridStride }

    /// Copies `channels` planes of H x W into the interiors of thread t's bordered planes.
    func fill(_ t: Int, from x: UnsafePointer<Float>, channels: Int, _ s: Conv2dShape) {
        let h = s.height, w = s.width, p = s.padH
        let dst = pad(t)
        for c in 0..<channels {
            let src = x + c * h * w, d = dst + c * planeStride + p * pw + p
            for y in 0..<h { convCopy(w, src + y * w, d + y * pw) }
        }
    }
}

/// Packs A[rows, kdim] into MR-row micro-panels (the micro-kernel's A layout), with
/// A[r][q] = value(r, q) and rows past `rows` zero.
@inline(__always)
func convPackPanels(rows: Int, kdim: Int, dst: UnsafeMutablePointer<Float>, _ value: (Int, Int) -> Float) {
    let mr = gemmMR
    var r0 = 0
    while r0 < rows {
        let panel = dst + r0 * kdim
        for q in 0..<kdim {
            for i in 0..<mr { panel[q * mr + i] = r0 + i < rows ? value(r0 + i, q) : 0 }
        }
        r0 += mr
    }
}

/// grid[rows, H*PW] = packed A [rows, kdim] * B (rows of B at pad + offsets), then
/// out[r][y][x] = grid[r][y*PW + x] (+ bias[r]) for the valid columns.
func convImplicitImage(_ s: Conv2dShape, _ b: ConvImplicitBuffers, _ t: Int, rows: Int, kdim: Int,
                       offsets: UnsafePointer<Int>, bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
    let pad = UnsafePointer(b.pad(t)), grid = b.grid(t), tile = b.tiles + t * gemmMR * gemmNR
    let g = b.grid
    var j0 = 0
    while j0 < g {
        let cols = min(gemmNR, g - j0)
        var r0 = 0
        while r0 < rows {
            gemmKernel8x32(kc: kdim, a: b.packed + r0 * kdim, b: pad + j0, offsets: offsets,
                           c: grid + r0 * g + j0, ldc: g, alpha: 1, beta: 0,
                           rows: min(gemmMR, rows - r0), cols: cols, tile: tile)
            r0 += gemmMR
        }
        j0 += gemmNR
    }
    let h = s.height, w = s.width, pw = b.pw
    for r in 0..<rows {
        let src = grid + r * g, dst = out + r * h * w
        if let bias {
            let bv = SIMD16<Float>(repeating: bias[r]), bs = bias[r]
            for y in 0..<h {
                let sy = src + y * pw, dy = dst + y * w
                var x = 0
                while x + 16 <= w { convStore16(convLoad16(sy + x) + bv, dy + x); x += 16 }
                while x < w { dy[x] = sy[x] + bs; x += 1 }
            }
        } else {
            for y in 0..<h { convCopy(w, src + y * pw, dst + y * w) }
        }
    }
}

func convImplicitForward(_ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, epilogue: ConvEpilogue? = nil, output: UnsafeMutablePointer<Float>,
                         buffers b: ConvImplicitBuffers, pool: ThreadPool?) {
    let kdim = s.colRows
    convPackPanels(rows: s.outChannels, kdim: kdim, dst: b.packed) { r, q in weight[r * kdim + q] }
    let inImage = s.inChannels * s.height * s.width, outImage = s.outChannels * s.height * s.width
    convChunks(pool, s.batch) { range, t in
        for n in range {
            b.fill(t, from: input + n * inImage, channels: s.inChannels, s)
            convImplicitImage(s, b, t, rows: s.outChannels, kdim: kdim, offsets: b.forwardOffsets,
                              bias: bias, out: output + n * outImage)
            if let e = epilogue {
                convApplyEpilogue(e, channels: s.outChannels, plane: s.colCols, images: n, 1, output)
            }
        }
    }
}

func convImplicitBackwardData(_ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              gradInput: UnsafeMutablePointer<Float>, buffers b: ConvImplicitBuffers,
                              pool: ThreadPool?) {
    let k = s.kernelH, kk = k * k, cin = s.inChannels, kdim = s.outChannels * kk
    // W'[ci][(co, kh, kw)] = W[co][ci][k-1-kh][k-1-kw]
    convPackPanels(rows: cin, kdim: kdim, dst: b.packed) { ci, q in
        let co = q / kk, r = q % kk
        return weight[(co * cin + ci) * kk + (kk - 1 - r)]
    }
    let inImage = cin * s.height * s.width, outImage = s.outChannels * s.height * s.width
    convChunks(pool, s.batch) { range, t in
        for n in range {
            b.fill(t, from: gradOutput + n * outImage, channels: s.outChannels, s)
            convImplicitImage(s, b, t, rows: cin, kdim: kdim, offsets: b.backwardOffsets,
                              bias: nil, out: gradInput + n * inImage)
        }
    }
}

/// dw (+)= the weight gradient of images n0..<n0+count (dw overwritten when first), db likewise.
///
/// The images' bordered planes are interleaved, plane (ci, i) at (ci*count + i)*PS, so
/// that row (ci, kh, kw) of B continues from one image into the next: over a grid of
/// count*PS positions (image i's output (y, x) at i*PS + y*PW + x) it starts at
/// ci*count*PS + kh*PW + kw. One dot product per weight then runs over all the
/// images, and its horizontal sum is paid once per group instead of once per image.
/// dYgrid is zero at every position that is not an output (border columns and rows).
func convImplicitBackwardWeightsImages(_ s: Conv2dShape, _ b: ConvImplicitBuffers, _ t: Int, _ n0: Int,
                                       _ count: Int, _ input: UnsafePointer<Float>,
                                       _ gradOutput: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                       _ db: UnsafeMutablePointer<Float>?, first: Bool) {
    let h = s.height, w = s.width, p = s.padH, k = s.kernelH, pw = b.pw, ps = b.planeStride
    let cin = s.inChannels, cout = s.outChannels, plane = h * w
    let pad = b.pad(t), grid = b.grid(t), offsets = b.weightOffsets + t * s.colRows
    let ld = (count * ps + 15) & ~15
    for ci in 0..<cin {
        for i in 0..<count {
            let src = input + ((n0 + i) * cin + ci) * plane, d = pad + (ci * count + i) * ps + p * pw + p
            for y in 0..<h { convCopy(w, src + y * w, d + y * pw) }
        }
        for kh in 0..<k { for kw in 0..<k { offsets[(ci * k + kh) * k + kw] = ci * count * ps + kh * pw + kw } }
    }
    for co in 0..<cout {
        let dst = grid + co * ld
        for i in 0..<count {
            let src = gradOutput + ((n0 + i) * cout + co) * plane, di = dst + i * ps
            for y in 0..<h {
                convCopy(w, src + y * w, di + y * pw)
                convZeroFew(pw - w, di + y * pw + w)
            }
            convFill(ps - h * pw, 0, di + h * pw)
        }
        convFill(ld - count * ps, 0, dst + count * ps)
    }
    // dW [Cout, Cin*k*k] (+)= dYgrid [Cout, ld] * B^T, B^T row q at pad + offsets[q].
    gemmDotABt(m0: 0, m1: cout, n0: 0, n1: s.colRows, k: ld, alpha: 1, a: grid, lda: ld,
               b: UnsafePointer(pad), offsets: offsets, beta: first ? 0 : 1, c: dw, ldc: s.colRows)
    if let db { convAccumulateBiasGradient(s, n0, count, gradOutput, db, first: first) }
}
