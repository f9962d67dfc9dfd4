// The scene models as phase models: a SceneNetwork (ResNet + CenterNet or FCN
// head) trained on composed scenes. A batch carries global scene indices; the
// targets (boxes, masks) are read from the rendered SceneSet by index, so the
// sampler, loader, sharding and resume are the image classifier's.
//
// Gradient averaging: SceneNetwork reports no finished gradients during
// backward, so the all-reduce buckets start when backward is over (no overlap;
// these models are small). Segmentation scales the arena's gradients by 1/ranks
// after backward (a mean over equal per-rank pixel counts; a uniform factor
// commutes with SyncBN). Detection losses are divided by the number of object
// centres (focal) and of objects (L1) in the batch, so each rank reweights its
// terms to the global counts before backward (one small all-reduce per step;
// SyncBN mixes the ranks' gradients during backward): the averaged gradient is
// the global batch's, whatever the number of ranks.
//
// Evaluation: detection decodes each test scene (top-k peaks, per-class NMS)
// into a fixed slot of `detectionsPerScene` boxes; the dense array is summed
// across ranks (each scene belongs to one rank's shard, so the sum gathers them)
// and COCO mAP is computed from it on every rank. Segmentation sums the loss and
// the confusion matrix.

import Foundation
import TensorEngine
import Layers
import Datasets
import Evaluation

class SceneModel {
    let net: SceneNetwork
    let train: SceneTargets
    let test: SceneTargets
    let normalization: Normalization
    let pool: ThreadPool?

    init(_ net: SceneNetwork, train: SceneTargets, test: SceneTargets, normalization: Normalization, pool: ThreadPool?) {
        self.net = net; self.train = train; self.test = test; self.normalization = normalization; self.pool = pool
    }

    var arena: ParameterArena { net.arena }
    var description: String {
        let depth = 6 * net.stages[0].layers.count + 2
        let width = net.stages[0].outputShape.channels
        return "resnet\(depth) (width \(width)) + \(net.kind == .centerNet ? "CenterNet" : "FCN") head"
    }
    var macsPerSample: Int {
        let body = ([net.stem] + net.stages).reduce(0) { $0 + $1.macsPerSample }
        return body + (net.centerNet?.macsPerSample ?? net.fcn!.macsPerSample)
    }
    var overlapsGradientSync: Bool { false }
    /// Sums small per-step counts across ranks (detection normalisers); nil on one rank.
    var sumAcrossRanks: ((inout [Double]) throws -> Void)?

    func forward(_ batch: Batch, rt: Runtime) { _ = net.forward(batch.images.data, batch: batch.count, rt: rt) }

    func scaleGradients(_ s: Float) {
        if s != 1 { scale(arena.grads, by: s, count: arena.parameterCount, pool: pool) }
    }

    /// The first `count` composed test scenes' network output, computed on this rank alone
    /// (eval mode: no collective), for the pictures; nil for file sets.
    func testOutput(count: Int, rt: Runtime) throws -> (output: UnsafeMutablePointer<Float>, count: Int, scenes: SceneSet)? {
        guard let test = test.composed else { return nil }
        let n = min(count, test.count, net.maxBatch)
        let batches = try EvalBatches(dataset: test.images, batchSize: n, normalization: normalization)
        let b = batches.next()!
        rt.training = false
        defer { rt.training = true }
        return (net.forward(b.images.data, batch: b.count, rt: rt), b.count, test)
    }
}

func labeledBoxes(_ objects: [SceneObject]) -> [LabeledBox] {
    objects.map { LabeledBox(classId: $0.classId, x: Double($0.box.x0), y: Double($0.box.y0),
                             w: Double($0.box.width), h: Double($0.box.height)) }
}

final class SceneDetectionModel: SceneModel, PhaseModel {
    /// Decoding: the best peaks kept per scene (COCO's maxDets), their minimum score, the per-class NMS IoU.
    static let detectionsPerScene = 100
    static let minScore: Float = 0.01
    static let nmsIoU = 0.5
    private var heatmap: [Float]

    override init(_ net: SceneNetwork, train: SceneTargets, test: SceneTargets, normalization: Normalization, pool: ThreadPool?) {
        let o = net.outputShape
        heatmap = [Float](repeating: 0, count: net.maxBatch * net.classes * o.height * o.width)
        super.init(net, train: train, test: test, normalization: normalization, pool: pool)
    }

    var primaryMetric: String { "map" }
    var reportsAccuracy: Bool { false }

    /// The loss weights of SceneNetwork's regression terms, before per-step reweighting.
    private lazy var baseWeights = (size: net.sizeWeight, offset: net.offsetWeight)

