// What the two Winograd tilings share (F(2x2, 3x3) in WinogradF2x2.swift, F(4x4, 3x3)
// in WinogradF4x4.swift): per-thread input planes, V and M, output staging; the
// transformed and packed weights; the GEMMs M[xi] = U[xi] V[xi]; the copy of an output
// row out of the staging (+ bias, or the evaluation epilogue); and the driver that runs
// fill, input transform, GEMMs and output transform over groups of images.
//
// A tiling with n x n patches has xiCount = n^2 GEMMs. V[xi] is [k, ld] and M[xi]
// [rows, ld], one column per (virtual) tile of the group's images side by side.

import Foundation

/// A Winograd tiling: its layout of the input planes, its transforms, and the storage they use.
protocol ConvWinogradTiling: AnyObject {
    var store: ConvWinogradStorage { get }
    /// U = G g G^T of one 3x3 kernel g(kh, kw): store(xi, U[xi]) for each of the xiCount values.
    func kernelTransform(_ g: (Int, Int) -> Float, _ store: (Int, Float) -> Void)
    /// Copies `images` x `channels` planes into thread t's input planes; with `levels`
    /// (an inverse quantization step) their integer levels.
    func fill(_ t: Int, from x: UnsafePointer<Float>, images: Int, channels c: Int, levels: Float?)
    /// V[xi][ch][i*tiles + v] for every channel ch < k and image i of thread t's group.
    func transformInput(_ t: Int, images: Int, k: Int)
    /// out[i][r] = A^T M A, then winogradStoreRow, for every row r < rows and image i.
    func transformOutput(_ t: Int, images: Int, rows: Int, levelScale: UnsafePointer<Float>?,
                         bias: UnsafePointer<Float>?, epilogue: ConvEpilogue?, out: UnsafeMutablePointer<Float>)
}

/// Which function of a convolution's weights the packed U holds.
enum ConvWinogradWeights: Equatable {
    case forward, backwardData
}

extension ConvWinogradTiling {
    /// Transforms weights g(r, q, kh, kw) of `rows` x `k` channel pairs (U[xi] [rows, k])
    /// and packs them for the GEMMs. With `source` (the raw [.., .., 3, 3] weights, and
    /// which function of them g is), nothing is redone when the packed U already is that
    /// function of bit-identical weights: evaluation transforms each layer's weights once,
    /// not once per batch. Training changes the weights every step, and the comparison
    /// stops at the first changed float.
    func prepareWeights(rows: Int, k: Int, source: (UnsafePointer<Float>, ConvWinogradWeights)?,
                        _ g: (Int, Int, Int, Int) -> Float) {
        let count = rows * k * 9
        if let (weights, kind) = source, store.packedKind == kind, store.packedRows == rows, store.packedK == k,
           memcmp(weights, store.packedSource, count * MemoryLayout<Float>.size) == 0 {
            return
        }
        let u = store.transformed
        for r in 0..<rows {
            for q in 0..<k {
                kernelTransform({ g(r, q, $0, $1) }) { xi, value in u[(xi * rows + r) * k + q] = value }
            }
        }
        store.packTransformed(rows: rows, k: k)
        store.packedKind = source?.1
        store.packedRows = rows; store.packedK = k
        if let (weights, _) = source { store.packedSource.update(from: weights, count: count) }
    }
}

/// Fewest GEMM columns (tiles) per image group, where one thread's share of the batch
/// has them. With many channels on a small plane the L2 bound alone left a group a few
/// columns: ResNet-18's 512 -> 512 on 4x4 (F(4x4): 2 tiles per image) got 3 images, 6 of
/// a 32-wide tile's columns, and each group streamed the 36 transformed 512x512 weight
/// matrices (38 MB) for them: 10.5 GFLOP/s forward at 2 threads (AMD EPYC Zen 3,
/// batch 64, `gdqr bench conv`). With a floor V and M spill to L3, which the GEMM reads
/// in 32-column panels, and the weights stream once per group. Floors of 32 / 128 / 256
/// columns, three interleaved runs: ResNet-18 inference 82-110 / 106-148 / 105-108
/// images/s (33-37 before), training 19.0-20.0 / 18.1-21.6 / 19.4-21.2 (8.1 before);
/// 256 -> 256 on 8x8 forward 45 -> 124 / 203, 512 -> 512 on 8x8 44 -> 155 / 236. 128
/// costs ResNet-18 training 10% more peak memory than 32 (2.22 vs 2.02 GB).
let convWinogradMinColumns = 128

