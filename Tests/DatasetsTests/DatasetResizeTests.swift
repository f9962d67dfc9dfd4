// data.resize: an in-memory dataset resampled to the model's size against Pillow's
// Image.resize((32, 32), BILINEAR) of the same 28x28 images (Tests/fixtures/
// make_zoo_fixtures.py). The resampler accumulates in Float and rounds once, PIL in
// fixed point per pass, so a pixel may differ by one level (see ImageTransform.swift);
// the measured largest difference over the 3 x 1024 pixels is asserted below.

import XCTest
import Foundation
@testable import Datasets

final class DatasetResizeTests: XCTestCase {
    struct Fixture: Decodable {
        struct Resize: Decodable { var size: Int; var input: [UInt8]; var expected: [UInt8] }
        var resize: Resize
    }

    func testResizeMatchesPillowBilinear() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/zoo-shapes.json")
        let fx = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url)).resize
        let n = fx.input.count / (28 * 28)
        let ds = try ImageDataset(pixels: fx.input, labels: (0..<n).map { Int32($0) }, channels: 1, height: 28, width: 28,
                                  classes: 10, source: "fixture")
        let r = try ds.resized(to: fx.size)
        XCTAssertEqual([r.count, r.channels, r.height, r.width], [n, 1, 32, 32])
        XCTAssertEqual(r.labels, ds.labels)
        let diffs = zip(r.pixels, fx.expected).map { abs(Int($0) - Int($1)) }
        XCTAssertEqual(diffs.count, fx.expected.count)
        XCTAssertLessThanOrEqual(diffs.max() ?? 99, 1, "largest difference from Pillow")
        // Measured: 2529 of the 3072 pixels equal Pillow's, the others one level off.
        XCTAssertGreaterThan(diffs.filter { $0 == 0 }.count, diffs.count * 3 / 4, "most pixels equal Pillow's")
    }

    func testResizeToOwnSizeKeepsThePixels() throws {
        let pixels = (0..<(2 * 8 * 8)).map { UInt8($0 % 251) }
        let ds = try ImageDataset(pixels: pixels, labels: [0, 1], channels: 1, height: 8, width: 8, classes: 2)
        XCTAssertEqual(try ds.resized(to: 8).pixels, pixels)
        XCTAssertThrowsError(try ds.resized(to: 0)) { XCTAssertEqual("\($0)", "<memory>: resize to 0 pixels, expected > 0") }
    }
}
