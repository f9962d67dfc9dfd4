import XCTest
import TensorEngine
@testable import Layers

/// Focal and centre-L1 losses against their Double references, gradients against
/// finite differences of the references in Double.
extension DetectionHeadTests {
    /// lo + (hi - lo) u, u uniform from CounterRNG(seed, stream 0).
    func uniform(_ count: Int, seed: UInt64, lo: Float, hi: Float) -> [Float] {
        var rng = CounterRNG(seed: seed, stream: 0)
        return (0..<count).map { _ in lo + (hi - lo) * rng.nextUniform() }
    }
    func doubles(_ a: [Float]) -> [Double] { a.map(Double.init) }

    /// Targets: exact 1s, Gaussian-like values in (0, 1) and zeros.
    func targets(_ count: Int, seed: UInt64) -> [Float] {
        var rng = CounterRNG(seed: seed, stream: 3)
        return (0..<count).map { _ in
            let u = rng.nextUniform()
            return u < 0.1 ? 1 : (u < 0.5 ? rng.nextUniform() * 0.99 : 0)
        }
    }

    func focal(_ x: [Float], _ y: [Float]) -> (FocalLossResult, [Float]) {
        var g = [Float](repeating: .nan, count: x.count)
        let r = centerNetFocalLoss(logits: x, targets: y, gradLogits: &g, count: x.count)
        return (r, g)
    }

    func testFocalMatchesReferenceAndFiniteDifferences() {
        let x = uniform(2 * 3 * 5 * 5, seed: 11, lo: -4, hi: 4), y = targets(x.count, seed: 12)
        let (r, g) = focal(x, y)
        XCTAssertEqual(r.positives, y.filter { $0 == 1 }.count)
        XCTAssertGreaterThan(r.positives, 0)
        let ref = centerNetFocalLossReference(doubles(x), doubles(y))
        XCTAssertEqual(Double(r.loss), ref, accuracy: 1e-6 * abs(ref))
        let fd = numeric(doubles(x)) { centerNetFocalLossReference($0, doubles(y)) }
        assertAllClose(g, fd, atol: 1e-7, rtol: 1e-4, "focal gradient")
    }

    func testFocalHandComputedAndExtremeLogits() {
        // One positive at logit 0 (p = 1/2): (1/2)^2 * log 2; one negative y = 0.5 at
        // logit 0: (1/2)^4 * (1/2)^2 * log 2; normalised by 1 positive.
        let (r, g) = focal([0, 0], [1, 0.5])
        XCTAssertEqual(Double(r.loss), 0.25 * log(2) + 0.015625 * log(2), accuracy: 1e-7)
        // d/dx at x = 0: positive 2*(1/2)*(1/4)*(-log 2) - 1/8; negative -(1/16)*(2*(1/4)*(1/2)*(-log 2) - 1/8)
        XCTAssertEqual(Double(g[0]), -0.25 * log(2) - 0.125, accuracy: 1e-7)
        XCTAssertEqual(Double(g[1]), -0.0625 * (-0.25 * log(2) - 0.125), accuracy: 1e-7)
        // No positives: normalised by 1, and very large logits stay finite.
        let (big, gb) = focal([60, -60, 80], [0, 0, 0.2])
        XCTAssertEqual(big.positives, 0)
        XCTAssertTrue(big.loss.isFinite && gb.allSatisfy(\.isFinite))
        XCTAssertEqual(Double(big.loss), 60 + pow(0.8, 4) * 80, accuracy: 1e-3)
        let (sure, gs) = focal([-60, 60], [0, 1])
        XCTAssertEqual(sure.loss, 0, accuracy: 1e-20)
        XCTAssertEqual(gs, [0, 0])
    }

    func testCenterL1MatchesReferenceAndFiniteDifferences() {
        let (n, c, cells) = (2, 2, 12)
        var pred = uniform(n * c * cells, seed: 21, lo: -2, hi: 2)
        let t = [CenterTarget(sample: 0, cell: 3, values: [0.5, -1]), CenterTarget(sample: 1, cell: 7, values: [1.25, 0.75]),
                 CenterTarget(sample: 1, cell: 0, values: [-0.5, 2])]
        // Keep every prediction away from its target (|d| > 0.01) so FD stays off the kink.
        for tt in t { for k in 0..<c {
            let i = (tt.sample * c + k) * cells + tt.cell
            if abs(pred[i] - tt.values[k]) < 0.01 { pred[i] += 0.1 }
        } }
        var g = [Float](repeating: .nan, count: pred.count)
        let loss = centerRegressionL1(predictions: pred, targets: t, gradPredictions: &g, n: n, channels: c, cells: cells)
        let ref = centerRegressionL1Reference(doubles(pred), targets: t, channels: c, cells: cells)
        XCTAssertEqual(Double(loss), ref, accuracy: 1e-6)
        let fd = numeric(doubles(pred)) { centerRegressionL1Reference($0, targets: t, channels: c, cells: cells) }
        assertAllClose(g, fd, atol: 1e-7, rtol: 1e-6, "L1 gradient")
        XCTAssertEqual(g.filter { $0 != 0 }.count, 6)
        // Hand case: |2 - 0.5| + |0 - (-1)| over 1 object.
        var p2: [Float] = [0, 0, 0, 2, 0, 0, 0, 0]
        p2[4 + 3] = 0
        XCTAssertEqual(centerRegressionL1(predictions: p2, targets: [CenterTarget(sample: 0, cell: 3, values: [0.5, -1])],
                                          gradPredictions: nil, n: 1, channels: 2, cells: 4), 2.5)
        XCTAssertEqual(centerRegressionL1(predictions: p2, targets: [], gradPredictions: nil, n: 1, channels: 2, cells: 4), 0)
    }
}
