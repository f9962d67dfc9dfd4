// Convolution and batch-norm layers over the engine's kernels.

import TensorEngine

/// A 2-D convolution (no bias by default: batch norm follows it in our models).
public final class Conv2dLayer: Layer {
    public let name: String
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    public let weight: ParamRef
    public let bias: ParamRef?
    public let geometry: Conv2dShape   // batch = maxBatch
    public let position: LayerPosition
    private let workspace: Conv2dWorkspace
    private let out: BatchBuffer
    private let gradIn: BatchBuffer?
    private var input: UnsafePointer<Float>?
    /// Set by a weight quantizer: the weights the convolution actually uses
    /// (fake-quantized), and the hook that turns their gradient into the
    /// gradient of the float weights. Nil in FP32 training.
    public var weightTransform: WeightTransform?

    public init(_ b: ArenaBuilder, name: String, input: FeatureShape, outChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0, groups: Int = 1, bias: Bool = false,
                maxBatch: Int, threads: Int, needsInputGradient: Bool = true,
                policy: QuantizationPolicy? = nil, position: LayerPosition = .middle) {
        self.name = name
        self.position = position
        inputShape = input
        geometry = Conv2dShape(batch: maxBatch, inChannels: input.channels, outChannels: outChannels,
                               size: input.height, kernel: kernel, stride: stride, pad: padding, groups: groups)
        precondition(input.height == input.width, "\(name): square inputs only, got \(input)")
        outputShape = FeatureShape(outChannels, geometry.outHeight, geometry.outWidth)
        let fanOut = outChannels * kernel * kernel / groups
        weight = b.parameter("\(name).weight", shape: [outChannels, input.channels / groups, kernel, kernel],
                             role: .weight, Init.kaimingNormal(fan: fanOut))
        self.bias = bias ? b.parameter("\(name).bias", shape: [outChannels], role: .bias, Init.constant(0)) : nil
        weightTransform = policy?.weightTransform(layer: name, weight: weight, builder: b, position: position)
        workspace = Conv2dWorkspace(shape: geometry, threads: threads)
        out = BatchBuffer(outputShape, maxBatch: maxBatch)
        gradIn = needsInputGradient ? BatchBuffer(input, maxBatch: maxBatch) : nil
        Conv2dLayer.report?("conv \(name) [\(geometry)]: \(algorithms)")
    }

    /// Receives each convolution's algorithms as it is built (the trainer's --verbose).
    nonisolated(unsafe) public static var report: ((String) -> Void)?

    /// The algorithm of each pass (TensorEngine/ConvAlgorithm.swift); a fake-quantized
    /// layer's forward sums levels exactly when its input is on a quantization grid.
    public var algorithms: String {
        let quantized = weightTransform != nil
        var forward = convAlgorithm(geometry, pass: .forward, winograd: !quantized).rawValue
        let levels = convAlgorithm(geometry, pass: .forward, winograd: false, exactLevels: bias == nil)
        if quantized && levels == .winogradF2x2Levels { forward = "\(levels.rawValue) on quantized inputs, else \(forward)" }
        return "forward \(forward), backward-data \(convAlgorithm(geometry, pass: .backwardData).rawValue), "
            + "backward-weights \(convAlgorithm(geometry, pass: .backwardWeights).rawValue)"
    }

    public var macsPerSample: Int { geometry.colRows * geometry.colCols * geometry.outChannels }

    private func shape(_ batch: Int) -> Conv2dShape {
        var s = geometry
        s.batch = batch
        return s
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        forward(x, batch: batch, rt: rt, epilogue: nil)
    }