    func trainStep(_ batch: Batch, rt: Runtime, gradientScale: Float) throws -> StepLoss {
        let out = net.forward(batch.images.data, batch: batch.count, rt: rt)
        let o = net.outputShape, per = net.classes * o.height * o.width
        var size: [CenterTarget] = [], offset: [CenterTarget] = []
        heatmap.withUnsafeMutableBufferPointer { h in
            for i in 0..<batch.count {
                let t = CenterNetTargets.build(train.boxes(batch, i), sample: i, stride: net.stride,
                                               classes: net.classes, height: o.height, width: o.width,
                                               heatmap: h.baseAddress! + i * per)
                size += t.size; offset += t.offset
            }
        }
        let base = baseWeights
        // Each rank's losses are normalised by its own centre and object counts;
        // under data parallelism the terms are reweighted (before backward: SyncBN
        // mixes the ranks' gradients during backward) to the global counts.
        if let sumAcrossRanks {
            let centres = heatmap[0..<(batch.count * per)].reduce(0) { $0 + ($1 == 1 ? 1 : 0) }
            var global = [Double(centres), Double(size.count)]
            try sumAcrossRanks(&global)
            net.heatmapWeight = Float(Double(max(centres, 1)) / max(global[0], 1))
            let l1 = Float(Double(max(size.count, 1)) / max(global[1], 1))
            net.sizeWeight = base.size * l1
            net.offsetWeight = base.offset * l1
        } else {
            (net.heatmapWeight, net.sizeWeight, net.offsetWeight) = (gradientScale, base.size * gradientScale,
                                                                     base.offset * gradientScale)
        }
        let l = heatmap.withUnsafeBufferPointer {
            net.backwardDetection(output: out, heatmapTargets: $0.baseAddress!, size: size, offset: offset,
                                  batch: batch.count, rt: rt)
        }
        // This rank's loss with its own normalisers and the configured weights.
        return StepLoss(loss: l.heatmap + base.size * l.size + base.offset * l.offset, correct: 0, counted: batch.count)
    }

    /// Sample `i` of a head output, decoded into boxes.
    func decode(_ out: UnsafePointer<Float>, sample i: Int) -> [ScoredBox] {
        let o = net.outputShape, cells = o.height * o.width, base = out + i * o.count
        return CenterNetTargets.decode(heatmap: base, size: base + net.classes * cells, offset: base + (net.classes + 2) * cells,
                                       classes: net.classes, height: o.height, width: o.width, stride: net.stride,
                                       topK: Self.detectionsPerScene, minScore: Self.minScore, nmsIoU: Self.nmsIoU)
    }

    func makeEvaluator() -> PhaseEvaluator { DetectionEvaluator(self) }

    func picture(rt: Runtime, count: Int) throws -> String? {
        guard let r = try testOutput(count: count, rt: rt) else { return nil }
        let (out, n, test) = r
        return ScenePictures.detection((0..<n).map { i in
            (test.images.pixels[(i * test.size * test.size)..<((i + 1) * test.size * test.size)], test.objects[i], decode(out, sample: i))
        }, size: test.size)
    }
}

/// Detections of every test scene in fixed slots: (score, class, x, y, w, h) x detectionsPerScene.
final class DetectionEvaluator: PhaseEvaluator {
    let model: SceneDetectionModel
    private(set) var totals: [Double]
    static let fields = 6

    init(_ model: SceneDetectionModel) {
        self.model = model
        totals = [Double](repeating: 0, count: model.test.count * SceneDetectionModel.detectionsPerScene * Self.fields)
    }

    func add(_ b: Batch, rt: Runtime) {
        let out = model.net.forward(b.images.data, batch: b.count, rt: rt)
        for (i, scene) in b.indices.enumerated() {
            var slot = scene * SceneDetectionModel.detectionsPerScene * Self.fields
            for d in model.decode(out, sample: i) {
                for v in [Double(d.score), Double(d.box.classId), d.box.x, d.box.y, d.box.w, d.box.h] { totals[slot] = v; slot += 1 }
            }
        }
    }

    func finish(_ t: [Double]) -> TestResult {
        var dets: [CocoDetection] = []
        let k = SceneDetectionModel.detectionsPerScene
        for scene in 0..<model.test.count {
            for j in 0..<k {
                let s = (scene * k + j) * Self.fields
                guard t[s] > 0 else { break }   // decoded scores are >= minScore > 0; an empty slot ends the scene
                dets.append(CocoDetection(imageId: scene + 1, categoryId: Int(t[s + 1]), bbox: Array(t[(s + 2)..<(s + 6)]),
                                          score: t[s]))
            }
        }
        let m = DetectionMetrics.evaluate(truth: model.test.cocoTruth(), detections: dets, maxDets: k)
        return TestResult(loss: nil, primary: m.mAP, metrics: ["map": m.mAP, "map50": m.mAP50, "map75": m.mAP75,
                                                             "detections": dets.count])
    }
}

