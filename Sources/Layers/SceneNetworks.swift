// ResNet backbones with a dense head, for the scenes dataset: a CIFAR-style
// ResNet (stem + three stages, depth 6n+2) whose last stage (stride 4) feeds a
// CenterNet head, or whose last two stages feed an FCN head (skip from stage 2).
// Forward returns the head's output; the backward functions take the targets,
// compute the loss and write every parameter gradient into the arena.

import Foundation
import TensorEngine

public final class SceneNetwork {
    public enum Kind: String, Sendable { case centerNet = "resnet-centernet", fcn = "resnet-fcn" }

    public let kind: Kind
    public let classes: Int
    public let input: FeatureShape
    public let arena: ParameterArena
    public let maxBatch: Int
    /// conv1, bn1 (+ its activation quantizer); the three ResNet stages (exposed for folding).
    public let stem: Sequential
    public let stages: [Sequential]
    public let centerNet: CenterNetHead?
    public let fcn: FCNHead?
    /// Loss weights of the CenterNet terms. The trainer changes them per step
    /// under data parallelism, to normalise each rank's terms by the global counts
    /// before backward (SyncBN mixes the ranks' gradients during backward).
    public var heatmapWeight: Float = 1
    public var sizeWeight: Float = 0.1
    public var offsetWeight: Float = 1
    // Scratch for the CenterNet losses: the head output's channel groups gathered contiguously.
    private let gathered: UnsafeMutablePointer<Float>
    private let gatheredGrad: UnsafeMutablePointer<Float>
    private let headGrad: UnsafeMutablePointer<Float>

    /// `classes` counts foreground classes; the FCN head predicts classes + 1 (background 0).
    public init(kind: Kind, depth: Int = 8, width: Int = 16, input: FeatureShape, classes: Int, maxBatch: Int,
                threads: Int, seed: UInt64, headChannels: Int = 64, policy: QuantizationPolicy? = nil) {
        precondition(depth >= 8 && (depth - 2) % 6 == 0, "resnet depth must be 6n+2 (8, 14, 20, ...), got \(depth)")
        precondition(input.height % 4 == 0, "SceneNetwork: input size \(input.height) must be a multiple of 4")
        self.kind = kind; self.classes = classes; self.input = input; self.maxBatch = maxBatch
        let b = ArenaBuilder()
        let build = Builder(b: b, maxBatch: maxBatch, threads: threads, policy: policy)
        let stemList = LayerList(b)
        let conv = build.conv("conv1", input, width, position: .first)
        stemList.append(conv)
        stemList.append(BatchNormLayer(b, name: "bn1", shape: conv.outputShape, fuseReLU: true, maxBatch: maxBatch))
        if let q = build.actQuant("bn1.act", conv.outputShape) { stemList.append(q) }
        stem = stemList.sequential()
        var shape = conv.outputShape
        var stages: [Sequential] = []
        for stage in 0..<3 {
            let list = LayerList(b)
            for i in 0..<(depth - 2) / 6 {
                let name = "layer\(stage + 1).\(i)"
                let block = BasicBlock(b, name: name, input: shape, outChannels: width << stage,
                                       stride: (stage > 0 && i == 0) ? 2 : 1, maxBatch: maxBatch, threads: threads, policy: policy)
                block.outputQuantizer = build.actQuant("\(name).act_out", block.outputShape)
                list.append(block)
                shape = block.outputShape
            }
            stages.append(list.sequential())
        }
        self.stages = stages
        switch kind {
        case .centerNet:
            centerNet = CenterNetHead(b, name: "head", input: shape, classes: classes, hiddenChannels: headChannels,
                                      maxBatch: maxBatch, threads: threads, policy: policy)
            fcn = nil
        case .fcn:
            fcn = FCNHead(b, name: "head", deep: shape, skip: stages[1].outputShape, classes: classes + 1,
                          outputSize: input.height, maxBatch: maxBatch, threads: threads, policy: policy)
            centerNet = nil
        }
        arena = ParameterArena(b, seed: seed)
        centerNet?.initializeHeatmapBias(arena)
        let out = centerNet?.outputShape ?? fcn!.outputShape
        gathered = Tensor.allocate(maxBatch * out.count)
        gatheredGrad = Tensor.allocate(maxBatch * out.count)
        headGrad = Tensor.allocate(maxBatch * out.count)
    }

    deinit {
        for p in [gathered, gatheredGrad, headGrad] { UnsafeMutableRawPointer(p).deallocate() }
    }