final class ConvWinogradStorage {
    let xiCount: Int, channels: Int
    /// Virtual tiles per image (GEMM columns), and that rounded up to the transforms' 16-tile chunks.
    let tilesPerImage: Int, tilesChunked: Int
    let imagesPerGroup: Int
    /// Row stride of V and M: enough 32-wide GEMM tiles for a full group.
    let ld: Int
    /// Per thread: input planes, V, M, output staging.
    let planesStride: Int, planes: UnsafeMutablePointer<Float>
    let vStride: Int, v: UnsafeMutablePointer<Float>
    let mStride: Int, m: UnsafeMutablePointer<Float>
    let stagingStride: Int, staging: UnsafeMutablePointer<Float>
    /// Per thread: one MR x NR edge tile for the micro-kernel.
    let tiles: UnsafeMutablePointer<Float>
    /// U[xi] [rows, k] of the current call, and U packed as xiCount A operands of MR-row micro-panels.
    let transformed: UnsafeMutablePointer<Float>
    let packed: UnsafeMutablePointer<Float>
    /// What `packed` was made from: the function, its shape, a copy of the raw weights
    /// (prepareWeights; kind nil: not reusable).
    var packedKind: ConvWinogradWeights?, packedRows = 0, packedK = 0
    let packedSource: UnsafeMutablePointer<Float>

    /// `imagesPerGroup` from ConvWinogradStorage.imagesPerGroup; per thread `planeFloats`
    /// of input planes (the storage adds 128 of slack: a last chunk of 16 tiles reads past
    /// its plane) and `stagingFloats`.
    init(_ s: Conv2dShape, threads: Int, xiCount: Int, tilesPerImage: Int, imagesPerGroup: Int, planeFloats: Int,
         stagingFloats: Int) {
        self.xiCount = xiCount
        channels = max(s.inChannels, s.outChannels)
        self.tilesPerImage = tilesPerImage
        tilesChunked = (tilesPerImage + 15) & ~15
        self.imagesPerGroup = imagesPerGroup
        // The GEMM reads whole 32-column tiles; the transforms touch whole 16-tile chunks.
        ld = max((imagesPerGroup * tilesPerImage + 31) & ~31, (imagesPerGroup - 1) * tilesPerImage + tilesChunked)
        planesStride = planeFloats + 128
        vStride = xiCount * channels * ld
        mStride = xiCount * channels * ld
        stagingStride = stagingFloats
        planes = Self.zeroed(threads * planesStride)
        v = Self.zeroed(threads * vStride)
        m = Self.zeroed(threads * mStride)
        staging = Self.zeroed(threads * stagingStride)
        tiles = Tensor.allocate(threads * gemmMR * gemmNR)
        transformed = Tensor.allocate(xiCount * channels * channels)
        packed = Tensor.allocate(xiCount * ((channels + gemmMR - 1) / gemmMR * gemmMR) * channels)
        packedSource = Tensor.allocate(9 * s.inChannels * s.outChannels)
    }

    deinit {
        planes.deallocate(); v.deallocate(); m.deallocate(); staging.deallocate(); tiles.deallocate()
        transformed.deallocate(); packed.deallocate(); packedSource.deallocate()
    }

