// Winograd F(2x2, 3x3) convolution for 3x3, stride-1, pad-1 convolutions (groups 1):
// forward and backward-data (the weight gradient: Conv2dWinogradWeights.swift). Each 2x2 block of outputs (a "tile") costs 16
// multiply-adds per channel pair instead of 36, so the GEMMs do 2.25x fewer
// multiply-adds than the direct (implicit-GEMM or im2col) convolution.
//
//   U[xi] = G g G^T          the 3x3 kernel of (output, input) channel pair, 4x4 (xi = 4i + j)
//   V[xi] = B^T d B          the 4x4 patch d of the zero-bordered input under a tile
//   M[xi] = U[xi] * V[xi]    16 GEMMs: [rows, k] x [k, tiles], k the input channels
//   Y     = A^T M A (+ bias) the tile's 2x2 outputs
// (Conv2dWinogradTransforms.swift holds G, B^T, A^T and their vector forms;
// Conv2dWinogradReference.swift the same algorithm written plainly.)
//
// Backward-data is the same convolution of gradOutput with W'[ci][co][kh][kw] =
// W[co][ci][2-kh][2-kw] (the adjoint of a stride-1 "same" convolution), so it only
// packs other weights and swaps the channel roles.
//
// Layout. A channel's zero-bordered plane is stored as two planes of rows, the even
// padded rows then the odd ones, each row `rowStride` = 2*(W/2 + 1) floats:
// [0, x0 .. x(W-1), 0 for even W]. Tile (ty, tx) then starts at float 2*(ty*rowStride/2
// + tx) of both planes, and its four rows are even[ty], odd[ty], even[ty+1], odd[ty+1]:
// consecutive tiles are consecutive pairs of floats, so 16 tiles load as two 32-float
// runs per row, split into even and odd columns. Tiles are numbered over rows of
// rowStride/2 pairs ("virtual" tiles): for even W the last pair of each row is not a
// tile (14% more GEMM columns at 14x14, 7% at 28x28) and its outputs are dropped; for
// odd W the right border column is the next row's left one (zero), and the column
// after it, read as the 4th patch column of the last tile, holds data of the next
// row: it only reaches that tile's second output column, which lies outside the plane
// and is dropped (A^T's first row ignores the 4th column). So 7x7 has 4x4 = 16 tiles
// per image and no waste.
//
// Several images go side by side in one set of GEMMs (a "group", tiles of image i at
// columns i*tiles ..): 7x7 planes have only 16 tiles. Groups are sized so V and M
// stay within L2 and fill whole 32-wide GEMM tiles where they can. Images are split
// over the pool's threads as in the other paths; each thread has its own planes, V,
// M and staging buffers.
//
// Determinism: every GEMM column is one tile, and each output is one fixed-order sum
// over the channels (the micro-kernel's k order) followed by fixed transforms, so the
// results do not depend on the grouping or on the thread count (1 and 2 threads are
// bit-identical), and they equal the scalar reference exactly.
//
// Garbage: columns of V past the last tile of an image (the last 16-tile chunk, the
// 32-wide GEMM tiles) are computed from finite buffer contents (the buffers are
// zeroed when allocated) and never reach an output.

extension Conv2dShape {
    /// 3x3, stride 1, padding 1, groups 1, with enough channels for Winograd to pay.
    ///
    /// Measured on ResNet-20's shapes, batch 128, 1 thread, ms per call against the direct
    /// path (implicit GEMM at 28 and 14, im2col at 7), alternating runs on a loaded machine:
    /// 16->16 28x28 forward 3.94-4.25 vs 5.30-5.40, backward-data 3.89-4.36 vs 5.33-5.38;
    /// 32->32 14x14 3.01-3.07 vs 5.05-5.08, 3.02-3.04 vs 5.10-5.20; 64->64 7x7 3.28-3.33
    /// vs 6.20-6.23, 3.27-3.28 vs 6.16-6.22. The stem (1 -> 16 at 28x28) loses forward
    /// (1.05 vs 0.56: with one input channel the transforms cost more than the GEMM
    /// saves) and its backward-data, 2.0 vs 2.5, never runs (a first layer computes no
    /// input gradient), so it stays direct. The bound of 8 channels lies between the
    /// measured 1 and 16; ResNet-20 has nothing in between to measure.
    ///
    /// Planes larger than 32x32 keep the direct path: V and M hold 8 floats per output
    /// and channel for a whole image (a group is at least one image), several MB per
    /// thread and far beyond L2 at the scene models' sizes, which are not measured.
    var usesWinograd: Bool {
        groups == 1 && kernelH == 3 && kernelW == 3 && strideH == 1 && strideW == 1 && padH == 1 && padW == 1
            && inChannels >= convWinogradMinChannels && outChannels >= convWinogradMinChannels
            && height <= convWinogradMaxSide && width <= convWinogradMaxSide
    }
}