    /// The forward with an epilogue applied to the output in the same pass: in evaluation,
    /// the following batch norm (and a residual and ReLU), see `BatchNormLayer.fusedForward`.
    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime,
                        epilogue: ConvEpilogue?) -> UnsafeMutablePointer<Float> {
        input = x
        weightTransform?.observeInput(x, batch: batch, layer: self)
        let w = weightTransform?.forward(rt.arena.value(weight), rt: rt) ?? UnsafePointer(rt.arena.value(weight))
        // Fake-quantized weights: the forward sums the integer levels exactly (Winograd on
        // levels) when the input is on a quantization grid too, else it is the direct
        // convolution, in training and in evaluation, so that running statistics and
        // thresholds come from sums the integer engine reproduces (float Winograd's rounding
        // can move a value on a step's edge to the next level). The input gradient may
        // take Winograd either way (backward).
        conv2dForward(shape(batch), input: x, weight: w, bias: bias.map { UnsafePointer(rt.arena.value($0)) },
                      output: out.pointer, workspace: workspace, pool: rt.pool, winograd: weightTransform == nil,
                      levels: weightTransform?.levels(input: x), epilogue: epilogue)
        return out.pointer
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        let s = shape(batch)
        let gw = weightTransform?.gradientBuffer ?? rt.arena.grad(weight)
        conv2dBackwardWeights(s, input: input!, gradOutput: dy, gradWeight: gw,
                              gradBias: bias.map { rt.arena.grad($0) }, workspace: workspace, pool: rt.pool)
        weightTransform?.backward(into: rt.arena.grad(weight), rt: rt)
        guard let gradIn else { return nil }
        let w = weightTransform?.current ?? UnsafePointer(rt.arena.value(weight))
        conv2dBackwardData(s, gradOutput: dy, weight: w, gradInput: gradIn.pointer, workspace: workspace, pool: rt.pool)
        return gradIn.pointer
    }
}

/// What a weight quantizer does for a layer: produce the weights used in forward,
/// and turn the gradient with respect to them into the float weights' gradient.
public protocol WeightTransform: AnyObject {
    /// Computes the transformed weights from the float weights; returns them.
    func forward(_ w: UnsafePointer<Float>, rt: Runtime) -> UnsafePointer<Float>
    /// The transformed weights of the last forward.
    var current: UnsafePointer<Float> { get }
    /// Where the layer writes the gradient with respect to the transformed weights.
    var gradientBuffer: UnsafeMutablePointer<Float> { get }
    /// Writes the float weights' gradient (and the transform's own parameters' gradients).
    func backward(into gradWeight: UnsafeMutablePointer<Float>, rt: Runtime)
    /// Called by the layer at every forward, before `forward`, with the layer and its
    /// input (post-training calibration caches each layer's input through it).
    func observeInput(_ x: UnsafePointer<Float>, batch: Int, layer: Layer)
    /// After `forward`: the grids of the input x and of the transformed weights when both
    /// hold integer levels times a step (the convolution may then sum levels exactly);
    /// nil when either is off a grid (float input, warm-up, bypass).
    func levels(input x: UnsafePointer<Float>) -> ConvLevels?
}

extension WeightTransform {
    public func observeInput(_ x: UnsafePointer<Float>, batch: Int, layer: Layer) {}
    public func levels(input x: UnsafePointer<Float>) -> ConvLevels? { nil }
}

