import XCTest
@testable import Evaluation

// AUROC, AUPR and FPR95 against scikit-learn on the score sets of
// Tests/fixtures/ood/ood-metrics.json (written by make_ood_fixtures.py there): overlapping
// scores, heavy ties, all-equal scores, perfect and reversed separation, one input of each.
final class OODMetricsTests: XCTestCase {
    struct Case: Decodable {
        var name: String
        var `in`: [Double]
        var out: [Double]
        var auroc: Double
        var aupr_in: Double
        var aupr_out: Double
        var fpr95: Double
        var roc_fpr: [Double]
        var roc_tpr: [Double]
    }
    struct Fixture: Decodable { var separation: [Case] }

    static func fixture<T: Decodable>(_ type: T.Type) throws -> T {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/ood/ood-metrics.json")
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    func testAgainstScikitLearn() throws {
        let cases = try Self.fixture(Fixture.self).separation
        XCTAssertEqual(cases.count, 6)
        for c in cases {
            let r = try OODMetrics.evaluate(inDistribution: c.in, outOfDistribution: c.out)
            // The sums run in another order than scikit-learn's: measured differences up to
            // 1.1e-16 (2026-12-07, scikit-learn 1.9.1); the ROC points are equal to the bit.
            assertAllClose([r.auroc, r.auprIn, r.auprOut, r.fprAt95TPR], [c.auroc, c.aupr_in, c.aupr_out, c.fpr95],
                           atol: 1e-15, "\(c.name): auroc, aupr_in, aupr_out, fpr95")
            assertAllClose(r.roc.map(\.falsePositiveRate), c.roc_fpr, atol: 0, "\(c.name): ROC FPR")
            assertAllClose(r.roc.map(\.truePositiveRate), c.roc_tpr, atol: 0, "\(c.name): ROC TPR")
        }
    }

    /// Cases whose values follow from the definitions alone.
    func testAnalyticCases() throws {
        // All scores equal: one diagonal step, AUROC 1/2, precision = the positives' share.
        let tie = try OODMetrics.evaluate(inDistribution: [2, 2, 2], outOfDistribution: [2])
        XCTAssertEqual(tie.auroc, 0.5)
        XCTAssertEqual(tie.auprIn, 0.75)
        XCTAssertEqual(tie.auprOut, 0.25)
        XCTAssertEqual(tie.fprAt95TPR, 1)
        // One out-of-distribution score tied with one of two in-distribution scores:
        // pairs (in, out) = (3, 1) won, (1, 1) tied: AUROC (1 + 1/2) / 2.
        let half = try OODMetrics.evaluate(inDistribution: [3, 1], outOfDistribution: [1])
        XCTAssertEqual(half.auroc, 0.75)
        let perfect = try OODMetrics.evaluate(inDistribution: [5, 6, 7], outOfDistribution: [1, 2])
        XCTAssertEqual([perfect.auroc, perfect.auprIn, perfect.auprOut, perfect.fprAt95TPR], [1, 1, 1, 0])
    }

    func testOneClassOnlyIsRefused() {
        XCTAssertThrowsError(try OODMetrics.evaluate(inDistribution: [1, 2], outOfDistribution: [])) {
            XCTAssertEqual("\($0)", "needs scores of both classes: 2 in-distribution, 0 out-of-distribution")
        }
        XCTAssertThrowsError(try OODMetrics.evaluate(inDistribution: [], outOfDistribution: [3])) {
            XCTAssertEqual("\($0)", "needs scores of both classes: 0 in-distribution, 1 out-of-distribution")
        }
    }

    func testNonFiniteScoreIsRefused() {
        XCTAssertThrowsError(try OODMetrics.evaluate(inDistribution: [1, .nan], outOfDistribution: [0])) {
            XCTAssertEqual("\($0)", "a score is nan; scores must be finite")
        }
    }

    func testThinnedKeepsEndsAndCount() throws {
        let roc = try OODMetrics.rocCurve(inDistribution: (0..<500).map(Double.init),
                                          outOfDistribution: (0..<300).map { Double($0) + 0.5 })
        let t = OODMetrics.thinned(roc, maxPoints: 50)
        XCTAssertEqual(t.count, 50)
        XCTAssertEqual(t.first, roc.first)
        XCTAssertEqual(t.last, roc.last)
        XCTAssertEqual(OODMetrics.thinned(roc, maxPoints: 5000), roc)
    }
}
