// `gdqr scenes fit` (hidden): trains a SceneNetwork (ResNet + CenterNet or FCN
// head, FP32) on Fashion-MNIST scenes with SGD and a cosine schedule, then
// evaluates on test scenes: for detection it writes instances.json and a COCO
// results file and prints mAP / mAP@0.5; for segmentation it prints mIoU with and
// without background, pixel accuracy and the confusion matrix. A first
// measurement of the heads on real scenes until the trainer learns these models.

import ArgumentParser
import Foundation
import TensorEngine
import Layers
import Datasets
import Evaluation

struct ScenesFit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fit", abstract: "Train and evaluate a scene model (FP32).")
    @Option(help: "resnet-centernet or resnet-fcn.") var kind: String = "resnet-centernet"
    @Option(help: "Output directory (test scenes, detections).") var out: String
    @Option(help: "Training scenes.") var train: Int = 2000
    @Option(help: "Test scenes.") var test: Int = 200
    @Option(help: "SGD steps.") var steps: Int = 300
    @Option(help: "Batch size.") var batch: Int = 32
    @Option(help: "Peak learning rate (cosine decay to 0).") var lr: Float = 0.05
    @Option(help: "Clip the global gradient norm to this (0 = off).") var clip: Float = 0
    @Option(help: "ResNet depth (6n+2).") var depth: Int = 8
    @Option(help: "ResNet width.") var width: Int = 16
    @Option(help: "Threads.") var threads: Int = 2
    @Option(help: "Seed (scenes and initialisation).") var seed: UInt64 = 0
    @Option(help: "MNIST-layout data directory.") var data: String = ImageDataset.defaultFashionMNISTDirectory

    func run() throws {
        guard let k = SceneNetwork.Kind(rawValue: kind) else { throw ValidationError("--kind must be resnet-centernet or resnet-fcn, got \(kind)") }
        var settings = SceneSettings()
        settings.seed = seed; settings.trainScenes = train; settings.testScenes = test
        let trainSet = try SceneComposer(source: try ImageDataset.fashionMNIST(directory: data, split: .train), split: .train, settings: settings)
        let testSet = try SceneComposer(source: try ImageDataset.fashionMNIST(directory: data, split: .test), split: .test, settings: settings)
        let size = settings.size, px = size * size
        let net = SceneNetwork(kind: k, depth: depth, width: width, input: FeatureShape(1, size, size), classes: 10,
                               maxBatch: batch, threads: threads, seed: seed)
        let pool: ThreadPool? = threads > 1 ? ThreadPool(threads: threads) : nil
        let rt = Runtime(arena: net.arena, pool: pool)
        let sgd = SGD(arena: net.arena, settings: SGDSettings(momentum: 0.9, nesterov: true, weightDecay: 1e-4, gradClipNorm: clip))
        var images = [Float](repeating: 0, count: batch * px), labels = [Int32](repeating: 0, count: batch * px)
        let o = net.outputShape, cells = o.height * o.width
        var heat = [Float](repeating: 0, count: batch * 10 * cells)
        func load(_ scenes: [Scene]) {
            for (i, sc) in scenes.enumerated() {
                for j in 0..<px { images[i * px + j] = Float(sc.image[j]) / 255; labels[i * px + j] = Int32(sc.mask[j]) }
            }
        }
        func boxes(_ sc: Scene) -> [LabeledBox] {
            sc.objects.map { LabeledBox(classId: $0.classId, x: Double($0.box.x0), y: Double($0.box.y0),
                                        w: Double($0.box.width), h: Double($0.box.height)) }
        }
        let start = Date()
        var recent: [Float] = []
        for step in 0..<steps {
            let scenes = (0..<batch).map { trainSet.scene((step * batch + $0) % train) }
            load(scenes)
            let out = images.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: batch, rt: rt) }
            let loss: Float
            if k == .fcn {
                loss = labels.withUnsafeBufferPointer { net.backwardSegmentation(output: out, labels: $0.baseAddress!, batch: batch, rt: rt).loss }
            } else {
                var sizeT: [CenterTarget] = [], offT: [CenterTarget] = []
                heat.withUnsafeMutableBufferPointer { h in
                    for (i, sc) in scenes.enumerated() {
                        let t = CenterNetTargets.build(boxes(sc), sample: i, stride: net.stride, classes: 10, height: o.height,
                                                       width: o.width, heatmap: h.baseAddress! + i * 10 * cells)
                        sizeT += t.size; offT += t.offset
                    }
                }
                loss = heat.withUnsafeBufferPointer {
                    net.backwardDetection(output: out, heatmapTargets: $0.baseAddress!, size: sizeT, offset: offT, batch: batch, rt: rt).total
                }
            }
            guard loss.isFinite else { throw ValidationError("non-finite loss at step \(step)") }
            recent.append(loss)
            _ = sgd.step(lr: lr * 0.5 * (1 + Float(cos(Double.pi * Double(step) / Double(steps)))))
            if (step + 1) % 50 == 0 || step + 1 == steps {
                let mean = recent.reduce(0, +) / Float(recent.count)
                recent.removeAll()
                FileHandle.standardError.write(String(format: "step %d loss %.4f (%.0f s)\n", step + 1, mean, Date().timeIntervalSince(start)).data(using: .utf8)!)
            }
        }
        rt.training = false
        let testScenes = (0..<test).map { testSet.scene($0) }
        var summary: [String: Any] = ["kind": kind, "steps": steps, "batch": batch, "train_scenes": train, "test_scenes": test,
                                      "train_seconds": Date().timeIntervalSince(start)]
        var dets: [CocoDetection] = [], confusion = ConfusionMatrix(classes: 11)
        for first in stride(from: 0, to: test, by: batch) {
            let chunk = Array(testScenes[first..<min(test, first + batch)])
            load(chunk)
            let out = images.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: chunk.count, rt: rt) }
            for (i, sc) in chunk.enumerated() {
                if k == .fcn {
                    var pred = [UInt8](repeating: 0, count: px)
                    let base = out + i * 11 * px
                    for j in 0..<px {
                        var best = 0
                        for c in 1..<11 where base[c * px + j] > base[best * px + j] { best = c }
                        pred[j] = UInt8(best)
                    }
                    confusion.add(truth: sc.mask, predicted: pred)
                } else {
                    let base = out + i * o.count
                    for d in CenterNetTargets.decode(heatmap: base, size: base + 10 * cells, offset: base + 12 * cells, classes: 10,
                                                     height: o.height, width: o.width, stride: net.stride) {
                        dets.append(CocoDetection(imageId: first + i + 1, categoryId: d.box.classId,
                                                  bbox: [d.box.x, d.box.y, d.box.w, d.box.h], score: Double(d.score)))
                    }
                }
            }
        }
        if k == .fcn {
            for (key, v) in confusion.summary.json { summary[key] = v }
        } else {
            let truth = try SceneFiles.write(testScenes, to: out)
            let results = URL(fileURLWithPath: out).appendingPathComponent("detections.json").path
            try CocoDetection.writeResults(dets, to: results)
            let m = DetectionMetrics.evaluate(truth: truth, detections: dets)
            summary["map"] = m.mAP; summary["map50"] = m.mAP50; summary["map75"] = m.mAP75
            summary["detections"] = dets.count
        }
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try json.write(to: URL(fileURLWithPath: out).appendingPathComponent("summary.json"))
        print(String(decoding: json, as: UTF8.self))
    }
}
