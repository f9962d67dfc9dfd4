// `gdqr scenes` (hidden): writes Fashion-MNIST scenes as PGM images + COCO JSON,
// makes a deterministic set of perturbed detections from ground truth, and
// computes our COCO mAP on a (truth, results) pair. Used by
// Tests/scripts/coco-map-check.sh to compare our metric with the reference
// COCO evaluation on the same files.

import ArgumentParser
import Foundation
import TensorEngine
import Datasets
import Evaluation

struct ScenesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenes", abstract: "Scenes dataset files and COCO metric checks.", shouldDisplay: false,
        subcommands: [ScenesWrite.self, ScenesFakeDetections.self, ScenesMAP.self])
}

struct ScenesWrite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "write", abstract: "Compose scenes and write images, masks and instances.json.")
    @Option(help: "Output directory.") var out: String
    @Option(help: "train or test.") var split: String = "test"
    @Option(help: "Number of scenes.") var count: Int = 100
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Canvas size.") var size: Int = 64
    @Option(help: "MNIST-layout data directory.") var data: String = ImageDataset.defaultFashionMNISTDirectory

    func run() throws {
        guard let sp = ImageDataset.Split(rawValue: split) else { throw ValidationError("--split must be train or test, got \(split)") }
        var s = SceneSettings()
        s.seed = seed; s.size = size
        if sp == .train { s.trainScenes = count } else { s.testScenes = count }
        let composer = try SceneComposer(source: try ImageDataset.fashionMNIST(directory: data, split: sp), split: sp, settings: s)
        let coco = try SceneFiles.write((0..<count).map { composer.scene($0) }, to: out)
        print("wrote \(coco.images.count) scenes with \(coco.annotations.count) boxes to \(out)")
    }
}

struct ScenesFakeDetections: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-detections",
        abstract: "Deterministic detections from ground truth: jittered boxes, duplicates, wrong classes, misses, false positives.")
    @Option(help: "Ground-truth instances.json.") var truth: String
    @Option(help: "Results JSON to write.") var out: String
    @Option(help: "Seed.") var seed: UInt64 = 1

    func run() throws {
        let gt = try CocoInstances.read(path: truth)
        let sizes = Dictionary(uniqueKeysWithValues: gt.images.map { ($0.id, ($0.width, $0.height)) })
        let cats = gt.categories.map(\.id)
        var dets: [CocoDetection] = []
        // Clip a box to its image, keeping it non-empty.
        func clipped(_ b: [Double], _ im: Int) -> [Double] {
            let (w, h) = sizes[im]!
            let x0 = min(max(b[0], 0), Double(w) - 1), y0 = min(max(b[1], 0), Double(h) - 1)
            let x1 = max(min(b[0] + b[2], Double(w)), x0 + 0.5), y1 = max(min(b[1] + b[3], Double(h)), y0 + 0.5)
            return [x0, y0, x1 - x0, y1 - y0].map { ($0 * 100).rounded() / 100 }
        }
        for a in gt.annotations {
            var rng = CounterRNG(seed: seed, stream: UInt64(a.id))
            if rng.nextUniform() < 0.15 { continue }                       // miss
            let spread = Double(rng.nextUniform()) * 0.25                 // from exact to loose
            let b = a.bbox
            let j = (0..<4).map { _ in Double(rng.nextNormal()) * spread }
            let box = [b[0] + j[0] * b[2], b[1] + j[1] * b[3], b[2] * exp(j[2]), b[3] * exp(j[3])]
            let cat = rng.nextUniform() < 0.08 ? cats[rng.nextInt(below: cats.count)] : a.categoryId
            // Tighter boxes tend to score higher, with noise, so the ranking matters.
            let score = (((1 - spread * 2) * 0.6 + Double(rng.nextUniform()) * 0.4) * 1000).rounded() / 1000
            dets.append(CocoDetection(imageId: a.imageId, categoryId: cat, bbox: clipped(box, a.imageId), score: score))
            if rng.nextUniform() < 0.1 {                                   // duplicate, lower score
                let d = (0..<2).map { _ in Double(rng.nextNormal()) * 0.1 }
                dets.append(CocoDetection(imageId: a.imageId, categoryId: cat,
                                          bbox: clipped([box[0] + d[0] * b[2], box[1] + d[1] * b[3], box[2], box[3]], a.imageId),
                                          score: (score * 0.8 * 1000).rounded() / 1000))
            }
        }
        for im in gt.images {
            var rng = CounterRNG(seed: seed, stream: 0xF00D_0000 + UInt64(im.id))
            for _ in 0..<rng.nextInt(below: 3) {                          // false positives
                let w = 8 + Double(rng.nextInt(below: 30)), h = 8 + Double(rng.nextInt(below: 30))
                let x = Double(rng.nextInt(below: max(1, im.width - Int(w)))), y = Double(rng.nextInt(below: max(1, im.height - Int(h))))
                dets.append(CocoDetection(imageId: im.id, categoryId: cats[rng.nextInt(below: cats.count)],
                                          bbox: clipped([x, y, w, h], im.id), score: (Double(rng.nextUniform()) * 0.7 * 1000).rounded() / 1000))
            }
        }
        try CocoDetection.writeResults(dets, to: out)
        print("wrote \(dets.count) detections for \(gt.annotations.count) ground-truth boxes to \(out)")
    }
}

struct ScenesMAP: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "map", abstract: "Our COCO mAP of a results file against ground truth.")
    @Option(help: "Ground-truth instances.json.") var truth: String
    @Option(help: "COCO results JSON.") var results: String

    func run() throws {
        let gt = try CocoInstances.read(path: truth)
        let s = DetectionMetrics.evaluate(truth: gt, detections: try CocoDetection.readResults(path: results, truth: gt))
        print(String(format: "{\"map\": %.10f, \"map50\": %.10f, \"map75\": %.10f}", s.mAP, s.mAP50, s.mAP75))
    }
}