/// Batch normalisation over channels, optionally fused with the ReLU that follows it.
public final class BatchNormLayer: Layer {
    public let name: String
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }
    public let gamma: ParamRef, beta: ParamRef
    public let runningMean: ParamRef, runningVar: ParamRef
    public let fuseReLU: Bool
    public var momentum: Float = 0.1
    public var eps: Float = 1e-5
    private let out: BatchBuffer
    private let gradIn: BatchBuffer
    private let saveMean: UnsafeMutablePointer<Float>
    private let saveInvStd: UnsafeMutablePointer<Float>
    /// Evaluation's per-channel affine (scale, shift), for a fused convolution epilogue.
    private let affine: UnsafeMutablePointer<Float>
    private var input: UnsafePointer<Float>?
    /// SyncBN: per-channel sums exchanged across ranks, and the global count.
    private let scratch: UnsafeMutablePointer<Double>
    private var globalCount = 0.0
    private var synced = false

    public init(_ b: ArenaBuilder, name: String, shape: FeatureShape, fuseReLU: Bool, maxBatch: Int) {
        self.name = name
        inputShape = shape
        self.fuseReLU = fuseReLU
        let c = shape.channels
        gamma = b.parameter("\(name).weight", shape: [c], role: .normScale, Init.constant(1))
        beta = b.parameter("\(name).bias", shape: [c], role: .normShift, Init.constant(0))
        runningMean = b.statistic("\(name).running_mean", shape: [c], initialValue: 0)
        runningVar = b.statistic("\(name).running_var", shape: [c], initialValue: 1)
        out = BatchBuffer(shape, maxBatch: maxBatch)
        gradIn = BatchBuffer(shape, maxBatch: maxBatch)
        saveMean = Tensor.allocate(c)
        saveInvStd = Tensor.allocate(c)
        affine = Tensor.allocate(2 * c)
        scratch = .allocate(capacity: 2 * c + 1)
    }

    deinit { saveMean.deallocate(); saveInvStd.deallocate(); affine.deallocate(); scratch.deallocate() }

    public var macsPerSample: Int { 0 }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        input = x
        let a = rt.arena, s = inputShape
        synced = rt.training && rt.syncBatchNorm != nil
        if rt.training, let reduce = rt.syncBatchNorm {
            batchNorm2dForwardTrainingSync(input: x, output: out.pointer, n: batch, c: s.channels, h: s.height,
                                           w: s.width, gamma: a.value(gamma), beta: a.value(beta),
                                           runningMean: a.stat(runningMean), runningVar: a.stat(runningVar),
                                           saveMean: saveMean, saveInvStd: saveInvStd, globalCount: &globalCount,
                                           scratch: scratch, momentum: momentum, eps: eps, fuseReLU: fuseReLU,
                                           pool: rt.pool, reduce: reduce)
        } else if rt.training {
            batchNorm2dForwardTraining(input: x, output: out.pointer, n: batch, c: s.channels, h: s.height, w: s.width,
                                       gamma: a.value(gamma), beta: a.value(beta),
                                       runningMean: a.stat(runningMean), runningVar: a.stat(runningVar),
                                       saveMean: saveMean, saveInvStd: saveInvStd, momentum: momentum, eps: eps,
                                       fuseReLU: fuseReLU, pool: rt.pool)
        } else {
            batchNorm2dForwardInference(input: x, output: out.pointer, n: batch, c: s.channels, h: s.height, w: s.width,
                                        gamma: a.value(gamma), beta: a.value(beta),
                                        runningMean: a.stat(runningMean), runningVar: a.stat(runningVar),
                                        eps: eps, fuseReLU: fuseReLU, pool: rt.pool)
        }
        return out.pointer
    }

    /// In evaluation, conv followed by this layer as one pass: the convolution applies
    /// the running statistics' affine (then `residual`, then the ReLU, fused or asked for)
    /// as it writes its output, and returns that output; bit for bit what the two layers
    /// (and an add and a ReLU) give one after the other. Nil in training, or when the
    /// convolution has a bias: then call the layers one by one.
    public func fusedForward(after conv: Conv2dLayer, _ x: UnsafePointer<Float>, batch: Int, rt: Runtime,
                             residual: UnsafePointer<Float>? = nil, relu: Bool = false) -> UnsafeMutablePointer<Float>? {
        guard !rt.training, conv.bias == nil, conv.outputShape == inputShape else { return nil }
        let a = rt.arena, c = inputShape.channels
        let gamma = a.value(gamma), beta = a.value(beta), mean = a.stat(runningMean), variance = a.stat(runningVar)
        for ch in 0..<c {
            (affine[ch], affine[c + ch]) = bnInferenceAffine(gamma: gamma[ch], beta: beta[ch], mean: mean[ch],
                                                             variance: variance[ch], eps: eps)
        }
        let e = ConvEpilogue(scale: affine, shift: affine + c, residual: residual, relu: relu || fuseReLU)
        return conv.forward(x, batch: batch, rt: rt, epilogue: e)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        let a = rt.arena, s = inputShape
        if synced, let reduce = rt.syncBatchNorm {
            batchNorm2dBackwardSync(input: input!, gradOutput: dy, gradInput: gradIn.pointer,
                                    n: batch, c: s.channels, h: s.height, w: s.width,
                                    gamma: a.value(gamma), saveMean: saveMean, saveInvStd: saveInvStd,
                                    gradGamma: a.grad(gamma), gradBeta: a.grad(beta), globalCount: globalCount,
                                    scratch: scratch, reluOutput: fuseReLU ? UnsafePointer(out.pointer) : nil,
                                    pool: rt.pool, reduce: reduce)
            return gradIn.pointer
        }
        batchNorm2dBackward(input: input!, gradOutput: dy, gradInput: gradIn.pointer,
                            n: batch, c: s.channels, h: s.height, w: s.width,
                            gamma: a.value(gamma), saveMean: saveMean, saveInvStd: saveInvStd,
                            gradGamma: a.grad(gamma), gradBeta: a.grad(beta),
                            reluOutput: fuseReLU ? UnsafePointer(out.pointer) : nil, pool: rt.pool)
        return gradIn.pointer
    }
}
