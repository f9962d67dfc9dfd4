// Out-of-distribution detection: how well a classifier's scores tell its test images
// (in-distribution) from other images. The model is a .gdqr (the integer engine), a
// run folder (its fake-quant network, or FP32 for an FP32 run) or a .safetensors file
// (OODScorers.swift). A set is `heldout` (the test images of the labels the run held
// out with data.classes), a transform of the test images (OODTransform), an IDX images
// file, an MNIST-layout folder (its t10k images) or a folder of PNG/JPEG images.
// Scores: the logit scores (Evaluation/LogitScores) and Mahalanobis on the
// classifier's input features fitted on the training split; each reported as AUROC,
// AUPR and FPR95.

import Foundation
import TensorEngine
import IntegerInference
import Datasets
import Evaluation
import Export

public enum OODEval {
    public static let scoreNames = ["msp", "max_logit", "energy", "mahalanobis"]

    /// The JSON-ready report: the model and data, in-distribution accuracy, the
    /// Mahalanobis fit, and per set and score AUROC, AUPR-in/out, FPR95 and a thinned ROC.
    public static func run(_ q: EvalRequest) throws -> [String: Any] {
        let bs = q.batchSize, threads = q.threadCount
        let scorer: OODScorer
        let data: EvalData
        if q.model.hasSuffix(".\(ModelFile.fileExtension)") {
            let m = try ModelFile.read(q.model)
            guard m.task == .classification else {
                throw ToolError("\(q.model): a \(m.task.rawValue) model; --ood scores classifiers")
            }
            data = try EvalData.resolve(data: q.data, compare: q.compare, model: m, modelPath: q.model)
            scorer = try IntegerScorer(m, path: q.model, batch: bs, threads: threads)
        } else {
            let (s, cfg, cfgPath) = try FloatScorer.load(q.model, batch: bs, threads: threads)
            data = try q.data.map { _ in try EvalData.resolve(data: q.data, compare: nil, model: nil, modelPath: q.model) }
                ?? EvalData(cfg, origin: cfgPath)
            scorer = s
        }
        let x = scorer.input
        let (test, heldOut) = try data.split(.test, limit: q.limit, classes: scorer.classes, channels: x.channels, size: x.height)
        let train = try data.split(.train, limit: q.fitLimit, classes: scorer.classes, channels: x.channels, size: x.height).images
        try scorer.check(test)
        try scorer.check(train)
        guard test.classes == scorer.classes else {
            throw ToolError("\(test.source): \(test.classes) classes, the model has \(scorer.classes) outputs")
        }

        let fit = scorer.run(train)
        let maha = try MahalanobisModel(features: fit.features, labels: train.labels.map(Int.init),
                                        dimension: scorer.featureCount, classes: scorer.classes)
        func scores(_ out: (logits: [Float], features: [Float])) -> [String: [Double]] {
            var s: [String: [Double]] = [:]
            s["msp"] = LogitScores.scores(.msp, out.logits, classes: scorer.classes)
            s["max_logit"] = LogitScores.scores(.maxLogit, out.logits, classes: scorer.classes)
            s["energy"] = LogitScores.scores(.energy, out.logits, classes: scorer.classes, temperature: q.temperature)
            s["mahalanobis"] = maha.scores(out.features)
            return s
        }
        let id = scorer.run(test)
        let correct = id.logits.withUnsafeBufferPointer { p in
            (0..<test.count).filter { argmax(p.baseAddress! + $0 * scorer.classes, scorer.classes) == Int(test.labels[$0]) }.count
        }
        let idScores = scores(id)

        var sets: [[String: Any]] = []
        for spec in q.ood {
            let images = try self.images(spec, test: test, heldOut: heldOut, channels: x.channels, size: x.height)
            try scorer.check(images)
            let s = scores(scorer.run(images))
            var metrics: [String: Any] = [:]
            for name in scoreNames {
                let r = try OODMetrics.evaluate(inDistribution: idScores[name]!, outOfDistribution: s[name]!)
                metrics[name] = ["auroc": r.auroc, "aupr_in": r.auprIn, "aupr_out": r.auprOut, "fpr95": r.fprAt95TPR,
                                 "roc": OODMetrics.thinned(r.roc, maxPoints: 101).map { [$0.falsePositiveRate, $0.truePositiveRate] }] as [String: Any]
            }
            var entry: [String: Any] = ["name": spec, "source": images.source, "images": images.count, "scores": metrics]
            if q.perImage { entry["per_image"] = s }
            sets.append(entry)
        }
        var report: [String: Any] = [
            "model": q.model, "model_kind": scorer.kind, "temperature": q.temperature,
            "data": ["origin": data.origin, "dataset": data.dataset.rawValue, "root": data.root, "classes": data.kept] as [String: Any],
            "in_distribution": ["source": test.source, "images": test.count,
                                "accuracy": Double(correct) / Double(max(test.count, 1))] as [String: Any],
            "mahalanobis_fit": ["source": train.source, "images": train.count, "features": scorer.featureCount,
                                "covariance_rank": maha.rank] as [String: Any],
            "ood": sets,
        ]
        if q.perImage { report["per_image_in_distribution"] = idScores }
        return report
    }

    /// The images of one out-of-distribution set (see the file comment).
    static func images(_ spec: String, test: ImageDataset, heldOut: ImageDataset?, channels: Int,
                       size: Int) throws -> ImageDataset {
        if spec == "heldout" {
            guard let heldOut, heldOut.count > 0 else {
                throw ToolError(usage: "--ood heldout: the model's run keeps every label (no data.classes), nothing is held out")
            }
            return heldOut
        }
        if let t = OODTransform(rawValue: spec) { return try test.transformed(t) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec, isDirectory: &isDir) else {
            throw ToolError(usage: "--ood \(spec): not heldout, \(OODTransform.allCases.map(\.rawValue).joined(separator: ", ")), "
                + "nor an existing IDX file or folder")
        }
        if !isDir.boolValue {
            let idx = try IDX.readImages(path: spec)
            return try ImageDataset(pixels: idx.pixels, labels: [Int32](repeating: 0, count: idx.count), channels: 1,
                                    height: idx.rows, width: idx.cols, classes: 1, source: spec)
        }
        if (try? ImageDataset.resolve("t10k-images-idx3-ubyte", in: spec)) != nil {
            return try ImageDataset.mnistLayout(directory: spec, split: .test, limit: 0, classes: 256)
        }
        return try ImageDataset.imageFiles(directory: spec, size: size, channels: channels)
    }
}
