// At the end of a quantized run, rank 0 compares the integer model it has just
// written with the fake-quant model it trained, on the run's test split, and
// writes RUN/parity-TAG.json: for a classifier the keys of
// `gdqr eval RUN/model-TAG.gdqr --compare RUN --json` (each model's accuracy,
// top-1 agreement, largest and mean |logit difference|, per activation the
// largest level deviation in steps and the fraction of levels that differ); for
// a scene model the integer engine's and the fake-quant model's metrics, their
// largest difference, and the same per-activation levels. An image-folder run's
// test images stream through the loader; the report decodes the first
// `imageFolderParityLimit` of them as `gdqr eval` does (the pixels both models take).

import Foundation
import JSONFormat
import TensorEngine
import GDQR
import IntegerInference
import Export
import Evaluation
import Datasets

extension TrainingPipeline {
    /// An image-folder run's parity report scores at most this many test images (decoded
    /// into memory at once; the run's own evaluation streams them all).
    static let imageFolderParityLimit = 2048

    /// Writes RUN/parity-TAG.json for `integer`, folded from `model` (whose activation
    /// quantizers are `policy`'s); returns summary.json's "parity_agreement" (classifier)
    /// or "parity_max_metric_difference" (scenes), or nothing when there is no report.
    func writeParityReport(_ integer: IntegerModel, model: PhaseModel, policy: GDQRPolicy, tag: String) throws -> [String: Any] {
        guard let folder = ctx.folder else { return [:] }
        var report: [String: Any] = ["model": "model-\(tag).\(ModelFile.fileExtension)", "arithmetic": "int32",
                                     "batch": ctx.localBatch, "threads": ctx.threads]
        let summaryKey: String
        if let m = model as? ClassifierModel, let test = try ctx.test ?? ctx.folderTest.map({
            try ImageDataset.decoded($0.index.prefix(Self.imageFolderParityLimit), size: $0.settings.imageSize,
                                     channels: $0.settings.channels)
        }) {
            let engine = try IntegerEngine(integer, maxBatch: ctx.localBatch, threads: ctx.threads, arithmetic: .int32)
            let c = try ClassifierComparison(model: integer, engine: engine, net: m.net, quantizers: policy.activationQuantizers,
                                             pool: ctx.pool, pixels: test.pixels, labels: test.labels, batch: ctx.localBatch)
            report.merge(c.json) { _, new in new }
            report["source"] = test.source
            summaryKey = "agreement"
        } else if let m = model as? SceneModel {
            let scenes = try m.test.testScenes(source: "\(m.test.count) test scenes of the run")
            let ev = SceneEvaluation(model: integer, scenes: scenes, batch: ctx.localBatch, threads: ctx.threads)
            let scorer = try ev.integer(.int32).scorer
            let c = try ev.compare(m.net, quantizers: policy.activationQuantizers, pool: ctx.pool, arithmetic: .int32,
                                   integer: scorer)
            report.merge(c.report) { _, new in new }
            report["integer"] = scorer.metrics(scenes)
            report["scenes"] = scenes.count
            summaryKey = "max_metric_difference"
        } else {
            return [:]
        }
        let path = folder.file("parity-\(tag).json")
        try folder.write("parity-\(tag).json", JSON.pretty(report))
        ctx.progress.line("wrote \(path): integer engine vs fake-quant, \(summaryKey) \(report[summaryKey]!)")
        return ["parity_" + summaryKey: report[summaryKey]!]
    }
}
