// Scoring a scene model (a folded IntegerModel whose task is centernet or
// segmentation) on test scenes: the integer engine, and the fake-quant
// SceneNetwork on the same scenes. Detection decodes each output map (top-k
// peaks, per-class NMS: the trainer's evaluation settings) into COCO detections
// and scores mAP / mAP@0.5 (DetectionMetrics); segmentation takes the per-pixel
// argmax and scores mIoU and pixel accuracy (SegmentationMetrics). Sigmoid and
// argmax run here, in float, outside the engine.

import Foundation
import TensorEngine
import Layers
import GDQR
import IntegerInference
import Datasets

/// A scene model's output maps, scored: detections or the confusion matrix.
public struct SceneScorer {
    /// As the trainer's evaluation: COCO's 100 detections per image, scores >= 0.01, NMS at IoU 0.5 per class.
    public static let detectionsPerScene = 100
    public static let minScore: Float = 0.01
    public static let nmsIoU = 0.5

    public let task: IntegerTask
    public let classes: Int
    public let map: IntegerValue   // the output map's shape
    public let stride: Int
    public private(set) var detections: [CocoDetection] = []
    public private(set) var confusion: ConfusionMatrix

    public init(_ m: IntegerModel) {
        task = m.task; classes = m.classes; map = m.logits
        stride = m.input.height / m.logits.height
        confusion = ConfusionMatrix(classes: classes + 1)
    }

    /// Output maps of scenes first ..< first + batch ([batch][C][h][w]).
    public mutating func add(_ out: UnsafePointer<Float>, batch: Int, first: Int, scenes: SceneTestScenes) {
        let hw = map.height * map.width
        for i in 0..<batch {
            let base = out + i * map.count, scene = first + i
            if task == .centernet {
                let boxes = CenterNetTargets.decode(heatmap: base, size: base + classes * hw, offset: base + (classes + 2) * hw,
                                                    classes: classes, height: map.height, width: map.width, stride: stride,
                                                    topK: Self.detectionsPerScene, minScore: Self.minScore, nmsIoU: Self.nmsIoU)
                let id = scenes.truth.images[scene].id
                detections += boxes.map {
                    CocoDetection(imageId: id, categoryId: $0.box.classId, bbox: [$0.box.x, $0.box.y, $0.box.w, $0.box.h],
                                  score: Double($0.score))
                }
            } else {
                var pred = [UInt8](repeating: 0, count: hw)
                for j in 0..<hw {
                    var best = 0   // ties to the lower class
                    for c in 1..<map.channels where base[c * hw + j] > base[best * hw + j] { best = c }
                    pred[j] = UInt8(best)
                }
                let truth = Array(scenes.masks![(scene * hw)..<((scene + 1) * hw)])
                // Pixels marked 255 (VOC's boundaries and ignored regions) count nowhere.
                let kept = truth.indices.filter { truth[$0] != AnnotatedSource.ignore }
                confusion.add(truth: kept.map { truth[$0] }, predicted: kept.map { pred[$0] })
            }
        }
    }

    /// map, map50, map75 (detection) or the segmentation summary's keys.
    public func metrics(_ scenes: SceneTestScenes) -> [String: Any] {
        if task == .centernet {
            let s = DetectionMetrics.evaluate(truth: scenes.truth, detections: detections)
            return ["map": s.mAP, "map50": s.mAP50, "map75": s.mAP75, "detections": detections.count]
        }
        return confusion.summary.json
    }

    /// The metrics `gdqr eval` compares between the engine and the fake-quant model.
    public var headlineKeys: [String] {
        task == .centernet ? ["map50", "map"] : ["miou_with_background", "miou_without_background", "pixel_accuracy"]
    }
}

/// Runs the integer engine (and the fake-quant network when given) over the scenes.
public struct SceneEvaluation {
    public let model: IntegerModel
    public let scenes: SceneTestScenes
    public let batch: Int
    public let threads: Int

