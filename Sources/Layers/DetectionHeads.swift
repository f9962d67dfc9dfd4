// Dense prediction heads over a backbone's feature maps, with explicit backward.
//
// CenterNetHead: three branches on the last feature map, each a 3x3 conv (bias)
// + ReLU + 1x1 conv (bias): class heatmap logits (`classes` channels), box size
// (2: w, h in cells) and centre offset (2: x, y). The output is their channel
// concatenation [classes + 4, h, w]. The heatmap's final bias starts at
// -log((1 - 0.1) / 0.1), so initial scores are ~0.1 and the focal loss starts
// without a flood of confident false positives.
//
// FCNHead: FCN-16s-style segmentation: 1x1 class scores of the deep map,
// upsampled 2x (bilinear), plus 1x1 class scores of the skip map (an earlier
// stage at twice the resolution), then 2x bilinear steps up to the image size.
//
// Quantization (a policy given): the branches' 3x3 convs are middle layers; the
// prediction convs (the branches' 1x1 convs, the FCN score convs) are last
// layers (last-layer bits, 8 by default) with float output, and the ReLU output
// feeding a branch's 1x1 conv gets an activation quantizer "<branch>.act" that
// feeds a last layer. The FCN score convs read the backbone's quantized block
// outputs. Upsampling and the score sum stay in float.

import Foundation
import TensorEngine

/// conv3x3 + ReLU (+ activation quantizer) + conv1x1, both convs with bias.
public final class HeadBranch {
    public let hidden: Conv2dLayer
    public let out: Conv2dLayer
    /// The quantizer of the ReLU output (nil in float).
    public let actQuantizer: Layer?
    let act: BatchBuffer
    let gradAct: BatchBuffer

    init(_ b: ArenaBuilder, name: String, input: FeatureShape, hiddenChannels: Int, outChannels: Int,
         maxBatch: Int, threads: Int, needsInputGradient: Bool, policy: QuantizationPolicy?) {
        hidden = Conv2dLayer(b, name: "\(name).0", input: input, outChannels: hiddenChannels, kernel: 3, padding: 1,
                             bias: true, maxBatch: maxBatch, threads: threads, needsInputGradient: needsInputGradient,
                             policy: policy, position: .middle)
        actQuantizer = policy?.activationQuantizer(name: "\(name).act", shape: hidden.outputShape, maxBatch: maxBatch,
                                                   builder: b, feeds: .last)
        out = Conv2dLayer(b, name: "\(name).2", input: hidden.outputShape, outChannels: outChannels, kernel: 1,
                          bias: true, maxBatch: maxBatch, threads: threads, policy: policy, position: .last)
        act = BatchBuffer(hidden.outputShape, maxBatch: maxBatch)
        gradAct = BatchBuffer(hidden.outputShape, maxBatch: maxBatch)
    }

    func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        let h = hidden.forward(x, batch: batch, rt: rt)
        reluForward(input: h, output: act.pointer, count: batch * hidden.outputShape.count, pool: rt.pool)
        let a = actQuantizer.map { UnsafePointer($0.forward(act.pointer, batch: batch, rt: rt)) } ?? UnsafePointer(act.pointer)
        return out.forward(a, batch: batch, rt: rt)
    }

    func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        var g = out.backward(dy, batch: batch, rt: rt)!
        if let q = actQuantizer { g = q.backward(g, batch: batch, rt: rt)! }
        reluBackward(output: act.pointer, gradOutput: g, gradInput: gradAct.pointer,
                     count: batch * hidden.outputShape.count, pool: rt.pool)
        return hidden.backward(gradAct.pointer, batch: batch, rt: rt)
    }
}

public final class CenterNetHead: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    public let classes: Int
    /// heatmap, size, offset.
    public let branches: [HeadBranch]
    private let out: BatchBuffer
    private let gradIn: BatchBuffer?
    private let split: UnsafeMutablePointer<Float>
    public static let priorProbability: Float = 0.1

    public init(_ b: ArenaBuilder, name: String, input: FeatureShape, classes: Int, hiddenChannels: Int = 64,
                maxBatch: Int, threads: Int, needsInputGradient: Bool = true, policy: QuantizationPolicy? = nil) {
        inputShape = input
        self.classes = classes
        outputShape = FeatureShape(classes + 4, input.height, input.width)
        branches = [("heatmap", classes), ("size", 2), ("offset", 2)].map {
            HeadBranch(b, name: "\(name).\($0.0)", input: input, hiddenChannels: hiddenChannels, outChannels: $0.1,
                       maxBatch: maxBatch, threads: threads, needsInputGradient: needsInputGradient, policy: policy)
        }
        out = BatchBuffer(outputShape, maxBatch: maxBatch)
        gradIn = needsInputGradient ? BatchBuffer(input, maxBatch: maxBatch) : nil
        split = Tensor.allocate(max(1, maxBatch * classes * input.height * input.width))
    }

    deinit { UnsafeMutableRawPointer(split).deallocate() }

    /// Sets the heatmap's final bias to the logit of the prior probability (call after the arena is built).
    public func initializeHeatmapBias(_ arena: ParameterArena) {
        let bias = branches[0].out.bias!
        arena.value(bias).update(repeating: -log((1 - Self.priorProbability) / Self.priorProbability), count: classes)
    }

    public var macsPerSample: Int {
        branches.reduce(0) { $0 + $1.hidden.macsPerSample + $1.out.macsPerSample }
    }

    /// Channel ranges of the output: heatmap, size, offset.
    public var channelCounts: [Int] { [classes, 2, 2] }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        let hw = inputShape.height * inputShape.width, total = outputShape.channels
        var first = 0
        for (branch, c) in zip(branches, channelCounts) {
            let y = branch.forward(x, batch: batch, rt: rt)
            for i in 0..<batch { (out.pointer + (i * total + first) * hw).update(from: y + i * c * hw, count: c * hw) }
            first += c
        }
        return out.pointer
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        let hw = inputShape.height * inputShape.width, total = outputShape.channels, n = batch * inputShape.count
        var first = 0
        for (k, (branch, c)) in zip(branches, channelCounts).enumerated() {
            for i in 0..<batch { (split + i * c * hw).update(from: dy + (i * total + first) * hw, count: c * hw) }
            first += c
            let g = branch.backward(split, batch: batch, rt: rt)
            if let gradIn, let g {
                if k == 0 { gradIn.pointer.update(from: g, count: n) } else { addInPlace(gradIn.pointer, g, count: n, pool: rt.pool) }
            }
        }
        return gradIn?.pointer
    }
}

