// A scene model's integer model (task centernet or segmentation) on test scenes:
// its metrics and images/s, and with a run to compare, the fake-quant SceneNetwork
// of the run on the same scenes (Evaluation/SceneScoring.swift).

import Foundation
import TensorEngine
import GDQR
import IntegerInference
import Datasets
import Evaluation
import Trainer

public enum SceneEval {
    /// The report (integer metrics, and with `compare` the fake-quant ones and their
    /// largest difference), the integer engine's headline metric names, and the parity.
    public static func run(_ m: IntegerModel, _ q: EvalRequest) throws
        -> (report: [String: Any], headlineKeys: [String], parity: LevelParity?) {
        let bs = q.batchSize, threads = q.threadCount
        var settings = SceneSettings()
        settings.size = m.input.height
        settings.seed = q.sceneSeed
        var run: LoadedSceneRun?
        var count = settings.testScenes
        // A run trained on COCO or VOC files is scored on its evaluation files.
        var filesConfig: RunConfig?
        if let compare = q.compare {
            let r = try LoadedSceneRun.load(compare, maxBatch: bs, threads: threads)
            run = r
            if r.config.data.dataset == .coco || r.config.data.dataset == .voc { filesConfig = r.config }
            settings = r.sceneSettings
            // The run's test set: its test scenes, or the first data.test_limit of them.
            let runLimit = r.config.data.testLimit
            count = runLimit > 0 ? min(runLimit, settings.testScenes) : settings.testScenes
        }
        if q.limit > 0 { count = q.limit }
        if q.compare == nil, q.scenes == nil, let name = m.info["data.dataset"], name == "coco" || name == "voc" {
            let beside = ((q.model as NSString).deletingLastPathComponent as NSString).appendingPathComponent("config.yaml")
            guard FileManager.default.fileExists(atPath: beside) else {
                throw ToolError("\(q.model): trained on data.dataset \(name); score it with --compare RUN (or keep the run's config.yaml beside it)")
            }
            filesConfig = try ConfigLoader.load(path: beside)
        }
        let test = try filesConfig.map { try SceneTestScenes.render(try TrainingContext.annotated($0, normalization: .identity, badFiles: nil).1) }
            ?? q.scenes.map { try SceneTestScenes.read(directory: $0, limit: q.limit) }
            ?? SceneTestScenes.compose(data: try EvalData.resolve(data: q.data, compare: q.compare, model: m, modelPath: q.model).root,
                                       settings: settings, count: count)
        guard test.size == m.input.height, test.channels == m.input.channels else {
            throw ToolError("\(test.source): scenes are \(test.channels)x\(test.size)x\(test.size), the model takes \(m.input.channels)x\(m.input.height)x\(m.input.width)")
        }
        guard m.task != .segmentation || test.masks != nil else {
            throw ToolError("\(test.source): scenes without class masks, a segmentation model needs them")
        }
        guard q.cocoResults == nil || m.task == .centernet else {
            throw ToolError(usage: "--coco-results: \(q.model) is a segmentation model, it makes no detections")
        }
        let ev = SceneEvaluation(model: m, scenes: test, batch: bs, threads: threads)
        var maps = q.saveOutputs == nil ? [] : [Float](repeating: 0, count: test.count * m.logits.count)
        let (integer, seconds) = q.saveOutputs == nil ? try ev.integer(q.arithmetic)
            : try maps.withUnsafeMutableBufferPointer { try ev.integer(q.arithmetic, outputs: $0.baseAddress!) }
        if let path = q.saveOutputs { try writeRawFloats(maps, to: path) }
        var report: [String: Any] = ["model": q.model, "task": m.task.rawValue, "scenes": test.count, "source": test.source,
                                     "threads": threads, "batch": bs, "arithmetic": q.arithmetic.rawValue,
                                     "integer": integer.metrics(test), "images_per_second_integer": Double(test.count) / seconds]
        if let path = q.cocoResults {
            try CocoDetection.writeResults(integer.detections, to: path)
            report["coco_results"] = path
            report["coco_detections"] = integer.detections.count
        }
        guard let run, let compare = q.compare else { return (report, integer.headlineKeys, nil) }
        let pool = threads > 1 ? ThreadPool(threads: threads) : nil
        let c = try ev.compare(run.net, quantizers: run.policy.activationQuantizers, pool: pool, arithmetic: q.arithmetic,
                               integer: integer)
        report.merge(c.report) { _, new in new }
        report["compare"] = compare
        report["images_per_second_fakequant"] = Double(test.count) / c.seconds
        return (report, integer.headlineKeys, c.parity)
    }
}
