import Foundation
import XCTest
@testable import Trainer

/// data.classes (held-out classes) and its cross-checks, and the committed
/// held-out-classes config.
final class HeldOutClassesConfigTests: XCTestCase {
    private let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func load(_ yaml: String, _ overrides: [String] = []) throws -> RunConfig {
        try ConfigLoader.load(yaml: yaml, sourceName: "heldout.yaml", overrides: overrides)
    }

    private func assertInvalid(_ yaml: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(yaml), file: file, line: line) { e in
            XCTAssertEqual((e as? ConfigError)?.description, message, file: file, line: line)
        }
    }

    func testClassesLoad() throws {
        let c = try load("model:\n  num_classes: 3\ndata:\n  classes: [7, 0, 4]\n")
        XCTAssertEqual(c.data.classes, [7, 0, 4])
        XCTAssertEqual(try load("").data.classes, [])
        XCTAssertEqual(c.dataInfo["data.classes"], "7,0,4")
        XCTAssertNil(try load("").dataInfo["data.classes"])
    }

    func testCrossChecks() {
        assertInvalid("model:\n  num_classes: 3\ndata:\n  classes: [1, 2]\n",
                      "heldout.yaml:4: 'data.classes' = [1, 2] keeps 2 labels, but model.num_classes is 3")
        assertInvalid("model:\n  num_classes: 2\ndata:\n  classes: [1, 1]\n",
                      "heldout.yaml:4: 'data.classes' = [1, 1] names a label twice")
        assertInvalid("model:\n  num_classes: 2\ndata:\n  dataset: image-folder\n  classes: [0, 1]\n",
                      "heldout.yaml:5: 'data.classes' = [0, 1] applies to data.dataset fashion-mnist or idx, not image-folder")
    }

    func testCommittedConfig() throws {
        let c = try ConfigLoader.load(path: repoRoot.appendingPathComponent("configs/fashion-mnist-cnn-heldout-w4a4.yaml").path)
        XCTAssertEqual(c.data.classes, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(c.model.numClasses, 6)
        XCTAssertTrue(c.quant.enabled)
    }
}