/// Fewest input and output channels that take the Winograd path (the stem, 1 -> 16, does not).
let convWinogradMinChannels = 8
/// Largest plane height and width that take the Winograd path (CIFAR's 32x32 and smaller).
let convWinogradMaxSide = 32

/// Buffers of the Winograd path, part of a Conv2dWorkspace (sized for max(Cin, Cout)
/// channels, so that forward and backward-data share them).
final class ConvWinogradBuffers {
    let height: Int, width: Int, channels: Int
    /// Tile rows: ceil(H/2).
    let tileRows: Int
    /// Floats per row of the even and odd row planes: 2 * (W/2 + 1).
    let rowStride: Int
    /// Where a block's odd-row plane starts: (tileRows + 1) rows of even padded rows before it.
    let oddOffset: Int
    /// Floats per channel block (even and odd planes), rounded to 16.
    let blockStride: Int
    /// Virtual tiles per image (tileRows * rowStride/2) and that rounded up to 16.
    let tilesPerImage: Int, tilesChunked: Int
    let imagesPerGroup: Int
    /// Row stride of V and M: enough 32-wide GEMM tiles for a full group.
    let ld: Int
    let planesStride: Int, planes: UnsafeMutablePointer<Float>
    let vStride: Int, v: UnsafeMutablePointer<Float>
    let mStride: Int, m: UnsafeMutablePointer<Float>
    /// Per thread: the output transform's rows (even output rows, then odd), before the copy-out.
    let stagingStride: Int, staging: UnsafeMutablePointer<Float>
    /// Per thread: one MR x NR edge tile for the micro-kernel.
    let tiles: UnsafeMutablePointer<Float>
    /// U[xi] [rows, k] of the current call, and U packed as 16 A operands of MR-row micro-panels.
    let transformed: UnsafeMutablePointer<Float>
    let packed: UnsafeMutablePointer<Float>
    /// Per output channel: input step x weight step of a forward on integer levels.
    let levelScales: UnsafeMutablePointer<Float>
    /// Per thread: the weight gradient's dU[xi] [Cout, Cin] (Conv2dWinogradWeights.swift).
    let gradUStride: Int, gradU: UnsafeMutablePointer<Float>

    init(_ s: Conv2dShape, threads: Int) {
        height = s.height; width = s.width
        channels = max(s.inChannels, s.outChannels)
        tileRows = (s.height + 1) / 2
        rowStride = 2 * (s.width / 2 + 1)
        oddOffset = (tileRows + 1) * rowStride
        blockStride = (2 * oddOffset + 15) & ~15
        tilesPerImage = tileRows * rowStride / 2
        tilesChunked = (tilesPerImage + 15) & ~15
        imagesPerGroup = Self.imagesPerGroup(s, channels: channels, tiles: tilesPerImage)
        // The GEMM reads whole 32-column tiles; the transforms touch whole 16-tile chunks.
        ld = max((imagesPerGroup * tilesPerImage + 31) & ~31,
                 (imagesPerGroup - 1) * tilesPerImage + tilesChunked)
        // The last chunk of 16 tiles reads up to ~64 floats past its block.
        planesStride = imagesPerGroup * channels * blockStride + 128
        vStride = 16 * channels * ld
        mStride = 16 * channels * ld
        stagingStride = 2 * (tileRows * rowStride + 32)
        planes = Self.zeroed(threads * planesStride)
        v = Self.zeroed(threads * vStride)
        m = Self.zeroed(threads * mStride)
        staging = Tensor.allocate(threads * stagingStride)
        tiles = Tensor.allocate(threads * gemmMR * gemmNR)
        transformed = Tensor.allocate(16 * channels * channels)
        packed = Tensor.allocate(16 * ((channels + gemmMR - 1) / gemmMR * gemmMR) * channels)
        levelScales = Tensor.allocate(s.outChannels)
        gradUStride = 16 * s.inChannels * s.outChannels
        gradU = Tensor.allocate(threads * gradUStride)
    }

    deinit {
        planes.deallocate(); v.deallocate(); m.deallocate(); staging.deallocate(); tiles.deallocate()
        transformed.deallocate(); packed.deallocate(); gradU.deallocate(); levelScales.deallocate()
    }

