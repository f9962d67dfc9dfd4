// 2-D convolution, NCHW Float32: forward, backward-data, backward-weights.
//
// Weights are [Cout, Cin/groups, kH, kW] (PyTorch layout), bias [Cout]. Every
// kernel overwrites its output (output, gradInput, gradWeight, gradBias).
//
// General path: per image and group, im2col into a per-thread column buffer and
// one GEMM (single-threaded, pool nil) per image, images split over the pool's
// threads. A 1x1 stride-1 unpadded convolution skips im2col (the image already
// is the column matrix). Depthwise convolutions (groups == Cin == Cout) use
// direct SIMD loops (Depthwise.swift). 3x3 stride-1 "same" convolutions run
// forward and backward-data as Winograd F(4x4, 3x3) (WinogradF4x4.swift), their
// forward on integer levels and their weight gradient as F(2x2, 3x3). When
// the batch is smaller than the thread count, images run one after another and the
// pool goes to the GEMM.
//
// Determinism: for a given shape and thread count the arithmetic order is
// fixed. gradWeight / gradBias are per-thread partial sums over each thread's
// contiguous chunk of images, added in thread order.

public struct Conv2dShape: Hashable, CustomStringConvertible, Sendable {
    public var batch: Int
    public var inChannels: Int
    public var height: Int
    public var width: Int
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var padH: Int
    public var padW: Int
    public var groups: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
                padH: Int = 0, padW: Int = 0, groups: Int = 1) {
        self.batch = batch; self.inChannels = inChannels; self.height = height; self.width = width
        self.outChannels = outChannels; self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW; self.padH = padH; self.padW = padW
        self.groups = groups
    }

    /// Square kernel, stride and padding.
    public init(batch: Int, inChannels: Int, outChannels: Int, size: Int, kernel: Int,
                stride: Int = 1, pad: Int = 0, groups: Int = 1) {
        self.init(batch: batch, inChannels: inChannels, height: size, width: size, outChannels: outChannels,
                  kernelH: kernel, kernelW: kernel, strideH: stride, strideW: stride,
                  padH: pad, padW: pad, groups: groups)
    }

    public var outHeight: Int { (height + 2 * padH - kernelH) / strideH + 1 }
    public var outWidth: Int { (width + 2 * padW - kernelW) / strideW + 1 }
    public var inPerGroup: Int { inChannels / groups }
    public var outPerGroup: Int { outChannels / groups }
    /// Rows of the column matrix (the GEMM's k in forward): Cin/groups * kH * kW.
    public var colRows: Int { inPerGroup * kernelH * kernelW }
    /// Columns of the column matrix: OH * OW.
    public var colCols: Int { outHeight * outWidth }
    public var inputCount: Int { batch * inChannels * height * width }
    public var outputCount: Int { batch * outChannels * outHeight * outWidth }
    public var weightCount: Int { outChannels * colRows }
    /// Multiply-adds times two of one pass (forward, backward-data and backward-weights alike).
    public var flops: Double { 2 * Double(batch) * Double(outChannels) * Double(colCols) * Double(colRows) }
    /// 1x1, stride 1, no padding: the input image is its own column matrix.
    public var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
    }
    /// One input and one output channel per group.
    public var isDepthwise: Bool { groups > 1 && groups == inChannels && groups == outChannels }

    public var description: String {
        "n\(batch) \(inChannels)->\(outChannels) \(height)x\(width) k\(kernelH)x\(kernelW)"
            + " s\(strideH)x\(strideW) p\(padH)x\(padW)" + (groups > 1 ? " g\(groups)" : "")
    }

    public func validate() {
        precondition(batch >= 0 && inChannels >= 1 && outChannels >= 1 && height >= 1 && width >= 1,
                     "Conv2dShape: bad sizes \(self)")
        precondition(kernelH >= 1 && kernelW >= 1 && strideH >= 1 && strideW >= 1 && padH >= 0 && padW >= 0,
                     "Conv2dShape: bad kernel/stride/padding \(self)")
        precondition(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2dShape: groups must divide both channel counts \(self)")
        precondition(height + 2 * padH >= kernelH && width + 2 * padW >= kernelW,
                     "Conv2dShape: kernel larger than the padded input \(self)")
    }
}

