// `gdqr eval` on a scene model (a .gdqr whose task is centernet or segmentation):
// the integer engine on test scenes, and with a fake-quant SceneNetwork the same
// scenes through the float model. Detection decodes each output map (top-k
// peaks, per-class NMS: the trainer's evaluation settings) into COCO detections
// and scores mAP / mAP@0.5 (DetectionMetrics); segmentation takes the per-pixel
// argmax and scores mIoU and pixel accuracy (SegmentationMetrics). Sigmoid and
// argmax run here, in float, outside the engine.

import ArgumentParser
import Foundation
import TensorEngine
import Layers
import GDQR
import IntegerInference
import Datasets

/// Test scenes: pixels and class masks [count][size][size], the COCO truth (one
/// image id per scene), where they came from.
struct SceneTestScenes {
    let size: Int
    var pixels: [UInt8] = []
    var masks: [UInt8]?
    var truth: CocoInstances
    let source: String
    var count: Int { truth.images.count }

    /// Scenes 0 ..< count of the test split (image id = index + 1, as SceneFiles writes them).
    static func compose(data: String, settings: SceneSettings, count: Int) throws -> SceneTestScenes {
        var s = settings
        s.testScenes = count
        let composer = try SceneComposer(source: try ImageDataset.fashionMNIST(directory: data, split: .test), split: .test, settings: s)
        let set = try SceneSet(composer: composer, count: count)
        return SceneTestScenes(size: s.size, pixels: set.images.pixels, masks: set.masks, truth: set.cocoTruth(),
                               source: "\(count) composed test scenes (seed \(s.seed), \(s.size)x\(s.size))")
    }

    /// Scenes written as files (instances.json, PGM images and masks), e.g. by `gdqr scenes write`.
    static func read(directory: String, limit: Int) throws -> SceneTestScenes {
        var loaded = try SceneFiles.read(directory: directory)
        if limit > 0 { loaded = Array(loaded.prefix(limit)) }
        guard let first = loaded.first else { throw ExportError("\(directory): no scenes in instances.json") }
        let size = first.image.width
        var t = SceneTestScenes(size: size, masks: loaded.allSatisfy { $0.mask != nil } ? [] : nil,
                                truth: try CocoInstances.read(path: (directory as NSString).appendingPathComponent("instances.json")),
                                source: "\(loaded.count) scenes from \(directory)")
        t.truth.images = loaded.map(\.image)
        let ids = Set(t.truth.images.map(\.id))
        t.truth.annotations = t.truth.annotations.filter { ids.contains($0.imageId) }
        for l in loaded {
            guard l.image.width == size, l.image.height == size else {
                throw ExportError("\(directory): image \(l.image.id) is \(l.image.width)x\(l.image.height), the first \(size)x\(size)")
            }
            t.pixels += l.pixels
            if let m = l.mask { t.masks? += m }
        }
        return t
    }
}

/// A scene model's output maps, scored: detections or the confusion matrix.
struct SceneScorer {
    /// As the trainer's evaluation: COCO's 100 detections per image, scores >= 0.01, NMS at IoU 0.5 per class.
    static let detectionsPerScene = 100
    static let minScore: Float = 0.01
    static let nmsIoU = 0.5

    let task: IntegerTask
    let classes: Int
    let map: IntegerValue   // the output map's shape
    let stride: Int
    private(set) var detections: [CocoDetection] = []
    private(set) var confusion: ConfusionMatrix

    init(_ m: IntegerModel) {
        task = m.task; classes = m.classes; map = m.logits
        stride = m.input.height / m.logits.height
        confusion = ConfusionMatrix(classes: classes + 1)
    }

    /// Output maps of scenes first ..< first + batch ([batch][C][h][w]).
    mutating func add(_ out: UnsafePointer<Float>, batch: Int, first: Int, scenes: SceneTestScenes) {
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
                confusion.add(truth: Array(scenes.masks![(scene * hw)..<((scene + 1) * hw)]), predicted: pred)
            }
        }
    }

    /// map, map50, map75 (detection) or the segmentation summary's keys.
    func metrics(_ scenes: SceneTestScenes) -> [String: Any] {
        if task == .centernet {
            let s = DetectionMetrics.evaluate(truth: scenes.truth, detections: detections)
            return ["map": s.mAP, "map50": s.mAP50, "map75": s.mAP75, "detections": detections.count]
        }
        return confusion.summary.json
    }

    /// The metrics `gdqr eval` compares between the engine and the fake-quant model.
    var headlineKeys: [String] {
        task == .centernet ? ["map50", "map"] : ["miou_with_background", "miou_without_background", "pixel_accuracy"]
    }
}

/// Runs the integer engine (and the fake-quant network when given) over the scenes.
struct SceneEvaluation {
    let model: IntegerModel
    let scenes: SceneTestScenes
    let batch: Int
    let threads: Int

    /// With `outputs`, also every output map, [scenes][C][H][W].
    func integer(_ arithmetic: IntegerEngine.Arithmetic, outputs: UnsafeMutablePointer<Float>? = nil) throws
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

