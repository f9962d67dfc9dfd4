// Winograd F(4x4, 3x3) for the float forward and backward-data of 3x3, stride-1, pad-1
// convolutions (the shapes of Conv2dShape.usesWinograd). Each 4x4 block of outputs (a
// tile) costs 36 multiply-adds per channel pair instead of 144: 4x fewer than the direct
// convolution, 1.78x fewer than F(2x2, 3x3)'s 16 per 2x2 block. Its transforms have
// larger coefficients (B^T up to 5, A^T up to 8, G's sixths), so it rounds more than
// F(2x2, 3x3) (Conv2dWinogradTests states the bound); the fake-quantized forward on
// integer levels and the weight gradient keep F(2x2, 3x3) (WinogradF2x2Levels.swift,
// WinogradF2x2WeightGradient.swift), whose transforms are exact on integers.
//
// Layout. A channel's zero-bordered plane (padded row r, column c) is split into 16
// phase planes by (r mod 4, c mod 4); phase plane (p, q) holds entry (R, M) = padded
// (4R + p, 4M + q) at R * rowTiles + M. Tile (ty, tx) is numbered v = ty * rowTiles + tx,
// and its patch value (i, j) = padded (4ty + i, 4tx + j) sits at phase (i mod 4, j mod 4),
// index v + (i / 4) * rowTiles + j / 4: 16 consecutive tiles load as one plain vector per
// patch value, and tiles run on across tile rows.
//
// rowTiles is ceil(W/4), plus one when the plane's last tile needs padded column
// 4 * ceil(W/4) as data (W a multiple of 4: 28 or 32). Otherwise that column is zero
// border, and reading the next tile row's first entries instead is harmless: their
// column 0 is zero border too, and their column 1 only reaches the tile's last output
// column (in A^T only the last row has a nonzero last column), which lies outside the
// plane and is dropped. Virtual tiles (tx = ceil(W/4)) are computed and dropped: 56
// GEMM columns for 49 tiles at 28x28, none at 14x14 (4x4 tiles) or 7x7 (2x2).
//
// Rows work the same way, which lets a group's images share one plane per channel:
// when 4 * ceil(H/4) >= H + 1 (7x7, 14x14) the images' tile rows follow each other
// ("stacked"), the next image's first rows standing in for the last tile row's bottom
// border, and the transforms run over all of the group's tiles in 16-tile chunks (7x7
// has only 4 tiles per image). Otherwise (28x28) each image gets one more tile row of
// border and the transforms run image by image.
//
// The output transform writes each tile's output row i as 4 floats into output phase
// plane i, tiles side by side, so an output row is rowTiles * 4 consecutive floats
// there; winogradStoreRow copies it out (+ bias, or the evaluation epilogue).
//
// Determinism as in WinogradF2x2.swift: every GEMM column is one tile and each output
// one fixed-order computation, so results do not depend on grouping or thread count.

import VectorShuffles

final class ConvWinograd4Buffers: ConvWinogradTiling {
    let height: Int, width: Int
    /// Tile rows ceil(H/4); tiles per tile row (see the layout note).
    let tileRows: Int, rowTiles: Int
    /// Whether images' tile rows follow each other in the planes, and the entries per image there.
    let stacked: Bool, imageStride: Int
    /// Floats per phase plane (16 per channel), and per output phase plane in the staging
    /// (after the 80-float input row, and followed by one H x W output plane).
    let phaseStride: Int, outputPhaseStride: Int
    let store: ConvWinogradStorage
    /// Per column phase q: the lanes M whose padded column 4M + q lies inside the row (1 ... W).
    let inRow: (SIMDMask<SIMD16<Int32>>, SIMDMask<SIMD16<Int32>>, SIMDMask<SIMD16<Int32>>, SIMDMask<SIMD16<Int32>>)