/// Scratch memory for one convolution shape and thread count: sized once, reused every call.
public final class Conv2dWorkspace {
    public let shape: Conv2dShape
    public let threads: Int
    /// Images whose column matrices sit side by side in one GEMM (n = images * OH*OW):
    /// small output planes (14x14, 7x7) would otherwise leave most 32-wide tiles part-empty.
    let imagesPerGemm: Int
    let colStride: Int
    let col: UnsafeMutablePointer<Float>
    /// Per thread: the output (forward) or gathered gradOutput (backward) of a
    /// multi-image GEMM, [Cout, images * OH*OW]. Empty when imagesPerGemm == 1.
    let ybufStride: Int
    let ybuf: UnsafeMutablePointer<Float>
    let weightStride: Int
    let weightPartials: UnsafeMutablePointer<Float>
    let biasStride: Int
    let biasPartials: UnsafeMutablePointer<Float>
    /// Padded planes and offset tables of the implicit-GEMM path (nil: im2col path).
    let implicit: ConvImplicitBuffers?
    /// Buffers of the Winograd paths (nil: not a Winograd shape), made on first use: F(4x4,
    /// 3x3) for the float forward and backward-data; F(2x2, 3x3) for the forward on
    /// integer levels and the weight gradient (evaluation never needs it).
    private(set) lazy var winograd4: ConvWinograd4Buffers? = shape.usesWinograd
        ? ConvWinograd4Buffers(shape, threads: threads) : nil
    private(set) lazy var winograd: ConvWinogradBuffers? = shape.usesWinograd
        ? ConvWinogradBuffers(shape, threads: threads) : nil

    public init(shape s: Conv2dShape, threads: Int) {
        s.validate()
        precondition(threads >= 1, "Conv2dWorkspace: threads must be >= 1")
        shape = s
        self.threads = threads
        implicit = s.usesImplicitGemm ? ConvImplicitBuffers(s, threads: threads) : nil
        let need = s.isDepthwise ? convDepthwiseBufferFloats(s)
            : (s.isPointwise || implicit != nil ? 0 : s.colRows * s.colCols)
        imagesPerGemm = convImagesPerGemm(s)
        colStride = (imagesPerGemm * need + 15) & ~15
        col = Tensor.allocate(threads * colStride)
        ybufStride = imagesPerGemm > 1 ? (s.outChannels * imagesPerGemm * s.colCols + 15) & ~15 : 0
        ybuf = Tensor.allocate(threads * ybufStride)
        // Thread 0 sums straight into the caller's gradWeight / gradBias.
        weightStride = s.isDepthwise ? 0 : (s.weightCount + 15) & ~15
        weightPartials = Tensor.allocate((threads - 1) * weightStride)
        biasStride = s.isDepthwise ? 0 : (s.outChannels + 15) & ~15
        biasPartials = Tensor.allocate((threads - 1) * biasStride)
    }

    deinit {
        col.deallocate(); ybuf.deallocate(); weightPartials.deallocate(); biasPartials.deallocate()
    }

    @inline(__always) func col(_ t: Int) -> UnsafeMutablePointer<Float> { col + t * colStride }
    /// Where thread t sums its images' bias gradient: gradBias itself for thread 0.
    @inline(__always) func biasGradient(_ t: Int, _ gradBias: UnsafeMutablePointer<Float>?) -> UnsafeMutablePointer<Float>? {
        gradBias.map { t == 0 ? $0 : biasPartials + (t - 1) * biasStride }
    }
    /// gradBias += the partial sums of threads 1..<used, in thread order.
    func addBiasPartials(threads used: Int, channels: Int, into gradBias: UnsafeMutablePointer<Float>) {
        for t in 1..<max(used, 1) { convAdd(channels, biasPartials + (t - 1) * biasStride, gradBias) }
    }
    @inline(__always) func ybuf(_ t: Int) -> UnsafeMutablePointer<Float> { ybuf + t * ybufStride }