    static func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = Tensor.allocate(count)
        p.initialize(repeating: 0, count: max(count, 1))
        return p
    }

    /// Images per group: as many as keep V and M within ~512 KB each (8192 floats per
    /// channel: L2 is 1 MB per core here), and of those the fewest that waste the
    /// smallest share of the last 32-wide GEMM tile (14x14: 4 images of 56 tiles fill
    /// 7 tiles exactly, 2 would compute 128 columns for 112).
    static func imagesPerGroup(_ s: Conv2dShape, channels: Int, tiles: Int) -> Int {
        let most = max(1, min(s.batch, 8192 / (channels * tiles)))
        var best = 1, bestWaste = 1.0
        for g in 1...most {
            let waste = Double(((g * tiles + 31) & ~31) - g * tiles) / Double(g * tiles)
            if waste < bestWaste - 1e-9 { best = g; bestWaste = waste }
        }
        return best
    }

    /// Transforms weights g(r, q, kh, kw) of `rows` x `k` channel pairs and packs them.
    func packWeights(rows: Int, k: Int, _ g: (Int, Int, Int, Int) -> Float) {
        let u = transformed
        for r in 0..<rows {
            for q in 0..<k {
                winogradKernelTransform({ g(r, q, $0, $1) }) { xi, value in u[(xi * rows + r) * k + q] = value }
            }
        }
        let panels = (rows + gemmMR - 1) / gemmMR * gemmMR * k
        for xi in 0..<16 {
            let uxi = u + xi * rows * k
            convPackPanels(rows: rows, kdim: k, dst: packed + xi * panels) { r, q in uxi[r * k + q] }
        }
    }

    /// Copies `images` x `channels` planes of H x W into the interiors of thread t's row
    /// planes; with `levels`, the inverse of the input's quantization step, their integer
    /// levels instead (Conv2dWinogradLevels.swift).
    func fill(_ t: Int, from x: UnsafePointer<Float>, images: Int, channels c: Int, levels: Float? = nil) {
        let h = height, w = width, base = planes + t * planesStride
        for b in 0..<(images * c) {
            let blk = base + b * blockStride, src = x + b * h * w
            for y in 0..<h {
                let r = y + 1
                convRowOverlapping(w, WinogradCopyRowOp(src: src + y * w,
                                                        dst: blk + (r & 1) * oddOffset + (r >> 1) * rowStride + 1,
                                                        bias: nil, levels: levels))
            }
        }
    }

    /// V[xi][ch][i*tiles + v] for every channel ch < k and image i of thread t's group.
    func transformInput(_ t: Int, images: Int, k: Int) {
        let base = UnsafePointer(planes + t * planesStride), vt = v + t * vStride
        for ch in 0..<k {
            for i in 0..<images {
                let blk = base + (i * k + ch) * blockStride
                let dst = vt + ch * ld + i * tilesPerImage
                var v0 = 0
                while v0 < tilesPerImage {
                    winogradInputTiles16(blk + 2 * v0, rowStride: rowStride, oddOffset: oddOffset,
                                         dst + v0, xiStride: k * ld)
                    v0 += 16
                }
            }
        }
    }

    /// M[xi] [rows, cols] = U[xi] [rows, k] * V[xi] [k, cols] for the 16 xi of thread t.
    func multiply(_ t: Int, images: Int, rows: Int, k: Int) {
        let used = images * tilesPerImage
        let panels = (rows + gemmMR - 1) / gemmMR * gemmMR * k
        let vt = UnsafePointer(v + t * vStride), mt = m + t * mStride, tile = tiles + t * gemmMR * gemmNR
        for xi in 0..<16 {
            let a = UnsafePointer(packed + xi * panels), b = vt + xi * k * ld, c = mt + xi * rows * ld
            var j0 = 0
            while j0 < used {
                var r0 = 0
                while r0 < rows {
                    gemmKernel8x32(kc: k, a: a + r0 * k, b: b + j0, bStride: ld, c: c + r0 * ld + j0, ldc: ld,
                                   alpha: 1, beta: 0, rows: min(gemmMR, rows - r0), cols: gemmNR, tile: tile)
                    r0 += gemmMR
                }
                j0 += gemmNR
            }
        }
    }

    /// out[i][r] = A^T M A (+ bias[r]), or the epilogue of it, for every row r < rows and
    /// image i of thread t's group (the epilogue's residual starts where out does); with
    /// levelScale, A^T M A * levelScale[r] first (a sum of integer levels scaled back).
    func transformOutput(_ t: Int, images: Int, rows: Int, levelScale: UnsafePointer<Float>? = nil,
                         bias: UnsafePointer<Float>?, epilogue: ConvEpilogue?, out: UnsafeMutablePointer<Float>) {
        let mt = UnsafePointer(m + t * mStride), st = staging + t * stagingStride
        let evenRows = st, oddRows = st + tileRows * rowStride + 32
        let h = height, w = width
        for i in 0..<images {
            for r in 0..<rows {
                let src = mt + r * ld + i * tilesPerImage
                var v0 = 0
                while v0 < tilesPerImage {
                    winogradOutputTiles16(src + v0, xiStride: rows * ld, evenRows + 2 * v0, oddRows + 2 * v0)
                    v0 += 16
                }
                let off = (i * rows + r) * h * w
                let b = bias?[r]
                for y in 0..<h {
                    let src = UnsafePointer(((y & 1) == 0 ? evenRows : oddRows) + (y >> 1) * rowStride)
                    let dst = out + off + y * w
                    if let e = epilogue {
                        convRowOverlapping(w, ConvEpilogueRowOp(src: src, dst: dst, preScale: levelScale?[r],
                                                                scale: e.scale[r], shift: e.shift[r],
                                                                residual: e.residual.map { $0 + off + y * w },
                                                                relu: e.relu))
                    } else if let ls = levelScale {
                        // fma(v, scale, 0): one rounding, as v * scale.
                        convRowOverlapping(w, ConvEpilogueRowOp(src: src, dst: dst, scale: ls[r], shift: 0,
                                                                residual: nil, relu: false))
                    } else {
                        convRowOverlapping(w, WinogradCopyRowOp(src: src, dst: dst, bias: b, levels: nil))
                    }
                }
            }
        }
    }
}

