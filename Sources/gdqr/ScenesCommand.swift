// `gdqr scenes` (hidden): writes Fashion-MNIST scenes as PGM images + COCO JSON,
// makes a deterministic set of perturbed detections from ground truth, and
// computes our COCO mAP on a (truth, results) pair. Used by
// Tests/scripts/coco-map-check.sh to compare our metric with the reference
// COCO evaluation on the same files.

import ArgumentParser
import Foundation
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
        let dets = FakeDetections.make(truth: gt, seed: seed)
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