    /// Buffers do not depend on the batch, so a workspace serves any batch up to
    /// the one it was sized for (an evaluation's smaller last batch, say).
    func check(_ s: Conv2dShape, _ pool: ThreadPool?) {
        var sameBatch = s
        sameBatch.batch = shape.batch
        precondition(sameBatch == shape && s.batch <= shape.batch,
                     "Conv2dWorkspace: sized for \(shape), used for \(s)")
        precondition((pool?.threads ?? 1) <= threads,
                     "Conv2dWorkspace: sized for \(threads) threads, pool has \(pool!.threads)")
    }
}

/// Largest column block of a multi-image GEMM, in floats (keeps it within L2).
let convMultiColFloats = 256 * 1024

/// Images per GEMM for a shape: 1 for large planes, pointwise, grouped and depthwise convolutions.
/// (Pointwise on small planes side by side measured slower: MobileNetV2's 384 -> 64 on 8x8
/// forward 85 -> 65 GFLOP/s at 2 threads, Zen 3: the copy costs more than the wider GEMM gains.)
func convImagesPerGemm(_ s: Conv2dShape) -> Int {
    if s.isDepthwise || s.isPointwise || s.groups != 1 || s.colCols >= 512 || s.usesImplicitGemm { return 1 }
    return max(1, min(16, s.batch, convMultiColFloats / (s.colRows * s.colCols)))
}

/// Splits the image range into balanced runs of at most `per` images and calls body on each.
@inline(__always) func convImageGroups(_ range: Range<Int>, _ per: Int, _ body: (Int, Int) -> Void) {
    let count = range.count
    if count == 0 { return }
    let groups = (count + per - 1) / per
    for i in 0..<groups {
        let r = ThreadPool.chunk(i, of: groups, count: count)
        body(range.lowerBound + r.lowerBound, r.count)
    }
}

/// Runs body over one contiguous chunk of 0..<count per thread (the caller alone without a pool).
@inline(__always) func convChunks(_ pool: ThreadPool?, _ count: Int, _ body: (Range<Int>, Int) -> Void) {
    if let pool, pool.threads > 1 { pool.parallelFor(count, body) } else if count > 0 { body(0..<count, 0) }
}

