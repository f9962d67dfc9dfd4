import XCTest
@testable import Datasets

/// Held-out class splits and the out-of-distribution transforms of `gdqr eval --ood`,
/// against values worked out by hand.
final class OODImageSetTests: XCTestCase {
    /// Six 1x2x2 images labelled 0, 1, 2, 0, 3, 2; pixel values 10*i + k.
    func small() throws -> ImageDataset {
        let labels: [Int32] = [0, 1, 2, 0, 3, 2]
        let pixels = (0..<6).flatMap { i in (0..<4).map { UInt8(10 * i + $0) } }
        return try ImageDataset(pixels: pixels, labels: labels, channels: 1, height: 2, width: 2, classes: 4, source: "small")
    }

    func testSplittingRenumbersKeptAndKeepsTheRest() throws {
        let (kept, held) = try small().splitting(keeping: [2, 0])
        XCTAssertEqual(kept.labels, [1, 0, 1, 0])          // images 0, 2, 3, 5: labels 0->1, 2->0
        XCTAssertEqual(kept.classes, 2)
        XCTAssertEqual(Array(kept.pixels[4..<8]), [20, 21, 22, 23])
        XCTAssertEqual(held.labels, [1, 3])                 // images 1 and 4, labels unchanged
        XCTAssertEqual(Array(held.pixels), [10, 11, 12, 13, 40, 41, 42, 43])
        XCTAssertThrowsError(try small().splitting(keeping: [4])) {
            XCTAssertEqual("\($0)", "small: class 4 to keep is out of range, expected 0..<4")
        }
    }

    func testInvertedAndUniformNoise() throws {
        let d = try small()
        XCTAssertEqual(try d.transformed(.inverted).pixels, d.pixels.map { 255 - $0 })
        let u = try d.transformed(.uniformNoise)
        XCTAssertEqual(u.labels, d.labels)
        XCTAssertEqual(u.pixels, try d.transformed(.uniformNoise).pixels, "the noise is the same every time")
        XCTAssertNotEqual(u.pixels, d.pixels)
    }

    /// Noise with the set's pixel statistics: 20,000 pixels of mean ~100 and std ~50 (rounded
    /// and clamped, so within ~1 of the source's).
    func testGaussianNoiseMatchesTheStatistics() throws {
        let n = 20_000
        let src = (0..<n).map { UInt8(50 + ($0 % 2) * 100) }   // mean 100, std 50
        let d = try ImageDataset(pixels: src, labels: [Int32](repeating: 0, count: n / 100), channels: 1, height: 10,
                                 width: 10, classes: 1)
        let g = try d.transformed(.gaussianNoise).pixels.map(Double.init)
        let mean = g.reduce(0, +) / Double(n)
        let std = (g.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)).squareRoot()
        // Sampling error of the mean: 50 / sqrt(20000) = 0.35; 3 sigma about 1.1.
        XCTAssertEqual(mean, 100, accuracy: 1.5)
        XCTAssertEqual(std, 50, accuracy: 1.5)
    }

    /// The blur of a constant image is the constant; of a single bright pixel, the
    /// normalised Gaussian weights w(dy) * w(dx) (edges repeated do not reach it).
    func testBlurIsANormalisedGaussian() throws {
        let size = 15
        let flat = try ImageDataset(pixels: [UInt8](repeating: 77, count: size * size), labels: [0], channels: 1,
                                    height: size, width: size, classes: 1)
        XCTAssertEqual(try flat.transformed(.blurred).pixels, flat.pixels)
        var px = [UInt8](repeating: 0, count: size * size)
        px[7 * size + 7] = 255
        let dot = try ImageDataset(pixels: px, labels: [0], channels: 1, height: size, width: size, classes: 1)
        let b = try dot.transformed(.blurred).pixels
        let s = OODTransform.blurSigma, r = Int((3 * s).rounded(.up))
        let w = (-r...r).map { exp(-Double($0 * $0) / (2 * s * s)) }
        let total = w.reduce(0, +)
        for (dy, dx) in [(0, 0), (1, 0), (2, 3), (6, 6)] {
            let want = 255 * w[dy + r] / total * w[dx + r] / total
            // The two passes each round nothing (Double), only the final value: within 0.5 + tiny.
            XCTAssertEqual(Double(b[(7 + dy) * size + 7 + dx]), want, accuracy: 0.5 + 1e-9, "offset \(dy), \(dx)")
        }
    }
}
