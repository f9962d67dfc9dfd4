import XCTest
@testable import TensorEngine

final class ReductionsTests: XCTestCase {
    // Float accumulation happens only inside 4096-element blocks in 64 lanes (<= 64
    // additions per lane), so the relative error of a sum of same-sign terms is far
    // below 1e-5; mixed signs are compared with an absolute bound scaled by sum|x|.
    func testReductionsMatchDoubleReference() {
        for count in opsOddSizes + [4096, 4097, 100_003] {
            let x = opsRandom(count, seed: 11, lo: -2, hi: 3)
            let d = opsD(x)
            let t = opsTensor(x)
            let sumAbs = d.reduce(0) { $0 + abs($1) }
            let tol = 1e-6 * sumAbs + 1e-6
            XCTAssertEqual(Double(reduceSum(t.data, count: count)), d.reduce(0, +), accuracy: tol, "sum \(count)")
            XCTAssertEqual(Double(reduceMean(t.data, count: count)), d.reduce(0, +) / Double(count),
                           accuracy: tol / Double(count), "mean \(count)")
            XCTAssertEqual(Double(reduceMeanAbs(t.data, count: count)), sumAbs / Double(count),
                           accuracy: 1e-6 * sumAbs / Double(count), "meanAbs \(count)")
            let ss = d.reduce(0) { $0 + $1 * $1 }
            XCTAssertEqual(Double(reduceSumOfSquares(t.data, count: count)), ss, accuracy: 1e-6 * ss, "sumsq \(count)")
            XCTAssertEqual(reduceMaxAbs(t.data, count: count), x.map { abs($0) }.max()!, "maxAbs \(count)")
        }
    }

    func testEmptyAndDeterministic() {
        let t = opsTensor([])
        XCTAssertEqual(reduceSum(t.data, count: 0), 0)
        XCTAssertEqual(reduceMean(t.data, count: 0), 0)
        XCTAssertEqual(reduceMaxAbs(t.data, count: 0), 0)
        let big = opsTensor(opsRandom(50_001, seed: 12))
        XCTAssertEqual(reduceSum(big.data, count: 50_001).bitPattern, reduceSum(big.data, count: 50_001).bitPattern)
    }
}