/// output = conv(input, weight) + bias, or epilogue(conv(input, weight)) (no bias then:
/// an evaluation's batch norm, residual and ReLU; see ConvEpilogue). With `levels` (input
/// and weights on quantization grids, no bias), a Winograd shape sums their integer
/// levels exactly (WinogradF2x2Levels.swift). `winograd: false` keeps the direct sums on a
/// Winograd shape: fake-quantized layers ask for it, because Winograd's rounding (about
/// 10x the direct sum's for F(2x2, 3x3), more for F(4x4, 3x3)) moves values that sit on a quantization step's edge to the other
/// level, and the integer engine, which sums exactly, must see the fake-quant model's levels.
public func conv2dForward(_ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                          workspace: Conv2dWorkspace, pool: ThreadPool? = nil, winograd: Bool = true,
                          levels: ConvLevels? = nil, epilogue: ConvEpilogue? = nil) {
    workspace.check(s, pool)
    precondition(bias == nil || epilogue == nil, "conv2dForward: a bias and an epilogue together are not supported")
    if s.batch == 0 { return }
    let outPlane = s.outHeight * s.outWidth
    let exact = bias == nil && (levels?.isExact(inChannels: s.inChannels) ?? false)
    switch convAlgorithm(s, pass: .forward, winograd: winograd, exactLevels: exact) {
    case .depthwise:
        convDepthwiseForward(s, input: input, weight: weight, bias: bias, output: output, workspace: workspace, pool: pool)
        if let e = epilogue { convApplyEpilogue(e, channels: s.outChannels, plane: outPlane, images: 0, s.batch, output) }
        return
    case .winogradF2x2Levels:
        convWinogradForwardLevels(s, input: input, weight: weight, levels: levels!, epilogue: epilogue, output: output,
                                  buffers: workspace.winograd!, pool: pool)
        return
    case .winogradF4x4:
        convWinogradForward(s, input: input, weight: weight, bias: bias, epilogue: epilogue, output: output,
                            buffers: workspace.winograd4!, pool: pool)
        return
    case .implicitGemm:
        convImplicitForward(s, input: input, weight: weight, bias: bias, epilogue: epilogue, output: output,
                            buffers: workspace.implicit!, pool: pool)
        return
    case .im2col, .winogradF2x2:
        break
    }
    func finish(_ n0: Int, _ count: Int) {
        if let e = epilogue { convApplyEpilogue(e, channels: s.outChannels, plane: outPlane, images: n0, count, output) }
    }
    let threads = pool?.threads ?? 1
    let per = workspace.imagesPerGemm
    if per > 1 && s.batch >= threads {
        convChunks(pool, s.batch) { range, t in
            convImageGroups(range, per) { n0, count in
                convForwardImages(s, n0, count, input, weight, bias, output, workspace.col(t), workspace.ybuf(t))
                finish(n0, count)
            }
        }
    } else if s.batch >= threads {
        convChunks(pool, s.batch) { range, t in
            for n in range {
                convForwardImage(s, n, input, weight, bias, output, workspace.col(t), nil)
                finish(n, 1)
            }
        }
    } else {
        for n in 0..<s.batch { convForwardImage(s, n, input, weight, bias, output, workspace.col(0), pool) }
        finish(0, s.batch)
    }
}

func convForwardImage(_ s: Conv2dShape, _ n: Int, _ input: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                      _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>,
                      _ col: UnsafeMutablePointer<Float>, _ gemmPool: ThreadPool?) {
    let cols = s.colCols, k = s.colRows, coutG = s.outPerGroup
    let x = input + n * s.inChannels * s.height * s.width
    let y = output + n * s.outChannels * cols
    for g in 0..<s.groups {
        let xg = x + g * s.inPerGroup * s.height * s.width
        let yg = y + g * coutG * cols
        let b: UnsafePointer<Float>
        if s.isPointwise { b = xg } else { convIm2col(s, xg, col); b = UnsafePointer(col) }
        var beta: Float = 0
        if let bias {
            for co in 0..<coutG { convFill(cols, bias[g * coutG + co], yg + co * cols) }
            beta = 1
        }
        gemm(transA: false, transB: false, m: coutG, n: cols, k: k, alpha: 1,
             a: weight + g * coutG * k, lda: k, b: b, ldb: cols, beta: beta, c: yg, ldc: cols, pool: gemmPool)
    }
}

/// Forward of images n0..<n0+count (groups == 1) in one GEMM: their column matrices side
/// by side in col [k, count*cols], the product in ybuf [Cout, count*cols], then copied out.
func convForwardImages(_ s: Conv2dShape, _ n0: Int, _ count: Int, _ input: UnsafePointer<Float>,
                       _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                       _ output: UnsafeMutablePointer<Float>, _ col: UnsafeMutablePointer<Float>,
                       _ ybuf: UnsafeMutablePointer<Float>) {
    let cols = s.colCols, k = s.colRows, cout = s.outChannels
    let inImage = s.inChannels * s.height * s.width
    let ld = count * cols
    for i in 0..<count { convIm2col(s, input + (n0 + i) * inImage, col + i * cols, ld: ld) }
    var beta: Float = 0
    if let bias {
        for co in 0..<cout { convFill(ld, bias[co], ybuf + co * ld) }
        beta = 1
    }
    gemm(transA: false, transB: false, m: cout, n: ld, k: k, alpha: 1,
         a: weight, lda: k, b: col, ldb: ld, beta: beta, c: ybuf, ldc: ld, pool: nil)
    for i in 0..<count {
        let y = output + (n0 + i) * cout * cols
        for co in 0..<cout { convCopy(cols, ybuf + co * ld + i * cols, y + co * cols) }
    }
}

