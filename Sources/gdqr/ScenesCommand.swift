// `gdqr scenes` (hidden): writes Fashion-MNIST scenes as PGM images + COCO JSON, or in
// the COCO (PNG images) and VOC segmentation layouts the trainer reads (--format),
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
    static let configuration = CommandConfiguration(commandName: "write", abstract: "Compose scenes and write images, masks and instances.json, or a COCO or VOC layout.")
    @Option(help: "Output directory.") var out: String
    @Option(help: "train or test.") var split: String = "test"
    @Option(help: "Number of scenes.") var count: Int = 100
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Canvas size.") var size: Int = 64
    @Option(help: "MNIST-layout data directory.") var data: String = ImageDataset.defaultFashionMNISTDirectory
    @Option(help: "pgm (images/, masks/, instances.json), coco (SPLIT/*.png, annotations/instances_SPLIT.json) or voc (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/SPLIT.txt); SPLIT is train or val.") var format: String = "pgm"
    @Option(help: "Scene settings as the trainer's data.scene_min_items, scene_max_items, scene_min_scale, scene_max_scale.") var items: String = "1,6,0.5,2.0"

    func run() throws {
        guard let sp = ImageDataset.Split(rawValue: split) else { throw ValidationError("--split must be train or test, got \(split)") }
        var s = SceneSettings()
        s.seed = seed; s.size = size
        let p = items.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard p.count == 4, let lo = Int(p[0]), let hi = Int(p[1]), let a = Double(p[2]), let b = Double(p[3]) else {
            throw ValidationError("--items must be MIN_ITEMS,MAX_ITEMS,MIN_SCALE,MAX_SCALE, got \(items)")
        }
        (s.minItems, s.maxItems, s.minScale, s.maxScale) = (lo, hi, a, b)
        if sp == .train { s.trainScenes = count } else { s.testScenes = count }
        let composer = try SceneComposer(source: try ImageDataset.fashionMNIST(directory: data, split: sp), split: sp, settings: s)
        let scenes = (0..<count).map { composer.scene($0) }
        let name = sp == .train ? "train" : "val"
        switch format {
        case "pgm":
            let coco = try SceneFiles.write(scenes, to: out)
            print("wrote \(coco.images.count) scenes with \(coco.annotations.count) boxes to \(out)")
        case "coco":
            let coco = try SceneLayouts.writeCOCO(scenes, root: out, split: name)
            print("wrote \(coco.images.count) scenes with \(coco.annotations.count) boxes to \(out)/\(name) and \(out)/annotations/instances_\(name).json")
        case "voc":
            let ids = try SceneLayouts.writeVOC(scenes, root: out, split: name)
            print("wrote \(ids.count) scenes and masks to \(out) (ImageSets/Segmentation/\(name).txt)")
        default:
            throw ValidationError("--format must be pgm, coco or voc, got \(format)")
        }
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
