import XCTest
@testable import TensorEngine

final class AllFiniteTests: XCTestCase {
    func testAgreesWithScalarCheckForEveryPositionAndKind() {
        for count in [0, 1, 15, 16, 31, 32, 33, 100, 1000] {
            var x = (0..<count).map { Float($0 % 7) * 1e30 - 3e30 }   // large but finite
            XCTAssertTrue(allFinite(x, count: count), "all finite, count \(count)")
            for bad in [Float.nan, .infinity, -.infinity] {
                for pos in Set([0, count / 2, count - 1]) where count > 0 {
                    let keep = x[pos]
                    x[pos] = bad
                    XCTAssertEqual(allFinite(x, count: count), allFiniteReference(x, count: count))
                    XCTAssertFalse(allFinite(x, count: count), "\(bad) at \(pos) of \(count)")
                    x[pos] = keep
                }
            }
        }
    }

    func testLargestFiniteValuesAreFinite() {
        let x: [Float] = Array(repeating: .greatestFiniteMagnitude, count: 40) + Array(repeating: -.greatestFiniteMagnitude, count: 40)
        XCTAssertTrue(allFinite(x, count: x.count))
    }
}