/// gradInput = d(sum(output * gradOutput)) / d(input).
public func conv2dBackwardData(_ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               gradInput: UnsafeMutablePointer<Float>, workspace: Conv2dWorkspace,
                               pool: ThreadPool? = nil) {
    workspace.check(s, pool)
    if s.batch == 0 { return }
    switch convAlgorithm(s, pass: .backwardData) {
    case .depthwise:
        convDepthwiseBackwardData(s, gradOutput: gradOutput, weight: weight, gradInput: gradInput,
                                  workspace: workspace, pool: pool)
        return
    case .winogradF4x4:
        convWinogradBackwardData(s, gradOutput: gradOutput, weight: weight, gradInput: gradInput,
                                 buffers: workspace.winograd4!, pool: pool)
        return
    case .implicitGemm:
        convImplicitBackwardData(s, gradOutput: gradOutput, weight: weight, gradInput: gradInput,
                                 buffers: workspace.implicit!, pool: pool)
        return
    case .im2col, .winogradF2x2, .winogradF2x2Levels:
        break
    }
    let threads = pool?.threads ?? 1
    let per = workspace.imagesPerGemm
    if per > 1 && s.batch >= threads {
        convChunks(pool, s.batch) { range, t in
            convImageGroups(range, per) { n0, count in
                convBackwardDataImages(s, n0, count, gradOutput, weight, gradInput, workspace.col(t), workspace.ybuf(t))
            }
        }
    } else if s.batch >= threads {
        convChunks(pool, s.batch) { range, t in
            for n in range { convBackwardDataImage(s, n, gradOutput, weight, gradInput, workspace.col(t), nil) }
        }
    } else {
        for n in 0..<s.batch { convBackwardDataImage(s, n, gradOutput, weight, gradInput, workspace.col(0), pool) }
    }
}

func convBackwardDataImage(_ s: Conv2dShape, _ n: Int, _ gradOutput: UnsafePointer<Float>,
                           _ weight: UnsafePointer<Float>, _ gradInput: UnsafeMutablePointer<Float>,
                           _ col: UnsafeMutablePointer<Float>, _ gemmPool: ThreadPool?) {
    let cols = s.colCols, k = s.colRows, coutG = s.outPerGroup
    let plane = s.height * s.width
    let dy = gradOutput + n * s.outChannels * cols
    let dx = gradInput + n * s.inChannels * plane
    if !s.isPointwise { convFill(s.inChannels * plane, 0, dx) }
    for g in 0..<s.groups {
        let dxg = dx + g * s.inPerGroup * plane
        // col[k, cols] = W_g^T [k, coutG] * dY_g [coutG, cols]
        let c = s.isPointwise ? dxg : col
        gemm(transA: true, transB: false, m: k, n: cols, k: coutG, alpha: 1,
             a: weight + g * coutG * k, lda: k, b: dy + g * coutG * cols, ldb: cols,
             beta: 0, c: c, ldc: cols, pool: gemmPool)
        if !s.isPointwise { convCol2im(s, col, dxg) }
    }
}

/// Gathers gradOutput of images n0..<n0+count into ybuf [Cout, count*cols].
@inline(__always) func convGatherGradOutput(_ s: Conv2dShape, _ n0: Int, _ count: Int,
                                            _ gradOutput: UnsafePointer<Float>, _ ybuf: UnsafeMutablePointer<Float>) {
    let cols = s.colCols, cout = s.outChannels, ld = count * cols
    for i in 0..<count {
        let dy = gradOutput + (n0 + i) * cout * cols
        for co in 0..<cout { convCopy(cols, dy + co * cols, ybuf + co * ld + i * cols) }
    }
}