final class SceneSegmentationModel: SceneModel, PhaseModel {
    private var labels: [Int32]

    override init(_ net: SceneNetwork, train: SceneTargets, test: SceneTargets, normalization: Normalization, pool: ThreadPool?) {
        labels = [Int32](repeating: 0, count: net.maxBatch * net.outputShape.height * net.outputShape.width)
        super.init(net, train: train, test: test, normalization: normalization, pool: pool)
    }

    var primaryMetric: String { "miou" }
    var reportsAccuracy: Bool { true }

    /// Class masks of the batch's samples into `labels` as Int32 (-1 = ignored).
    func loadLabels(_ batch: Batch, from set: SceneTargets) {
        let px = net.outputShape.height * net.outputShape.width
        labels.withUnsafeMutableBufferPointer { l in
            for i in 0..<batch.count { set.copyMask(batch, i, pixels: px, into: l.baseAddress! + i * px) }
        }
    }

    func trainStep(_ batch: Batch, rt: Runtime, gradientScale: Float) throws -> StepLoss {
        let out = net.forward(batch.images.data, batch: batch.count, rt: rt)
        loadLabels(batch, from: train)
        let r = labels.withUnsafeBufferPointer {
            net.backwardSegmentation(output: out, labels: $0.baseAddress!, batch: batch.count, rt: rt)
        }
        scaleGradients(gradientScale)
        return StepLoss(loss: r.loss, correct: r.correct, counted: r.counted)
    }

    /// Per-pixel argmax of sample `i`'s logits [classes, H, W] (ties to the lower class).
    func predictedMask(_ out: UnsafePointer<Float>, sample i: Int) -> [UInt8] {
        let s = net.outputShape, px = s.height * s.width, base = out + i * s.count
        var pred = [UInt8](repeating: 0, count: px)
        for j in 0..<px {
            var best = 0
            for c in 1..<s.channels where base[c * px + j] > base[best * px + j] { best = c }
            pred[j] = UInt8(best)
        }
        return pred
    }

    /// Loss sum, pixel count, then the confusion matrix counts (rows = truth).
    func evaluate(_ b: Batch, rt: Runtime, into totals: inout [Double]) {
        let out = net.forward(b.images.data, batch: b.count, rt: rt)
        loadLabels(b, from: test)
        let s = net.outputShape
        let r = labels.withUnsafeBufferPointer {
            softmaxCrossEntropy2d(logits: out, labels: $0.baseAddress!, gradLogits: nil, n: b.count, classes: s.channels,
                                  h: s.height, w: s.width, pool: rt.pool)
        }
        totals[0] += Double(r.loss) * Double(r.counted)
        totals[1] += Double(r.counted)
        let px = s.height * s.width
        for i in 0..<b.count {
            for (j, p) in predictedMask(out, sample: i).enumerated() {
                let t = labels[i * px + j]
                if t >= 0 { totals[2 + Int(t) * s.channels + Int(p)] += 1 }   // -1: ignored pixel
            }
        }
    }

    func makeEvaluator() -> PhaseEvaluator { SegmentationEvaluator(self) }

    func picture(rt: Runtime, count: Int) throws -> String? {
        guard let r = try testOutput(count: count, rt: rt) else { return nil }
        let (out, n, test) = r
        let px = test.size * test.size
        return ScenePictures.segmentation((0..<n).map { i in
            (test.images.pixels[(i * px)..<((i + 1) * px)], test.mask(i), predictedMask(out, sample: i))
        }, size: test.size)
    }
}

final class SegmentationEvaluator: PhaseEvaluator {
    let model: SceneSegmentationModel
    private(set) var totals: [Double]

    init(_ model: SceneSegmentationModel) {
        self.model = model
        let c = model.net.outputShape.channels
        totals = [Double](repeating: 0, count: 2 + c * c)
    }

    func add(_ b: Batch, rt: Runtime) { model.evaluate(b, rt: rt, into: &totals) }

    func finish(_ t: [Double]) -> TestResult {
        let c = model.net.outputShape.channels
        let m = ConfusionMatrix(classes: c, counts: t[2...].map { Int($0) }).summary
        return TestResult(loss: t[0] / max(t[1], 1), primary: m.mIoUForeground, metrics: [
            "miou": m.mIoUForeground, "miou_with_background": m.mIoU, "pixel_accuracy": m.pixelAccuracy,
            "confusion_matrix": m.confusion,
        ])
    }
}
