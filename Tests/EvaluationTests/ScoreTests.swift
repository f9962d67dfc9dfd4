import XCTest
@testable import Evaluation

// The logit scores against scipy (softmax, logsumexp) and the Mahalanobis score against
// scikit-learn's EmpiricalCovariance, from Tests/fixtures/ood/ood-metrics.json.
final class ScoreTests: XCTestCase {
    struct Logits: Decodable {
        var logits: [[Float]]
        var msp: [Double]
        var max_logit: [Double]
        var energy: [String: [Double]]
    }
    struct Maha: Decodable {
        var classes: Int
        var dimension: Int
        var train: [[Float]]
        var labels: [Int]
        var test: [[Float]]
        var means: [[Double]]
        var scores: [Double]
        var rank: Int
    }
    struct Fixture: Decodable {
        var logit_scores: Logits
        var mahalanobis: Maha
    }

    func testLogitScoresAgainstSciPy() throws {
        let f = try OODMetricsTests.fixture(Fixture.self).logit_scores
        let classes = f.logits[0].count
        let flat = f.logits.flatMap { $0 }
        // MSP and max logit: equal to the bit to scipy's (measured 2026-12-07, scipy 1.17.1).
        assertAllClose(LogitScores.scores(.msp, flat, classes: classes), f.msp, atol: 0, "msp")
        assertAllClose(LogitScores.scores(.maxLogit, flat, classes: classes), f.max_logit, atol: 0, "max logit")
        XCTAssertEqual(f.energy.count, 3)
        for (t, want) in f.energy {
            let got = LogitScores.scores(.energy, flat, classes: classes, temperature: Double(t)!)
            // Measured: up to 8.9e-16 (T 1, 0.5) and 4.5e-13 at T 1000, where the values are
            // ~1950 (a relative 2.3e-16).
            assertAllClose(got, want, atol: 1e-15, rtol: 2e-15, "energy T=\(t)")
        }
    }

    func testMahalanobisAgainstScikitLearn() throws {
        let f = try OODMetricsTests.fixture(Fixture.self).mahalanobis
        let m = try MahalanobisModel(features: f.train.flatMap { $0 }, labels: f.labels, dimension: f.dimension,
                                     classes: f.classes)
        XCTAssertEqual(m.rank, f.rank, "the dead channel leaves the covariance singular")
        XCTAssertEqual(m.rank, f.dimension - 1)
        assertAllClose(m.means.flatMap { $0 }, f.means.flatMap { $0 }, atol: 0, "class means")   // measured: equal
        // Jacobi eigenvectors vs LAPACK's pseudo-inverse, distances ~10-100: measured
        // 6.5e-12 absolute, a relative 1.3e-14 (2026-12-07).
        assertAllClose(m.scores(f.test.flatMap { $0 }), f.scores, atol: 0, rtol: 1e-13, "Mahalanobis scores")
    }

    func testMahalanobisRefusesAnEmptyClass() {
        XCTAssertThrowsError(try MahalanobisModel(features: [1, 2, 3, 4], labels: [0, 0], dimension: 2, classes: 2)) {
            XCTAssertEqual("\($0)", "Mahalanobis: class 1 has no training features")
        }
        XCTAssertThrowsError(try MahalanobisModel(features: [1, 2, 3], labels: [0, 1], dimension: 2, classes: 2)) {
            XCTAssertEqual("\($0)", "Mahalanobis: 3 feature values for 2 labels of dimension 2")
        }
    }
}