/// Backward-data of images n0..<n0+count (groups == 1) in one GEMM.
func convBackwardDataImages(_ s: Conv2dShape, _ n0: Int, _ count: Int, _ gradOutput: UnsafePointer<Float>,
                            _ weight: UnsafePointer<Float>, _ gradInput: UnsafeMutablePointer<Float>,
                            _ col: UnsafeMutablePointer<Float>, _ ybuf: UnsafeMutablePointer<Float>) {
    let cols = s.colCols, k = s.colRows, cout = s.outChannels, ld = count * cols
    let inImage = s.inChannels * s.height * s.width
    convGatherGradOutput(s, n0, count, gradOutput, ybuf)
    // col[k, count*cols] = W^T [k, Cout] * dY [Cout, count*cols]
    gemm(transA: true, transB: false, m: k, n: ld, k: cout, alpha: 1,
         a: weight, lda: k, b: ybuf, ldb: ld, beta: 0, c: col, ldc: ld, pool: nil)
    for i in 0..<count {
        let dx = gradInput + (n0 + i) * inImage
        convFill(inImage, 0, dx)
        convCol2im(s, col + i * cols, dx, ld: ld)
    }
}

/// gradWeight = d(sum(output * gradOutput)) / d(weight); gradBias likewise (both overwritten).
public func conv2dBackwardWeights(_ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
                                  workspace: Conv2dWorkspace, pool: ThreadPool? = nil) {
    workspace.check(s, pool)
    if s.batch == 0 {
        convFill(s.weightCount, 0, gradWeight)
        if let gradBias { convFill(s.outChannels, 0, gradBias) }
        return
    }
    switch convAlgorithm(s, pass: .backwardWeights) {
    case .depthwise:
        convDepthwiseBackwardWeights(s, input: input, gradOutput: gradOutput, gradWeight: gradWeight,
                                     gradBias: gradBias, workspace: workspace, pool: pool)
        return
    case .winogradF2x2:
        convWinogradBackwardWeights(s, input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias,
                                    workspace: workspace, buffers: workspace.winograd!, pool: pool)
        return
    case .im2col, .implicitGemm, .winogradF4x4, .winogradF2x2Levels:
        break   // the implicit and im2col weight gradients share the per-thread partials below
    }
    let threads = pool?.threads ?? 1
    if s.batch >= threads {
        convChunks(pool, s.batch) { range, t in
            let dw = t == 0 ? gradWeight : workspace.weightPartials + (t - 1) * workspace.weightStride
            let db = workspace.biasGradient(t, gradBias)
            let per = workspace.imagesPerGemm
            if let implicit = workspace.implicit {
                convImageGroups(range, implicit.imagesPerDot) { n0, count in
                    convImplicitBackwardWeightsImages(s, implicit, t, n0, count, input, gradOutput, dw, db,
                                                      first: n0 == range.lowerBound)
                }
            } else if per > 1 {
                convImageGroups(range, per) { n0, count in
                    convBackwardWeightsImages(s, n0, count, input, gradOutput, dw, db, first: n0 == range.lowerBound,
                                              workspace.col(t), workspace.ybuf(t))
                }
            } else {
                for n in range {
                    convBackwardWeightsImage(s, n, input, gradOutput, dw, db, first: n == range.lowerBound,
                                             workspace.col(t), nil)
                }
            }
        }
        let used = min(threads, s.batch)
        if used > 1 {
            // gradWeight = ((p0 + p1) + p2) + ...: each element summed in thread order.
            convChunks(pool, (s.weightCount + 15) / 16) { range, _ in
                let lo = range.lowerBound * 16, hi = min(s.weightCount, range.upperBound * 16)
                for t in 1..<used {
                    convAdd(hi - lo, workspace.weightPartials + (t - 1) * workspace.weightStride + lo, gradWeight + lo)
                }
            }
            if let gradBias {
                workspace.addBiasPartials(threads: used, channels: s.outChannels, into: gradBias)
            }
        }
    } else if let implicit = workspace.implicit {
        convImageGroups(0..<s.batch, implicit.imagesPerDot) { n0, count in
            convImplicitBackwardWeightsImages(s, implicit, 0, n0, count, input, gradOutput, gradWeight, gradBias,
                                              first: n0 == 0)
        }
    } else {
        for n in 0..<s.batch {
            convBackwardWeightsImage(s, n, input, gradOutput, gradWeight, gradBias, first: n == 0, workspace.col(0), pool)
        }
    }
}