/// dst = src (+ bias), or with `levels` (an inverse quantization step) round(src * levels)
/// (+ bias).
struct WinogradCopyRowOp: ConvRowOp {
    let src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
    let bias: Float?, levels: Float?

    @inline(__always) func vector<V: ConvFloatVector>(_: V.Type, at i: Int) {
        var v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
        if let levels { v = v.levels(levels) }
        if let bias { v += V(repeating: bias) }
        UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: V.self)
    }

    @inline(__always) func scalar(at i: Int) {
        let v = levels.map { (src[i] * $0).rounded(.toNearestOrEven) } ?? src[i]
        dst[i] = bias.map { v + $0 } ?? v
    }
}

/// dst = conv(src) over images split over the pool's threads, groups of images at a time;
/// the weights are already packed (srcChannels = k, dstChannels = rows).
/// With inputLevels and levelScale: the planes hold src's integer levels (src times
/// inputLevels, rounded) and each output row is scaled back by levelScale[row].
func convWinogradRun(_ s: Conv2dShape, _ b: ConvWinogradBuffers, src: UnsafePointer<Float>, srcChannels: Int,
                     dstChannels: Int, inputLevels: Float? = nil, levelScale: UnsafePointer<Float>? = nil,
                     bias: UnsafePointer<Float>?, epilogue: ConvEpilogue? = nil,
                     dst: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
    let plane = s.height * s.width
    convChunks(pool, s.batch) { range, t in
        convImageGroups(range, b.imagesPerGroup) { n0, count in
            b.fill(t, from: src + n0 * srcChannels * plane, images: count, channels: srcChannels, levels: inputLevels)
            b.transformInput(t, images: count, k: srcChannels)
            b.multiply(t, images: count, rows: dstChannels, k: srcChannels)
            let offset = n0 * dstChannels * plane
            b.transformOutput(t, images: count, rows: dstChannels, levelScale: levelScale, bias: bias,
                              epilogue: epilogue?.advanced(by: offset), out: dst + offset)
        }
    }
}

func convWinogradForward(_ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, epilogue: ConvEpilogue? = nil, output: UnsafeMutablePointer<Float>,
                         buffers b: ConvWinogradBuffers, pool: ThreadPool?) {
    let cin = s.inChannels
    b.packWeights(rows: s.outChannels, k: cin) { co, ci, kh, kw in weight[((co * cin + ci) * 3 + kh) * 3 + kw] }
    convWinogradRun(s, b, src: input, srcChannels: cin, dstChannels: s.outChannels, bias: bias, epilogue: epilogue,
                    dst: output, pool: pool)
}

func convWinogradBackwardData(_ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              gradInput: UnsafeMutablePointer<Float>, buffers b: ConvWinogradBuffers,
                              pool: ThreadPool?) {
    let cin = s.inChannels
    // W'[ci][co][kh][kw] = W[co][ci][2-kh][2-kw]
    b.packWeights(rows: cin, k: s.outChannels) { ci, co, kh, kw in
        weight[((co * cin + ci) * 3 + 2 - kh) * 3 + 2 - kw]
    }
    convWinogradRun(s, b, src: gradOutput, srcChannels: s.outChannels, dstChannels: cin, bias: nil,
                    dst: gradInput, pool: pool)
}