    /// The fake-quant float network on the same scenes, normalised as the model file says;
    /// each batch also through `engine`, its levels compared with the quantizers' (untimed).
    func fakeQuant(_ net: SceneNetwork, pool: ThreadPool?, engine: IntegerEngine, parity: inout LevelParity) throws
        -> (scorer: SceneScorer, seconds: Double) {
        let rt = Runtime(arena: net.arena, pool: pool)
        rt.training = false
        rt.step = Int.max / 2
        let mean = model.normMean[0], std = model.normStd[0]
        let lut = (0..<256).map { (Float($0) / 255 - mean) / std }
        let input = scenes.pixels.map { lut[Int($0)] }
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

extension Eval {
    /// Scene models: metrics of the integer engine and, with --compare, of the fake-quant model.
    func evaluateScenes(_ m: IntegerModel, _ arith: IntegerEngine.Arithmetic) throws {
        let bs = max(1, batch), threads = max(1, self.threads)
        var settings = SceneSettings()
        settings.size = m.input.height
        settings.seed = sceneSeed
        var net: SceneNetwork?, policy: GDQRPolicy?
        var count = settings.testScenes
        if let compare {
            let r = try LoadedSceneRun.load(compare, maxBatch: bs, threads: threads)
            net = r.net; policy = r.policy
            settings = r.sceneSettings
            // The run's test set: its test scenes, or the first data.test_limit of them.
            let runLimit = r.config.data.testLimit
            count = runLimit > 0 ? min(runLimit, settings.testScenes) : settings.testScenes
        }
        if limit > 0 { count = limit }
        let test = try scenes.map { try SceneTestScenes.read(directory: $0, limit: limit) }
            ?? SceneTestScenes.compose(data: data, settings: settings, count: count)
        guard test.size == m.input.height, m.input.channels == 1 else {
            throw ExportError("\(test.source): scenes are \(test.size)x\(test.size), the model takes \(m.input.channels)x\(m.input.height)x\(m.input.width)")
        }
        guard m.task != .segmentation || test.masks != nil else {
            throw ExportError("\(test.source): scenes without class masks, a segmentation model needs them")
        }
        guard cocoResults == nil || m.task == .centernet else {
            throw ValidationError("--coco-results: \(model) is a segmentation model, it makes no detections")
        }
        let ev = SceneEvaluation(model: m, scenes: test, batch: bs, threads: threads)
        var maps = saveOutputs == nil ? [] : [Float](repeating: 0, count: test.count * m.logits.count)
        let (integer, seconds) = saveOutputs == nil ? try ev.integer(arith)
            : try maps.withUnsafeMutableBufferPointer { try ev.integer(arith, outputs: $0.baseAddress!) }
        if let saveOutputs {
            do { try maps.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: saveOutputs)) } } catch {
                throw ExportError("\(saveOutputs): cannot write: \(error.localizedDescription)")
            }
        }
        var report: [String: Any] = ["model": model, "task": m.task.rawValue, "scenes": test.count, "source": test.source,
                                     "threads": threads, "batch": bs, "arithmetic": arith.rawValue,
                                     "integer": integer.metrics(test), "images_per_second_integer": Double(test.count) / seconds]
        if let cocoResults {
            try CocoDetection.writeResults(integer.detections, to: cocoResults)
            report["coco_results"] = cocoResults
        }
        var parity: LevelParity?
        if let net, let policy {
            let pool = threads > 1 ? ThreadPool(threads: threads) : nil
            var p = LevelParity(m, quantizers: policy.activationQuantizers)
            let engine = try IntegerEngine(m, maxBatch: bs, threads: threads, arithmetic: arith)
            let (fq, fqSeconds) = try ev.fakeQuant(net, pool: pool, engine: engine, parity: &p)
            parity = p
            report["layers"] = p.json
            let a = integer.metrics(test), b = fq.metrics(test)
            report["compare"] = compare
            report["fakequant"] = b
            report["images_per_second_fakequant"] = Double(test.count) / fqSeconds
            let diffs = integer.headlineKeys.map { abs((a[$0] as! Double) - (b[$0] as! Double)) }
            report["max_metric_difference"] = diffs.max() ?? 0
        }
        if json {
            let d = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            print(String(decoding: d, as: UTF8.self))
            return
        }
        print("\(model): \(m.task.rawValue), \(test.source), batch \(bs), \(threads) threads, \(arith.rawValue) GEMM")
        func line(_ name: String, _ metrics: [String: Any], _ rate: Any?) {
            let parts = integer.headlineKeys.map { "\($0) \(String(format: "%.4f", metrics[$0] as? Double ?? .nan))" }
            print("\(name) \(parts.joined(separator: "  "))  \(String(format: "%.0f", rate as? Double ?? 0)) images/s")
        }
        line("integer engine:  ", report["integer"] as! [String: Any], report["images_per_second_integer"])
        if let fq = report["fakequant"] as? [String: Any] {
            line("fake-quant float:", fq, report["images_per_second_fakequant"])
            print(String(format: "largest metric difference %.4f", report["max_metric_difference"] as! Double))
            parity?.printRows()
        }
        if let cocoResults { print("wrote \(integer.detections.count) detections to \(cocoResults)") }
    }
}
