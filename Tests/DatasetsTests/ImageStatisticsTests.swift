import Foundation
import XCTest
@testable import Datasets

// ImageStatistics (gdqr data stats) on images whose mean and population standard
// deviation are worked out by hand, grey and RGB, with the loaders' channel
// conversions, and the message for a missing file.
final class ImageStatisticsTests: TemporaryFolderTestCase {
    func file(_ name: String, _ px: [UInt8], _ w: Int, _ h: Int, _ c: Int) throws -> String {
        let path = root + "/" + name
        try Data(try PNGWriter.encode(px, width: w, height: h, channels: c)).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Grey [0, 255] (2x1) and [255, 255] (1x2): mean 765 / (4 * 255) = 0.75, variance
    /// 3/4 - (3/4)^2 = 3/16, std sqrt(3) / 4.
    func testGreyMeanAndStd() throws {
        var s = try ImageStatistics(channels: 1)
        try s.add(files: [try file("a.png", [0, 255], 2, 1, 1), try file("b.png", [255, 255], 1, 2, 1)])
        XCTAssertEqual(s.images, 2)
        XCTAssertEqual(s.pixels, 4)
        XCTAssertEqual(s.mean, [0.75])
        XCTAssertEqual(s.std[0], 3.0.squareRoot() / 4, accuracy: 1e-15)   // two Double roundings apart at most
        XCTAssertEqual([s.minWidth, s.maxWidth, s.minHeight, s.maxHeight], [1, 2, 1, 2])
    }

    /// RGB (10, 20, 30) and (30, 20, 10): means 20/255 each, stds 10/255, 0, 10/255; a
    /// grey pixel of 40 counts 40 in every channel. As grey (PIL's 299/587/114
    /// weights) the two RGB pixels are 18 and 22: mean 20/255, std 2/255.
    func testRGBAndConversions() throws {
        let c = try file("c.png", [10, 20, 30], 1, 1, 3), d = try file("d.png", [30, 20, 10], 1, 1, 3)
        var rgb = try ImageStatistics(channels: 3)
        try rgb.add(files: [c, d])
        for (got, want) in zip(rgb.mean, [20.0, 20, 20]) { XCTAssertEqual(got, want / 255, accuracy: 1e-15) }
        for (got, want) in zip(rgb.std, [10.0, 0, 10]) { XCTAssertEqual(got, want / 255, accuracy: 1e-15) }
        // The shared std: sqrt((100 + 0 + 100) / 3) / 255.
        XCTAssertEqual(rgb.sharedStd, (200.0 / 3).squareRoot() / 255, accuracy: 1e-15)
        try rgb.add(files: [try file("e.png", [40], 1, 1, 1)])
        // Three pixels per channel: (10, 30, 40), (20, 20, 40), (30, 10, 40).
        let means = [80.0, 80, 80].map { $0 / 3 / 255 }
        let stds = [[10.0, 30, 40], [20, 20, 40], [30, 10, 40]].map { v -> Double in
            let m = v.reduce(0, +) / 3
            return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 3).squareRoot() / 255
        }
        for k in 0..<3 {
            XCTAssertEqual(rgb.mean[k], means[k], accuracy: 1e-15)
            XCTAssertEqual(rgb.std[k], stds[k], accuracy: 1e-15)
        }
        var grey = try ImageStatistics(channels: 1)
        try grey.add(files: [c, d])
        XCTAssertEqual(grey.mean[0], 20.0 / 255, accuracy: 1e-15)
        XCTAssertEqual(grey.std[0], 2.0 / 255, accuracy: 1e-15)
        XCTAssertFalse((rgb.mean + rgb.std + grey.mean + grey.std).contains { $0.isNaN })
    }

    /// The in-memory path (IDX sets) gives the same sums as the files.
    func testInMemorySetMatchesFiles() throws {
        let px: [UInt8] = [0, 255, 255, 255, 7, 9, 11, 13]
        let set = try ImageDataset(pixels: px, labels: [0, 1], channels: 1, height: 2, width: 2, classes: 2)
        var a = try ImageStatistics(channels: 1), b = try ImageStatistics(channels: 1)
        try a.add(set)
        try b.add(files: [try file("p.png", Array(px[0..<4]), 2, 2, 1), try file("q.png", Array(px[4..<8]), 2, 2, 1)])
        XCTAssertEqual(a, b)
    }

    func testMissingFileIsNamed() throws {
        var s = try ImageStatistics(channels: 1)
        XCTAssertThrowsError(try s.add(files: [root + "/none.png"])) {
            XCTAssertEqual("\($0)", root + "/none.png: cannot open: No such file or directory")
        }
        XCTAssertThrowsError(try ImageStatistics(channels: 2)) {
            XCTAssertEqual("\($0)", "image statistics of 1 (grey) or 3 (RGB) channels, not 2")
        }
    }
}