    public init(model: IntegerModel, scenes: SceneTestScenes, batch: Int, threads: Int) {
        self.model = model; self.scenes = scenes; self.batch = batch; self.threads = threads
    }

    /// With `outputs`, also every output map, [scenes][C][H][W].
    public func integer(_ arithmetic: IntegerEngine.Arithmetic, outputs: UnsafeMutablePointer<Float>? = nil) throws
        -> (scorer: SceneScorer, seconds: Double) {
        let engine = try IntegerEngine(model, maxBatch: batch, threads: threads, arithmetic: arithmetic)
        return scenes.pixels.withUnsafeBufferPointer { p in
            _ = engine.run(p.baseAddress!, batch: min(batch, scenes.count))   // warm-up, not timed
            return score(p.baseAddress!, { engine.run($0, batch: $1) }) { first, n in
                outputs?.advanced(by: first * model.logits.count)
                    .update(from: engine.floats(of: model.ops.last!.output)!, count: n * model.logits.count)
            }
        }
    }

    /// The fake-quant network against the integer engine's scores `integer` on the same scenes:
    /// "fakequant" (its metrics), "max_metric_difference" (over the headline metrics) and
    /// "layers" (the level parity); `seconds` is the time of the network's forward passes.
    public func compare(_ net: SceneNetwork, quantizers: [ActivationQuantizer], pool: ThreadPool?,
                        arithmetic: IntegerEngine.Arithmetic, integer: SceneScorer) throws
        -> (report: [String: Any], parity: LevelParity, seconds: Double) {
        var parity = LevelParity(model, quantizers: quantizers)
        let engine = try IntegerEngine(model, maxBatch: batch, threads: threads, arithmetic: arithmetic)
        let (fq, seconds) = try fakeQuant(net, pool: pool, engine: engine, parity: &parity)
        let a = integer.metrics(scenes), b = fq.metrics(scenes)
        let diffs = integer.headlineKeys.map { abs((a[$0] as! Double) - (b[$0] as! Double)) }
        return (["fakequant": b, "max_metric_difference": diffs.max() ?? 0, "layers": parity.json], parity, seconds)
    }

    /// The fake-quant float network on the same scenes, normalised as the model file says;
    /// each batch also through `engine`, its levels compared with the quantizers' (untimed).
    func fakeQuant(_ net: SceneNetwork, pool: ThreadPool?, engine: IntegerEngine, parity: inout LevelParity) throws
        -> (scorer: SceneScorer, seconds: Double) {
        let rt = Runtime(arena: net.arena, pool: pool)
        rt.training = false
        rt.step = Int.max / 2
        let input = model.normalizedInput(scenes.pixels)
        var failure: Error?
        let r = input.withUnsafeBufferPointer { p in
            scenes.pixels.withUnsafeBufferPointer { px in
                score(p.baseAddress!) { x, n in
                    UnsafePointer(net.forward(x, batch: n, rt: rt))
                } after: { first, n in
                    engine.run(px.baseAddress! + first * model.input.count, batch: n)
                    do { try parity.add(engine, batch: n) } catch { failure = error }
                }
            }
        }
        if let failure { throw failure }
        return r
    }

    /// `forward(first image, count)` over the scenes in batches, its outputs scored, then
    /// `after(first scene, count)`; the time spent in `forward`.
    private func score<T>(_ input: UnsafePointer<T>, _ forward: (UnsafePointer<T>, Int) -> UnsafePointer<Float>,
                          after: (Int, Int) -> Void = { _, _ in }) -> (scorer: SceneScorer, seconds: Double) {
        var scorer = SceneScorer(model)
        var t = 0.0
        for first in stride(from: 0, to: scenes.count, by: batch) {
            let n = min(batch, scenes.count - first)
            let t0 = Date()
            let out = forward(input + first * model.input.count, n)
            t += Date().timeIntervalSince(t0)
            scorer.add(out, batch: n, first: first, scenes: scenes)
            after(first, n)
        }
        return (scorer, t)
    }
}