    static func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = Tensor.allocate(count)
        p.initialize(repeating: 0, count: max(count, 1))
        return p
    }

    /// Images per group: as many as keep V and M within ~512 KB each (131072 floats: L2
    /// is 512 KB to 1 MB per core), but at least enough for `convWinogradMinColumns` GEMM
    /// columns, and of those the fewest that waste the smallest share of the last 32-wide
    /// GEMM tile (F(2x2) at 14x14: 4 images of 56 tiles fill 7 tiles exactly, 2 would
    /// compute 128 columns for 112). Never more than one thread's share of the batch.
    static func imagesPerGroup(_ s: Conv2dShape, threads: Int, xiCount: Int, tiles: Int) -> Int {
        let channels = max(s.inChannels, s.outChannels), share = max(1, (s.batch + threads - 1) / threads)
        let least = min(share, (convWinogradMinColumns + tiles - 1) / tiles)
        let most = max(least, min(share, 131072 / (xiCount * channels * tiles)))
        var best = least, bestWaste = 1.0
        for g in least...most {
            let waste = Double(((g * tiles + 31) & ~31) - g * tiles) / Double(g * tiles)
            if waste < bestWaste - 1e-9 { best = g; bestWaste = waste }
        }
        return best
    }

    /// Packs U[xi] [rows, k] (transformed) as xiCount GEMM A operands.
    func packTransformed(rows: Int, k: Int) {
        let panels = (rows + gemmMR - 1) / gemmMR * gemmMR * k
        for xi in 0..<xiCount {
            let uxi = UnsafePointer(transformed + xi * rows * k)
            convPackPanels(rows: rows, kdim: k, dst: packed + xi * panels) { r, q in uxi[r * k + q] }
        }
    }

    /// M[xi] [rows, cols] = U[xi] [rows, k] * V[xi] [k, cols] for every xi, thread t.
    func multiply(_ t: Int, images: Int, rows: Int, k: Int) {
        let used = images * tilesPerImage
        let panels = (rows + gemmMR - 1) / gemmMR * gemmMR * k
        let vt = UnsafePointer(v + t * vStride), mt = m + t * mStride, tile = tiles + t * gemmMR * gemmNR
        for xi in 0..<xiCount {
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
}

/// One output row of `w` floats from the staging: with the epilogue, epilogue(src *
/// levelScale?); else src * levelScale, or src (+ bias). `at` is the row's offset in the
/// output (where the epilogue's residual row starts too).
@inline(__always) func winogradStoreRow(_ src: UnsafePointer<Float>, _ w: Int, channel r: Int,
                                        levelScale: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                        epilogue: ConvEpilogue?, out: UnsafeMutablePointer<Float>, at: Int) {
    let dst = out + at
    if let e = epilogue {
        convRowOverlapping(w, ConvEpilogueRowOp(src: src, dst: dst, preScale: levelScale?[r], scale: e.scale[r],
                                                shift: e.shift[r], residual: e.residual.map { $0 + at }, relu: e.relu))
    } else if let ls = levelScale {
        // fma(v, scale, 0): one rounding, as v * scale.
        convRowOverlapping(w, ConvEpilogueRowOp(src: src, dst: dst, scale: ls[r], shift: 0, residual: nil, relu: false))
    } else {
        convRowOverlapping(w, WinogradCopyRowOp(src: src, dst: dst, bias: bias?[r], levels: nil))
    }
}

/// dst = conv(src) over images split over the pool's threads, groups of images at a time;
/// the weights are already prepared (srcChannels = k, dstChannels = rows).
/// With inputLevels and levelScale: the planes hold src's integer levels (src times
/// inputLevels, rounded) and each output row is scaled back by levelScale[row].
func convWinogradRun<T: ConvWinogradTiling>(_ s: Conv2dShape, _ b: T, src: UnsafePointer<Float>, srcChannels: Int,
                                            dstChannels: Int, inputLevels: Float? = nil,
                                            levelScale: UnsafePointer<Float>? = nil, bias: UnsafePointer<Float>?,
                                            epilogue: ConvEpilogue? = nil, dst: UnsafeMutablePointer<Float>,
                                            pool: ThreadPool?) {
    let plane = s.height * s.width
    convChunks(pool, s.batch) { range, t in
        convImageGroups(range, b.store.imagesPerGroup) { n0, count in
            b.fill(t, from: src + n0 * srcChannels * plane, images: count, channels: srcChannels, levels: inputLevels)
            b.transformInput(t, images: count, k: srcChannels)
            b.store.multiply(t, images: count, rows: dstChannels, k: srcChannels)
            let offset = n0 * dstChannels * plane
            b.transformOutput(t, images: count, rows: dstChannels, levelScale: levelScale, bias: bias,
                              epilogue: epilogue?.advanced(by: offset), out: dst + offset)
        }
    }
}

func convWinogradForward<T: ConvWinogradTiling>(_ s: Conv2dShape, input: UnsafePointer<Float>,
                                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                               epilogue: ConvEpilogue? = nil, output: UnsafeMutablePointer<Float>,
                                               buffers b: T, pool: ThreadPool?) {
    let cin = s.inChannels
    b.prepareWeights(rows: s.outChannels, k: cin, source: (weight, .forward)) { co, ci, kh, kw in
        weight[((co * cin + ci) * 3 + kh) * 3 + kw]
    }
    convWinogradRun(s, b, src: input, srcChannels: cin, dstChannels: s.outChannels, bias: bias, epilogue: epilogue,
                    dst: output, pool: pool)
}

/// Backward-data is the forward of gradOutput with W'[ci][co][kh][kw] = W[co][ci][2-kh][2-kw]
/// (the adjoint of a stride-1 "same" convolution): other weights, channel roles swapped.
func convWinogradBackwardData<T: ConvWinogradTiling>(_ s: Conv2dShape, gradOutput: UnsafePointer<Float>,
                                                    weight: UnsafePointer<Float>,
                                                    gradInput: UnsafeMutablePointer<Float>, buffers b: T,
                                                    pool: ThreadPool?) {
    let cin = s.inChannels
    b.prepareWeights(rows: cin, k: s.outChannels, source: (weight, .backwardData)) { ci, co, kh, kw in
        weight[((co * cin + ci) * 3 + 2 - kh) * 3 + 2 - kw]
    }
    convWinogradRun(s, b, src: gradOutput, srcChannels: s.outChannels, dstChannels: cin, bias: nil,
                    dst: gradInput, pool: pool)
}
