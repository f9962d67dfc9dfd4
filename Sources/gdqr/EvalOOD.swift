// `gdqr eval MODEL --ood SET ...`: how well a classifier's scores tell its test images
// (in-distribution) from other images (out-of-distribution). MODEL is a .gdqr (the
// integer engine), a run folder (its fake-quant network, or FP32 for an FP32 run) or a
// .safetensors file. A SET is `heldout` (the test images of the labels the run held out
// with data.classes), a transform of the test images (OODTransform), an IDX images file,
// an MNIST-layout folder (its t10k images) or a folder of PNG/JPEG images. Scores: the
// logit scores (Evaluation/LogitScores) and Mahalanobis on the classifier's input
// features fitted on the training split; each reported as AUROC, AUPR and FPR95.

import ArgumentParser
import Foundation
import Datasets
import Evaluation
import Export
import IntegerInference

extension Eval {
    static let oodScoreNames = ["msp", "max_logit", "energy", "mahalanobis"]

    func runOOD() throws {
        let bs = max(1, batch), threads = max(1, self.threads)
        let scorer: OODScorer
        let data: EvalData
        if model.hasSuffix(".\(ModelFile.fileExtension)") {
            let m = try ModelFile.read(model)
            guard m.task == .classification else {
                throw ExportError("\(model): a \(m.task.rawValue) model; --ood scores classifiers")
            }
            data = try EvalData.resolve(data: self.data, compare: compare, model: m, modelPath: model)
            scorer = try IntegerScorer(m, path: model, batch: bs, threads: threads)
        } else {
            let (s, cfg, cfgPath) = try FloatScorer.load(model, batch: bs, threads: threads)
            data = try self.data.map { _ in try EvalData.resolve(data: self.data, compare: nil, model: nil, modelPath: model) }
                ?? EvalData(cfg, origin: cfgPath)
            scorer = s
        }
        let x = scorer.input
        let (test, heldOut) = try data.split(.test, limit: limit, classes: scorer.classes, channels: x.channels, size: x.height)
        let train = try data.split(.train, limit: fitLimit, classes: scorer.classes, channels: x.channels, size: x.height).images
        try scorer.check(test)
        try scorer.check(train)
        guard test.classes == scorer.classes else {
            throw ExportError("\(test.source): \(test.classes) classes, the model has \(scorer.classes) outputs")
        }

        let fit = scorer.run(train)
        let maha = try MahalanobisModel(features: fit.features, labels: train.labels.map(Int.init),
                                        dimension: scorer.featureCount, classes: scorer.classes)
        func scores(_ out: (logits: [Float], features: [Float])) -> [String: [Double]] {
            var s: [String: [Double]] = [:]
            s["msp"] = LogitScores.scores(.msp, out.logits, classes: scorer.classes)
            s["max_logit"] = LogitScores.scores(.maxLogit, out.logits, classes: scorer.classes)
            s["energy"] = LogitScores.scores(.energy, out.logits, classes: scorer.classes, temperature: temperature)
            s["mahalanobis"] = maha.scores(out.features)
            return s
        }
        let id = scorer.run(test)
        let correct = id.logits.withUnsafeBufferPointer { p in
            (0..<test.count).filter { argmax(p.baseAddress! + $0 * scorer.classes, scorer.classes) == Int(test.labels[$0]) }.count
        }
        let idScores = scores(id)

        var sets: [[String: Any]] = []
        for spec in ood {
            let images = try oodImages(spec, test: test, heldOut: heldOut, channels: x.channels, size: x.height)
            try scorer.check(images)
            let s = scores(scorer.run(images))
            var metrics: [String: Any] = [:]
            for name in Self.oodScoreNames {
                let r = try OODMetrics.evaluate(inDistribution: idScores[name]!, outOfDistribution: s[name]!)
                metrics[name] = ["auroc": r.auroc, "aupr_in": r.auprIn, "aupr_out": r.auprOut, "fpr95": r.fprAt95TPR,
                                 "roc": OODMetrics.thinned(r.roc, maxPoints: 101).map { [$0.falsePositiveRate, $0.truePositiveRate] }] as [String: Any]
            }
            var entry: [String: Any] = ["name": spec, "source": images.source, "images": images.count, "scores": metrics]
            if perImage { entry["per_image"] = s }
            sets.append(entry)
        }
        var report: [String: Any] = [
            "model": model, "model_kind": scorer.kind, "temperature": temperature,
            "data": ["origin": data.origin, "dataset": data.dataset.rawValue, "root": data.root, "classes": data.kept] as [String: Any],
            "in_distribution": ["source": test.source, "images": test.count,
                                "accuracy": Double(correct) / Double(max(test.count, 1))] as [String: Any],
            "mahalanobis_fit": ["source": train.source, "images": train.count, "features": scorer.featureCount,
                                "covariance_rank": maha.rank] as [String: Any],
            "ood": sets,
        ]
        if perImage { report["per_image_in_distribution"] = idScores }
        let bytes = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        if let save {
            do { try bytes.write(to: URL(fileURLWithPath: save)) } catch {
                throw ExportError("\(save): cannot write: \(error.localizedDescription)")
            }
        }
        if json {
            print(String(decoding: bytes, as: UTF8.self))
            return
        }
        print("\(model): \(scorer.kind) model; data from \(data.origin)")
        print("in-distribution: \(test.count) images of \(test.source), accuracy "
              + String(format: "%.2f%%", 100 * Double(correct) / Double(max(test.count, 1))))
        print("Mahalanobis fit: \(train.count) images of \(train.source), \(scorer.featureCount) features (rank \(maha.rank))")
        print("set                  score        AUROC   AUPR-in  AUPR-out  FPR95")
        for set in sets {
            let m = set["scores"] as! [String: [String: Any]]
            for name in Self.oodScoreNames {
                let r = m[name]!
                let cols = ["auroc", "aupr_in", "aupr_out", "fpr95"].map { String(format: "%6.4f", r[$0] as! Double) }
                print(pad(set["name"] as! String, 20) + " " + pad(name, 11) + " " + cols.joined(separator: "   "))
            }
        }
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    /// The images of one --ood set (see the file comment).
    func oodImages(_ spec: String, test: ImageDataset, heldOut: ImageDataset?, channels: Int,
                   size: Int) throws -> ImageDataset {
        if spec == "heldout" {
            guard let heldOut, heldOut.count > 0 else {
                throw ValidationError("--ood heldout: the model's run keeps every label (no data.classes), nothing is held out")
            }
            return heldOut
        }
        if let t = OODTransform(rawValue: spec) { return try test.transformed(t) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec, isDirectory: &isDir) else {
            throw ValidationError("--ood \(spec): not heldout, \(OODTransform.allCases.map(\.rawValue).joined(separator: ", ")), "
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
