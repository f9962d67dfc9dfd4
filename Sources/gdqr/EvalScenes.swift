// `gdqr eval` on a scene model (a .gdqr whose task is centernet or segmentation):
// the integer engine on test scenes, and with --compare the fake-quant
// SceneNetwork of the run on the same scenes (Sources/Evaluation/SceneScoring.swift).

import ArgumentParser
import Foundation
import TensorEngine
import Layers
import GDQR
import IntegerInference
import Datasets
import Evaluation
import Trainer

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
            ?? SceneTestScenes.compose(data: try EvalData.resolve(data: data, compare: compare, model: m, modelPath: model).root,
                                       settings: settings, count: count)
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
            let c = try ev.compare(net, quantizers: policy.activationQuantizers, pool: pool, arithmetic: arith, integer: integer)
            parity = c.parity
            report.merge(c.report) { _, new in new }
            report["compare"] = compare
            report["images_per_second_fakequant"] = Double(test.count) / c.seconds
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