    public var outputShape: FeatureShape { centerNet?.outputShape ?? fcn!.outputShape }
    /// Input pixels per output cell of the CenterNet head.
    public var stride: Int { input.height / outputShape.height }

    /// CenterNet: [batch, classes + 4, H/4, W/4] (heatmap logits, size, offset);
    /// FCN: per-pixel logits [batch, classes + 1, H, W].
    public func forward(_ images: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        precondition(batch <= maxBatch, "SceneNetwork: batch \(batch) exceeds the built maximum \(maxBatch)")
        let s0 = stem.forward(images, batch: batch, rt: rt)
        let s1 = stages[0].forward(s0, batch: batch, rt: rt)
        let s2 = stages[1].forward(s1, batch: batch, rt: rt)
        let s3 = stages[2].forward(s2, batch: batch, rt: rt)
        if let centerNet { return centerNet.forward(s3, batch: batch, rt: rt) }
        return fcn!.forward(deep: s3, skip: s2, batch: batch, rt: rt)
    }

    private func backbone(deep: UnsafePointer<Float>, skip: UnsafePointer<Float>?, batch: Int, rt: Runtime) {
        let g2 = stages[2].backward(deep, batch: batch, rt: rt)!
        if let skip { addInPlace(g2, skip, count: batch * stages[1].outputShape.count, pool: rt.pool) }
        let g1 = stages[1].backward(g2, batch: batch, rt: rt)!
        let g0 = stages[0].backward(g1, batch: batch, rt: rt)!
        _ = stem.backward(g0, batch: batch, rt: rt)
    }

    public struct DetectionLoss: Equatable {
        public var heatmap: Float, size: Float, offset: Float, total: Float, centres: Int
    }

    /// CenterNet losses of the last forward's `output`: `heatmapTargets`
    /// [batch, classes, h, w] and the size/offset targets of every object; backward
    /// through the whole network.
    public func backwardDetection(output: UnsafePointer<Float>, heatmapTargets: UnsafePointer<Float>,
                                  size: [CenterTarget], offset: [CenterTarget], batch: Int, rt: Runtime) -> DetectionLoss {
        let head = centerNet!
        let hw = outputShape.height * outputShape.width, total = outputShape.channels
        // Gather channel groups [batch, group, hw] so each loss sees a contiguous tensor.
        func gather(_ first: Int, _ count: Int) {
            for i in 0..<batch { (gathered + i * count * hw).update(from: output + (i * total + first) * hw, count: count * hw) }
        }
        func scatter(_ first: Int, _ count: Int, weight: Float) {
            for i in 0..<batch {
                let dst = headGrad + (i * total + first) * hw, src = gatheredGrad + i * count * hw
                for j in 0..<(count * hw) { dst[j] = weight * src[j] }
            }
        }
        gather(0, classes)
        let focal = centerNetFocalLoss(logits: gathered, targets: heatmapTargets, gradLogits: gatheredGrad,
                                       count: batch * classes * hw)
        scatter(0, classes, weight: heatmapWeight)
        gather(classes, 2)
        let ls = centerRegressionL1(predictions: gathered, targets: size, gradPredictions: gatheredGrad, n: batch, channels: 2, cells: hw)
        scatter(classes, 2, weight: sizeWeight)
        gather(classes + 2, 2)
        let lo = centerRegressionL1(predictions: gathered, targets: offset, gradPredictions: gatheredGrad, n: batch, channels: 2, cells: hw)
        scatter(classes + 2, 2, weight: offsetWeight)
        let gDeep = head.backward(headGrad, batch: batch, rt: rt)!
        backbone(deep: gDeep, skip: nil, batch: batch, rt: rt)
        return DetectionLoss(heatmap: focal.loss, size: ls, offset: lo,
                             total: heatmapWeight * focal.loss + sizeWeight * ls + offsetWeight * lo, centres: focal.positives)
    }

    /// FCN: mean per-pixel cross-entropy of the last forward's logits against
    /// `labels` [batch, H, W] (0 = background); backward through the whole network.
    public func backwardSegmentation(output: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
                                     rt: Runtime) -> CrossEntropyResult {
        let s = outputShape
        let r = softmaxCrossEntropy2d(logits: output, labels: labels, gradLogits: headGrad, n: batch, classes: s.channels,
                                      h: s.height, w: s.width, pool: rt.pool)
        let (gDeep, gSkip) = fcn!.backward(headGrad, batch: batch, rt: rt)
        backbone(deep: gDeep, skip: gSkip, batch: batch, rt: rt)
        return r
    }
}
