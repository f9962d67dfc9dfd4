// Winograd F(2x2, 3x3) convolution for 3x3, stride-1, pad-1 convolutions (groups 1):
// forward and backward-data (the weight gradient: WinogradF2x2WeightGradient.swift). Each 2x2 block of outputs (a "tile") costs 16
// multiply-adds per channel pair instead of 36, so the GEMMs do 2.25x fewer
// multiply-adds than the direct (implicit-GEMM or im2col) convolution.
//
//   U[xi] = G g G^T          the 3x3 kernel of (output, input) channel pair, 4x4 (xi = 4i + j)
//   V[xi] = B^T d B          the 4x4 patch d of the zero-bordered input under a tile
//   M[xi] = U[xi] * V[xi]    16 GEMMs: [rows, k] x [k, tiles], k the input channels
//   Y     = A^T M A (+ bias) the tile's 2x2 outputs
// (WinogradF2x2Transforms.swift holds G, B^T, A^T and their vector forms;
// WinogradReference.swift the same algorithm written plainly.)
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

/// Buffers of the F(2x2, 3x3) path, part of a Conv2dWorkspace (sized for max(Cin, Cout)
/// channels, so that forward and backward-data share them).
final class ConvWinogradBuffers: ConvWinogradTiling {
    let height: Int, width: Int
    /// Tile rows: ceil(H/2).
    let tileRows: Int
    /// Floats per row of the even and odd row planes: 2 * (W/2 + 1).
    let rowStride: Int
    /// Where a block's odd-row plane starts: (tileRows + 1) rows of even padded rows before it.
    let oddOffset: Int
    /// Floats per image and channel block (even and odd planes), rounded to 16.
    let blockStride: Int
    let store: ConvWinogradStorage
    /// Per output channel: input step x weight step of a forward on integer levels.
    let levelScales: UnsafeMutablePointer<Float>
    /// Per thread: the weight gradient's dU[xi] [Cout, Cin] (WinogradF2x2WeightGradient.swift).
    let gradUStride: Int, gradU: UnsafeMutablePointer<Float>

    var tilesPerImage: Int { store.tilesPerImage }
    var ld: Int { store.ld }

    init(_ s: Conv2dShape, threads: Int) {
        height = s.height; width = s.width
        tileRows = (s.height + 1) / 2
        rowStride = 2 * (s.width / 2 + 1)
        oddOffset = (tileRows + 1) * rowStride
        let block = (2 * oddOffset + 15) & ~15, channels = max(s.inChannels, s.outChannels)
        blockStride = block
        // Staging: the output transform's rows (even output rows, then odd) before the copy-out.
        let staging = 2 * (tileRows * rowStride + 32)
        let tiles = tileRows * rowStride / 2
        let images = ConvWinogradStorage.imagesPerGroup(s, threads: threads, xiCount: 16, tiles: tiles)
        store = ConvWinogradStorage(s, threads: threads, xiCount: 16, tilesPerImage: tiles, imagesPerGroup: images,
                                    planeFloats: images * channels * block, stagingFloats: staging)
        levelScales = Tensor.allocate(s.outChannels)
        gradUStride = 16 * s.inChannels * s.outChannels
        gradU = Tensor.allocate(threads * gradUStride)
    }

    deinit {
        gradU.deallocate(); levelScales.deallocate()
    }

    func kernelTransform(_ g: (Int, Int) -> Float, _ store: (Int, Float) -> Void) {
        winogradKernelTransform(g, store)
    }

    /// Copies `images` x `channels` planes of H x W into the interiors of thread t's row
    /// planes; with `levels`, the inverse of the input's quantization step, their integer
    /// levels instead (WinogradF2x2Levels.swift).
    func fill(_ t: Int, from x: UnsafePointer<Float>, images: Int, channels c: Int, levels: Float?) {
        let h = height, w = width, base = store.planes + t * store.planesStride
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

    func transformInput(_ t: Int, images: Int, k: Int) {
        let base = UnsafePointer(store.planes + t * store.planesStride), vt = store.v + t * store.vStride
        let tiles = store.tilesPerImage, ld = store.ld
        for ch in 0..<k {
            for i in 0..<images {
                let blk = base + (i * k + ch) * blockStride
                let dst = vt + ch * ld + i * tiles
                var v0 = 0
                while v0 < tiles {
                    winogradInputTiles16(blk + 2 * v0, rowStride: rowStride, oddOffset: oddOffset,
                                         dst + v0, xiStride: k * ld)
                    v0 += 16
                }
            }
        }
    }

    func transformOutput(_ t: Int, images: Int, rows: Int, levelScale: UnsafePointer<Float>?,
                         bias: UnsafePointer<Float>?, epilogue: ConvEpilogue?, out: UnsafeMutablePointer<Float>) {
        let mt = UnsafePointer(store.m + t * store.mStride), st = store.staging + t * store.stagingStride
        let evenRows = st, oddRows = st + tileRows * rowStride + 32
        let h = height, w = width, tiles = store.tilesPerImage, ld = store.ld
        for i in 0..<images {
            for r in 0..<rows {
                let src = mt + r * ld + i * tiles
                var v0 = 0
                while v0 < tiles {
                    winogradOutputTiles16(src + v0, xiStride: rows * ld, evenRows + 2 * v0, oddRows + 2 * v0)
                    v0 += 16
                }
                let off = (i * rows + r) * h * w
                for y in 0..<h {
                    winogradStoreRow(((y & 1) == 0 ? evenRows : oddRows) + (y >> 1) * rowStride, w, channel: r,
                                     levelScale: levelScale, bias: bias, epilogue: epilogue, out: out, at: off + y * w)
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