func convBackwardWeightsImage(_ s: Conv2dShape, _ n: Int, _ input: UnsafePointer<Float>,
                              _ gradOutput: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                              _ db: UnsafeMutablePointer<Float>?, first: Bool,
                              _ col: UnsafeMutablePointer<Float>, _ gemmPool: ThreadPool?) {
    let cols = s.colCols, k = s.colRows, coutG = s.outPerGroup
    let x = input + n * s.inChannels * s.height * s.width
    let dy = gradOutput + n * s.outChannels * cols
    for g in 0..<s.groups {
        let xg = x + g * s.inPerGroup * s.height * s.width
        let b: UnsafePointer<Float>
        if s.isPointwise { b = xg } else { convIm2col(s, xg, col); b = UnsafePointer(col) }
        // dW_g [coutG, k] (+)= dY_g [coutG, cols] * col^T [cols, k]
        gemm(transA: false, transB: true, m: coutG, n: k, k: cols, alpha: 1,
             a: dy + g * coutG * cols, lda: cols, b: b, ldb: cols,
             beta: first ? 0 : 1, c: dw + g * coutG * k, ldc: k, pool: gemmPool)
    }
    if let db { convAccumulateBiasGradient(s, n, 1, gradOutput, db, first: first) }
}

/// Backward-weights of images n0..<n0+count (groups == 1) in one GEMM with k = count*cols.
func convBackwardWeightsImages(_ s: Conv2dShape, _ n0: Int, _ count: Int, _ input: UnsafePointer<Float>,
                               _ gradOutput: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                               _ db: UnsafeMutablePointer<Float>?, first: Bool,
                               _ col: UnsafeMutablePointer<Float>, _ ybuf: UnsafeMutablePointer<Float>) {
    let cols = s.colCols, k = s.colRows, cout = s.outChannels, ld = count * cols
    let inImage = s.inChannels * s.height * s.width
    for i in 0..<count { convIm2col(s, input + (n0 + i) * inImage, col + i * cols, ld: ld) }
    convGatherGradOutput(s, n0, count, gradOutput, ybuf)
    // dW [Cout, k] (+)= dY [Cout, count*cols] * col^T [count*cols, k]
    // Many columns of dW (k = 576 at 7x7): the packed blocked GEMM beats the dot-product
    // kernel gemm() would pick for this long inner dimension (measured 6.9 vs 10.7 ms).
    if k >= 512 {
        gemmBlocked(transA: false, transB: true, m0: 0, m1: cout, n0: 0, n1: k, k: ld, alpha: 1,
                    a: ybuf, lda: ld, b: col, ldb: ld, beta: first ? 0 : 1, c: dw, ldc: k)
    } else {
        gemm(transA: false, transB: true, m: cout, n: k, k: ld, alpha: 1,
             a: ybuf, lda: ld, b: col, ldb: ld, beta: first ? 0 : 1, c: dw, ldc: k, pool: nil)
    }
    if let db { convAccumulateBiasGradient(s, n0, count, gradOutput, db, first: first) }
}

/// db (+)= the per-channel sums of gradOutput over images n0..<n0+count, image by image
/// (db overwritten by the first image when `first`).
func convAccumulateBiasGradient(_ s: Conv2dShape, _ n0: Int, _ count: Int, _ gradOutput: UnsafePointer<Float>,
                                _ db: UnsafeMutablePointer<Float>, first: Bool) {
    let cols = s.colCols, cout = s.outChannels
    for i in 0..<count {
        let dy = gradOutput + (n0 + i) * cout * cols
        for co in 0..<cout {
            let v = convSum(cols, dy + co * cols)
            db[co] = first && i == 0 ? v : db[co] + v
        }
    }
}
