import Foundation
import XCTest
@testable import Trainer

/// The scene models' config keys (model.kind, model.head_channels, data.scene_*)
/// and their cross-checks, and the four committed scene configs.
final class SceneConfigTests: XCTestCase {
    private let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A valid detection config; tests change one thing at a time.
    static let detection = """
        model:
          kind: resnet-centernet
          depth: 8
          image_size: 64
        data:
          dataset: fashion-scenes
          crop_padding: 0
          hflip: false

        """

    private func load(_ yaml: String, _ overrides: [String] = []) throws -> RunConfig {
        try ConfigLoader.load(yaml: yaml, sourceName: "scenes.yaml", overrides: overrides)
    }

    private func assertInvalid(_ overrides: [String], _ message: String, kind: ConfigError.Kind = .invalid,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(Self.detection, overrides), file: file, line: line) { e in
            guard let e = e as? ConfigError else { return XCTFail("not a ConfigError: \(e)", file: file, line: line) }
            XCTAssertEqual(e.kind, kind, e.description, file: file, line: line)
            XCTAssertTrue(e.description.contains(message), "'\(e.description)' lacks '\(message)'", file: file, line: line)
        }
    }

    func testSceneKeysLoad() throws {
        let c = try load(Self.detection, ["data.scene_min_items=2", "data.scene_max_scale=1.5", "data.scene_seed=9",
                                          "data.train_scenes=300", "model.head_channels=32"])
        XCTAssertEqual(c.model.kind, .centerNet)
        XCTAssertTrue(c.model.isScene)
        XCTAssertEqual(c.model.headChannels, 32)
        XCTAssertEqual(c.data.dataset, .fashionScenes)
        XCTAssertEqual(c.data.scenes, SceneConfig(size: 64, trainScenes: 300, testScenes: 500, minItems: 2, maxItems: 6,
                                                  minScale: 0.5, maxScale: 1.5, seed: 9))
        XCTAssertEqual(try load("").model.kind, .classifier)
        XCTAssertEqual(try load(Self.detection, ["model.kind=resnet-fcn"]).model.kind, .fcn)
    }

    func testKindAndDatasetGoTogether() {
        assertInvalid(["data.dataset=fashion-mnist"],
                      "'model.kind' = resnet-centernet needs data.dataset: fashion-scenes")
        XCTAssertThrowsError(try load("data:\n  dataset: fashion-scenes\n")) { e in
            XCTAssertEqual((e as? ConfigError)?.description,
                           "scenes.yaml:2: 'data.dataset' = fashion-scenes needs a scene model: model.kind resnet-centernet or resnet-fcn")
        }
        assertInvalid(["model.kind=segnet"], "'model.kind' = segnet is not one of: classifier, resnet-centernet, resnet-fcn",
                      kind: .badChoice)
        assertInvalid(["model.arch=cnn"], "'model.arch' = cnn must be resnet for model.kind resnet-centernet")
    }

    func testSceneGeometryChecks() {
        assertInvalid(["data.scene_size=62", "model.image_size=62"], "'data.scene_size' = 62 is not a multiple of 4")
        assertInvalid(["data.scene_size=32"], "'model.image_size' = 64 must equal data.scene_size (32)")
        assertInvalid(["model.in_channels=3"], "'model.in_channels' = 3 must be 1: scenes are grey")
        assertInvalid(["model.num_classes=11"], "'model.num_classes' = 11 must be 10 for fashion-scenes")
        assertInvalid(["data.scene_min_items=4", "data.scene_max_items=3"],
                      "--set data.scene_max_items=3: 'data.scene_max_items' = 3 is below data.scene_min_items (4)")
        assertInvalid(["data.scene_min_scale=1.5", "data.scene_max_scale=1.0"],
                      "'data.scene_max_scale' = 1.0 is below data.scene_min_scale (1.5)")
        assertInvalid(["data.scene_max_items=256"], "'data.scene_max_items' = 256 is out of range (1 ... 255)",
                      kind: .outOfRange)
        assertInvalid(["data.scene_min_scale=0"], "'data.scene_min_scale' = 0 is out of range (> 0, <= 16)",
                      kind: .outOfRange)
        assertInvalid(["data.train_scenes=0"], "'data.train_scenes' = 0 is out of range (1 ... 10000000)",
                      kind: .outOfRange)
    }

    func testAugmentationIsRefused() {
        assertInvalid(["data.crop_padding=2"], "'data.crop_padding' = 2 must be 0 for fashion-scenes")
        assertInvalid(["data.hflip=true"], "'data.hflip' = true must be false for fashion-scenes")
    }

    func testGroupsMustDivideTheHeadChannels() {
        assertInvalid(["quant.enabled=true", "model.head_channels=18", "quant.groups=4"],
                      "'quant.groups' = 4 must divide model.head_channels (18)")
        XCTAssertNoThrow(try load(Self.detection, ["quant.enabled=true", "model.head_channels=18", "quant.groups=2"]))
        // The FCN head has no grouped hidden convs.
        XCTAssertNoThrow(try load(Self.detection, ["model.kind=resnet-fcn", "quant.enabled=true", "model.head_channels=18"]))
    }

    func testUnknownSceneKeyListsTheValidOnes() {
        XCTAssertThrowsError(try load(Self.detection, ["data.scenes=10"])) { e in
            let text = (e as? ConfigError)?.description ?? "\(e)"
            XCTAssertTrue(text.contains("unknown key 'data.scenes'"), text)
            XCTAssertTrue(text.contains("train_scenes"), text)
        }
    }

    func testCommittedSceneConfigsLoad() throws {
        for (file, kind, quantized) in [("fashion-scenes-det-fp32", ModelConfig.Kind.centerNet, false),
                                        ("fashion-scenes-det-w4a4", .centerNet, true),
                                        ("fashion-scenes-seg-fp32", .fcn, false),
                                        ("fashion-scenes-seg-w4a4", .fcn, true)] {
            let c = try ConfigLoader.load(path: repoRoot.appendingPathComponent("configs/\(file).yaml").path)
            XCTAssertEqual(c.name, file)
            XCTAssertEqual(c.model.kind, kind, file)
            XCTAssertEqual(c.quant.enabled, quantized, file)
            if quantized {
                XCTAssertGreaterThan(c.quant.fp32PhaseEpochs, 0, file)
                XCTAssertEqual([c.quant.wBits, c.quant.aBits, c.quant.lastLayerBits], [4, 4, 8], file)
            }
        }
    }
}
