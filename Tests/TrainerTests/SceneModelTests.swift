import Foundation
import XCTest
import Datasets
import Evaluation
import Distributed
import Layers
import GDQR
@testable import Trainer

/// The scene models' evaluators: detections of each test scene land in that
/// scene's slots, so shards summed across ranks equal one rank's evaluation;
/// perfect detections score mAP 1; the segmentation sums are a confusion matrix
/// over every test pixel.
final class SceneModelTests: XCTestCase {
    func context(_ kind: String) throws -> TrainingContext {
        guard FileManager.default.fileExists(atPath: ImageDataset.defaultFashionMNISTDirectory) else {
            throw XCTSkip("\(ImageDataset.defaultFashionMNISTDirectory) not present")
        }
        let yaml = """
            model: {kind: \(kind), depth: 8, width: 8, image_size: 32, head_channels: 8}
            data: {dataset: fashion-scenes, scene_size: 32, train_scenes: 8, test_scenes: 12, crop_padding: 0, hflip: false}
            train: {batch_size: 4, threads: 1}
            """
        let config = try ConfigLoader.load(yaml: yaml, sourceName: "scenes-test.yaml")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("scene-model-tests-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: out) }
        var options = TrainOptions(outDir: out)
        options.quiet = true
        return try TrainingContext(config: config, comm: LocalCommunicator(), options: options)
    }

    /// The evaluator's sums over the test shard of `rank` of `world`.
    func totals(_ model: PhaseModel, _ ctx: TrainingContext, rank: Int, world: Int) throws -> [Double] {
        let rt = Runtime(arena: model.arena, pool: nil)
        rt.training = false
        let evaluator = model.makeEvaluator()
        for b in try EvalBatches(dataset: ctx.test, batchSize: 4, rank: rank, worldSize: world,
                                 normalization: ctx.normalization) {
            evaluator.add(b, rt: rt)
        }
        return evaluator.totals
    }

    func testShardsSumToTheSingleRankEvaluation() throws {
        for kind in ["resnet-centernet", "resnet-fcn"] {
            let ctx = try context(kind)
            let model = ctx.makeModel(policy: nil)
            let whole = try totals(model, ctx, rank: 0, world: 1)
            let parts = try (0..<3).map { try totals(model, ctx, rank: $0, world: 3) }
            let summed = parts.dropFirst().reduce(parts[0]) { zip($0, $1).map { $0 + $1 } }
            XCTAssertEqual(summed.count, whole.count, kind)
            // Each scene is one shard's; loss sums may round differently, counts may not.
            let exactFrom = kind == "resnet-fcn" ? 1 : 0
            XCTAssertEqual(Array(summed[exactFrom...]), Array(whole[exactFrom...]), kind)
            if kind == "resnet-fcn" { XCTAssertEqual(summed[0], whole[0], accuracy: 1e-9 * abs(whole[0])) }
            XCTAssertFalse(parts.contains { $0 == whole }, "\(kind): every shard holds only part of the test set")
        }
    }

    func testPerfectDetectionsScoreOne() throws {
        let ctx = try context("resnet-centernet")
        let model = try XCTUnwrap(ctx.makeModel(policy: nil) as? SceneDetectionModel)
        let evaluator = DetectionEvaluator(model)
        let k = SceneDetectionModel.detectionsPerScene, f = DetectionEvaluator.fields
        var t = evaluator.totals
        XCTAssertEqual(t.count, 12 * k * f)
        var boxes = 0
        for scene in 0..<12 {
            for (j, o) in try XCTUnwrap(model.test.composed).objects[scene].enumerated() {
                let v = [0.9, Double(o.classId), Double(o.box.x0), Double(o.box.y0), Double(o.box.width), Double(o.box.height)]
                t.replaceSubrange(((scene * k + j) * f)..<((scene * k + j + 1) * f), with: v)
                boxes += 1
            }
        }
        let perfect = evaluator.finish(t)
        XCTAssertEqual(perfect.primary, 1, accuracy: 1e-12)
        XCTAssertEqual(perfect.metrics["map50"] as? Double ?? -1, 1, accuracy: 1e-12)
        XCTAssertEqual(perfect.metrics["detections"] as? Int, boxes)
        // The first box of scene 0 given a wrong class: a false positive and a missed object.
        t[1] = Double(t[1] == 1 ? 2 : 1)
        XCTAssertLessThan(evaluator.finish(t).metrics["map50"] as? Double ?? 1, 1)
    }

    func testSegmentationSumsAreAConfusionMatrixOfEveryPixel() throws {
        let ctx = try context("resnet-fcn")
        let model = try XCTUnwrap(ctx.makeModel(policy: nil) as? SceneSegmentationModel)
        let t = try totals(model, ctx, rank: 0, world: 1)
        XCTAssertEqual(t.count, 2 + 11 * 11)
        XCTAssertEqual(t[1], Double(12 * 32 * 32))
        XCTAssertEqual(t[2...].reduce(0, +), Double(12 * 32 * 32))
        // Rows are the true classes: their sums are the test masks' class histogram.
        var histogram = [Double](repeating: 0, count: 11)
        for v in try XCTUnwrap(model.test.composed).masks { histogram[Int(v)] += 1 }
        var rows = [Double](repeating: 0, count: 11), diagonal = 0.0
        for r in 0..<11 {
            for c in 0..<11 { rows[r] += t[2 + r * 11 + c] }
            diagonal += t[2 + r * 12]
        }
        XCTAssertEqual(rows, histogram)
        let e = SegmentationEvaluator(model).finish(t)
        XCTAssertEqual(e.metrics["pixel_accuracy"] as? Double ?? -1, diagonal / Double(12 * 32 * 32), accuracy: 1e-15)
        XCTAssertEqual(e.loss ?? 0, t[0] / t[1], accuracy: 1e-12)
        XCTAssertEqual(e.primary, e.metrics["miou"] as? Double ?? -1)
    }

    /// The quantization snapshot's layer plan names the quantizers a quantized
    /// scene network really builds, and uses every activation quantizer.
    func testQuantizationPlanMatchesTheBuiltSceneNetworks() throws {
        let spec = ModelSpec(arch: .resnet, depth: 14, width: 8, numClasses: 10, input: FeatureShape(1, 16, 16))
        for (kind, netKind) in [(ModelConfig.Kind.centerNet, SceneNetwork.Kind.centerNet), (.fcn, .fcn)] {
            let policy = try GDQRPolicy(QuantSettings(), model: spec)
            let net = SceneNetwork(kind: netKind, depth: 14, width: 8, input: spec.input, classes: 10, maxBatch: 2,
                                   threads: 1, seed: 1, headChannels: 8, policy: policy)
            let plan = QuantizationSnapshot.plan(spec, kind: kind)
            let weights = Set(policy.weightQuantizers.map(\.layer)), acts = Set(policy.activationQuantizers.map(\.name))
            XCTAssertEqual(Set(plan.map(\.name)), weights, "\(kind)")
            XCTAssertEqual(Set(plan.compactMap(\.input)), acts, "\(kind)")
            for l in plan where l.name.hasPrefix("head.") && l.position == .last {
                XCTAssertEqual(policy.weightQuantizers.first { $0.layer == l.name }?.bits, 8, "\(l.name) at last-layer bits")
            }
            let states = QuantizationSnapshot.layers(policy: policy, arena: net.arena, plan: plan, activationClip: [])
            XCTAssertEqual(states.count, plan.count, "\(kind)")
        }
    }
}