/// Segmentation head with two inputs: the deep map [cd, h, w] and the skip map
/// [cs, 2h, 2w]; output logits [classes, H, W] with H = 2h * 2^extraSteps.
public final class FCNHead {
    public let deepShape: FeatureShape
    public let skipShape: FeatureShape
    public let outputShape: FeatureShape
    public let classes: Int
    public let scoreDeep: Conv2dLayer
    public let scoreSkip: Conv2dLayer
    /// Fused scores at the skip resolution, then each 2x step's output.
    private let stages: [BatchBuffer]
    private let gradStages: [BatchBuffer]
    private let gradDeepScores: BatchBuffer

    public init(_ b: ArenaBuilder, name: String, deep: FeatureShape, skip: FeatureShape, classes: Int,
                outputSize: Int, maxBatch: Int, threads: Int, policy: QuantizationPolicy? = nil) {
        precondition(skip.height == 2 * deep.height && skip.width == 2 * deep.width,
                     "FCNHead: skip map \(skip) must be twice the deep map \(deep)")
        var steps = 0, size = skip.height
        while size < outputSize { size *= 2; steps += 1 }
        precondition(size == outputSize, "FCNHead: output \(outputSize) is not skip size \(skip.height) times a power of 2")
        deepShape = deep; skipShape = skip; self.classes = classes
        outputShape = FeatureShape(classes, outputSize, outputSize)
        scoreDeep = Conv2dLayer(b, name: "\(name).score_deep", input: deep, outChannels: classes, kernel: 1, bias: true,
                                maxBatch: maxBatch, threads: threads, policy: policy, position: .last)
        scoreSkip = Conv2dLayer(b, name: "\(name).score_skip", input: skip, outChannels: classes, kernel: 1, bias: true,
                                maxBatch: maxBatch, threads: threads, policy: policy, position: .last)
        let shapes = (0...steps).map { FeatureShape(classes, skip.height << $0, skip.width << $0) }
        stages = shapes.map { BatchBuffer($0, maxBatch: maxBatch) }
        gradStages = shapes.map { BatchBuffer($0, maxBatch: maxBatch) }
        gradDeepScores = BatchBuffer(FeatureShape(classes, deep.height, deep.width), maxBatch: maxBatch)
    }

    public var macsPerSample: Int { scoreDeep.macsPerSample + scoreSkip.macsPerSample }
    /// Number of 2x bilinear steps after the skip sum.
    public var upsamplingSteps: Int { stages.count - 1 }

    /// Logits [batch, classes, H, W].
    public func forward(deep: UnsafePointer<Float>, skip: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        let sd = scoreDeep.forward(deep, batch: batch, rt: rt)
        upsampleBilinear2xForward(input: sd, output: stages[0].pointer, n: batch, c: classes,
                                  h: deepShape.height, w: deepShape.width, pool: rt.pool)
        let ss = scoreSkip.forward(skip, batch: batch, rt: rt)
        addInPlace(stages[0].pointer, ss, count: batch * classes * skipShape.height * skipShape.width, pool: rt.pool)
        for k in 1..<stages.count {
            let s = skipShape.height << (k - 1)
            upsampleBilinear2xForward(input: stages[k - 1].pointer, output: stages[k].pointer, n: batch, c: classes,
                                      h: s, w: s, pool: rt.pool)
        }
        return stages[stages.count - 1].pointer
    }

    /// Gradients with respect to the deep and skip maps (parameter gradients go to the arena).
    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime)
        -> (deep: UnsafeMutablePointer<Float>, skip: UnsafeMutablePointer<Float>) {
        var g = dy
        for k in stride(from: stages.count - 1, to: 0, by: -1) {
            let s = skipShape.height << (k - 1)
            upsampleBilinear2xBackward(gradOutput: g, gradInput: gradStages[k - 1].pointer, n: batch, c: classes,
                                       h: s, w: s, pool: rt.pool)
            g = UnsafePointer(gradStages[k - 1].pointer)
        }
        let gSkip = scoreSkip.backward(g, batch: batch, rt: rt)!
        upsampleBilinear2xBackward(gradOutput: g, gradInput: gradDeepScores.pointer, n: batch, c: classes,
                                   h: deepShape.height, w: deepShape.width, pool: rt.pool)
        let gDeep = scoreDeep.backward(gradDeepScores.pointer, batch: batch, rt: rt)!
        return (gDeep, gSkip)
    }
}
