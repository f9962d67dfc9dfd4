import Foundation
import XCTest
@testable import Trainer

/// data.dataset coco and voc: the keys, the cross-checks with the scene heads
/// (messages asserted), and the two committed configs.
final class AnnotatedConfigTests: XCTestCase {
    private let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let coco = """
        model:
          kind: resnet-centernet
          image_size: 48
          num_classes: 3
        data:
          dataset: coco
          train_annotations: /d/annotations/instances_train.json
          train_images: /d/train
          val_annotations: /d/annotations/instances_val.json
          val_images: /d/val
          crop_padding: 0
          hflip: true

        """

    private func load(_ overrides: [String]) throws -> RunConfig {
        try ConfigLoader.load(yaml: Self.coco, sourceName: "coco.yaml", overrides: overrides)
    }

    private func assertInvalid(_ overrides: [String], _ message: String, line: UInt = #line) {
        XCTAssertThrowsError(try load(overrides), line: line) { e in
            XCTAssertEqual((e as? ConfigError)?.description, message, line: line)
        }
    }

    func testKeysLoad() throws {
        let c = try load([])
        XCTAssertEqual(c.data.dataset, .coco)
        XCTAssertEqual(c.data.coco, CocoFilesConfig(trainAnnotations: "/d/annotations/instances_train.json", trainImages: "/d/train",
                                                    valAnnotations: "/d/annotations/instances_val.json", valImages: "/d/val"))
        XCTAssertTrue(c.data.hflip)
        let v = try load(["data.dataset=voc", "model.kind=resnet-fcn", "model.in_channels=3", "data.channel_mean=[0.4,0.5,0.6]"])
        XCTAssertEqual(v.data.dataset, .voc)
        XCTAssertEqual(v.normalization.mean, [0.4, 0.5, 0.6])
    }

    func testCrossChecks() {
        assertInvalid(["data.dataset=voc"],
                      "--set data.dataset=voc: 'data.dataset' = voc holds masks; model.kind resnet-centernet trains on boxes (data.dataset coco)")
        assertInvalid(["model.kind=resnet-fcn"],
                      "coco.yaml:6: 'data.dataset' = coco holds boxes; model.kind resnet-fcn trains on masks (data.dataset voc)")
        assertInvalid(["model.kind=classifier"],
                      "coco.yaml:6: 'data.dataset' = coco needs a scene model: model.kind resnet-centernet or resnet-fcn")
        assertInvalid(["data.crop_padding=2"],
                      "--set data.crop_padding=2: 'data.crop_padding' = 2 must be 0 for data.dataset coco (flips are the only augmentation of boxes and masks)")
        assertInvalid(["model.image_size=50"],
                      "--set model.image_size=50: 'model.image_size' = 50 is not a multiple of 4 (the backbone's output stride)")
        XCTAssertThrowsError(try ConfigLoader.load(yaml: Self.coco.replacingOccurrences(of: "  val_images: /d/val\n", with: ""),
                                                   sourceName: "coco.yaml")) { e in
            XCTAssertEqual((e as? ConfigError)?.description, "coco.yaml: 'data.val_images' = \"\" must name a file or folder for data.dataset coco")
        }
        assertInvalid(["model.in_channels=2"],
                      "--set model.in_channels=2: 'model.in_channels' = 2 must be 1 (grey) or 3 (RGB) for data.dataset coco")
    }

    func testCommittedConfigsLoad() throws {
        for (file, kind, dataset) in [("coco-scenes-det-fp32", ModelConfig.Kind.centerNet, DataConfig.Dataset.coco),
                                      ("voc-scenes-seg-fp32", .fcn, .voc)] {
            let c = try ConfigLoader.load(path: repoRoot.appendingPathComponent("configs/\(file).yaml").path)
            XCTAssertEqual(c.name, file)
            XCTAssertEqual(c.model.kind, kind, file)
            XCTAssertEqual(c.data.dataset, dataset, file)
        }
    }
}