    init(_ s: Conv2dShape, threads: Int) {
        precondition(s.width <= convWinogradMaxSide, "ConvWinograd4Buffers: a padded row must fit one 64-float load")
        height = s.height; width = s.width
        let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) &* 4
        func inside(_ q: Int32) -> SIMDMask<SIMD16<Int32>> {
            (lanes &+ q .>= 1) .& (lanes &+ q .<= Int32(s.width))
        }
        inRow = (inside(0), inside(1), inside(2), inside(3))
        tileRows = (s.height + 3) / 4
        let tileCols = (s.width + 3) / 4
        rowTiles = 4 * tileCols >= s.width + 1 ? tileCols : tileCols + 1
        stacked = 4 * tileRows >= s.height + 1
        let perImage = (stacked ? tileRows : tileRows + 1) * rowTiles
        imageStride = perImage
        let tiles = tileRows * rowTiles, channels = max(s.inChannels, s.outChannels)
        let images = ConvWinogradStorage.imagesPerGroup(s, threads: threads, xiCount: 36, tiles: tiles)
        // Reads reach rowTiles + 1 past the last 16-tile chunk, a row's 16-lane store 15 past its row.
        phaseStride = (images * perImage + 32 + 15) & ~15
        outputPhaseStride = 4 * ((images * tiles + 15) & ~15)
        // 16 floats of slack after the phases and the plane: rows are copied in whole vectors.
        store = ConvWinogradStorage(s, threads: threads, xiCount: 36, tilesPerImage: tiles, imagesPerGroup: images,
                                    planeFloats: 16 * phaseStride * channels,
                                    stagingFloats: 80 + 4 * outputPhaseStride + 16 + s.height * s.width + 16)
    }

    func kernelTransform(_ g: (Int, Int) -> Float, _ store: (Int, Float) -> Void) {
        winograd4KernelTransform(g, store)
    }

    /// Splits each row of the `images` x `channels` planes into the 16 phase planes of
    /// thread t. The padded row [0, x0 .. x(W-1), 0 ...] starts one float before the
    /// row, so its four column phases are a de-interleave of the 64 floats from there,
    /// with the lanes outside the row (the border and the next row's data) zeroed. The
    /// first row of all and the last few, whose 64 floats would reach outside the input,
    /// go through a zero-bordered copy in the staging instead. Lanes past rowTiles run
    /// into the phase plane's next rows: they are zero, and those rows are written
    /// later (images and rows go in order) or are zero border.
    func fill(_ t: Int, from x: UnsafePointer<Float>, images: Int, channels c: Int, levels: Float?) {
        precondition(levels == nil, "ConvWinograd4Buffers: F(4x4, 3x3) does not sum integer levels exactly")
        let h = height, w = width, base = store.planes + t * store.planesStride
        let row = store.staging + t * store.stagingStride, total = images * c * h * w
        let zero = WinogradLanes()
        for i in 0..<images {
            for ch in 0..<c {
                let blk = base + ch * 16 * phaseStride + i * imageStride
                for y in 0..<h {
                    let start = ((i * c + ch) * h + y) * w
                    var src = UnsafePointer(row)
                    if start >= 1 && start + 63 <= total {
                        src = x + start - 1
                    } else {
                        convRowOverlapping(w, WinogradCopyRowOp(src: x + start, dst: row + 1, bias: nil, levels: nil))
                    }
                    let lo = UnsafeRawPointer(src).loadUnaligned(as: SIMD32<Float>.self)
                    let hi = UnsafeRawPointer(src + 32).loadUnaligned(as: SIMD32<Float>.self)
                    let (p0, p1, p2, p3) = deinterleave4(lo, hi)
                    let r = y + 1, at = blk + (r & 3) * 4 * phaseStride + (r >> 2) * rowTiles
                    convStore16(zero.replacing(with: p0, where: inRow.0), at)
                    convStore16(zero.replacing(with: p1, where: inRow.1), at + phaseStride)
                    convStore16(zero.replacing(with: p2, where: inRow.2), at + 2 * phaseStride)
                    convStore16(zero.replacing(with: p3, where: inRow.3), at + 3 * phaseStride)
                }
            }
        }
    }

    /// The transforms' runs of consecutive tiles: one over the whole group when stacked,
    /// else one per image; (runs, tiles per run).
    @inline(__always) func runs(_ images: Int) -> (Int, Int) {
        stacked ? (1, images * store.tilesPerImage) : (images, store.tilesPerImage)
    }

    func transformInput(_ t: Int, images: Int, k: Int) {
        let base = UnsafePointer(store.planes + t * store.planesStride), vt = store.v + t * store.vStride
        let tiles = store.tilesPerImage, ld = store.ld, phase = phaseStride, across = rowTiles
        let (runs, runTiles) = runs(images)
        for ch in 0..<k {
            for run in 0..<runs {
                let blk = base + ch * 16 * phase + run * imageStride
                let dst = vt + ch * ld + run * tiles
                var v0 = 0
                while v0 < runTiles {
                    winograd4InputTiles16(blk + v0, phase: phase, across: across, dst + v0, xiStride: k * ld)
                    v0 += 16
                }
            }
        }
    }

    /// Each output plane is first gathered row by row from the phase planes into one
    /// contiguous H x W plane (whole 8- or 16-float copies, each row's overhang
    /// overwritten by the next), then stored with one winogradStoreRow over all of it:
    /// the epilogue then runs on long vectors instead of rows of 7 or 14 floats.
    func transformOutput(_ t: Int, images: Int, rows: Int, levelScale: UnsafePointer<Float>?,
                         bias: UnsafePointer<Float>?, epilogue: ConvEpilogue?, out: UnsafeMutablePointer<Float>) {
        let mt = UnsafePointer(store.m + t * store.mStride), phases = store.staging + t * store.stagingStride + 80
        let h = height, w = width, tiles = store.tilesPerImage, ld = store.ld, phase = outputPhaseStride
        let plane = phases + 4 * phase + 16, rowFloats = 4 * rowTiles
        let (runs, runTiles) = runs(images)
        let perRun = images / runs
        for r in 0..<rows {
            for run in 0..<runs {
                let src = mt + r * ld + run * tiles
                var v0 = 0
                while v0 < runTiles {
                    winograd4OutputTiles16(src + v0, xiStride: rows * ld, phases + 4 * v0, phase: phase)
                    v0 += 16
                }
                for j in 0..<perRun {
                    let first = j * tileRows
                    for y in 0..<h {
                        winograd4CopyRow(phases + (y & 3) * phase + (first + (y >> 2)) * rowFloats, plane + y * w, w)
                    }
                    winogradStoreRow(plane, h * w, channel: r, levelScale: levelScale, bias: bias, epilogue: epilogue,
                                     out: out, at: ((run * perRun + j) * rows + r) * h * w)
                }
            }
        }
    }
}

/// dst[0 ..< n] = src[0 ..< n] in whole 16- and 8-float vectors: up to 7 floats past n
/// are read and written too.
@inline(__always) func winograd4CopyRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 < n {
        convStore16(convLoad16(src + i), dst + i)
        i += 16
    }
    if i < n {
        UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self),
                                                    as: SIMD8<Float>.self)
    }
}
