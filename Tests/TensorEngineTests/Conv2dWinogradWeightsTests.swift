import XCTest
@testable import TensorEngine

/// The Winograd weight gradient against the direct Double reference (within a stated
/// tolerance), the Double Winograd reference against the direct one (the transforms'
/// algebra), thread counts, the bias gradient, and which shapes take the path.
final class Conv2dWinogradWeightsTests: XCTestCase {
    typealias Case = Conv2dWinogradTests.Case

    /// As the forward's bound (Conv2dWinogradTests.tolerance): |A dY A^T| <= 4 max|dy|,
    /// |V| <= 4 max|x|, G^T's rows sum to at most 2 in absolute value, and each weight
    /// sums N*H*W/4 tiles of 16 products instead of N*H*W single ones.
    static func tolerance(_ s: Conv2dShape) -> Float { 16 * Conv2dTests.tolerance(terms: 4 * s.batch * s.height * s.width) }

    func run(_ c: Case, pool: ThreadPool?, bias: Bool) -> (weight: [Float], bias: [Float]) {
        let s = c.shape
        let ws = Conv2dWorkspace(shape: s, threads: pool?.threads ?? 1)
        var dw = [Float](repeating: .nan, count: s.weightCount), db = [Float](repeating: .nan, count: s.outChannels)
        db.withUnsafeMutableBufferPointer { dbp in
            convWinogradBackwardWeights(s, input: c.x, gradOutput: c.dy, gradWeight: &dw,
                                        gradBias: bias ? dbp.baseAddress : nil, workspace: ws,
                                        buffers: ConvWinogradBuffers(s, threads: pool?.threads ?? 1), pool: pool)
        }
        return (dw, db)
    }

    func testMatchesDirectReference() {
        var worst: Float = 0
        for c in Conv2dWinogradTests.cases {
            let s = c.shape
            var want = [Float](repeating: 0, count: s.weightCount), wantBias = [Float](repeating: 0, count: s.outChannels)
            conv2dBackwardWeightsReference(s, input: c.x, gradOutput: c.dy, gradWeight: &want, gradBias: &wantBias)
            for pool in [nil, Conv2dTests.pool2, Conv2dTests.pool3] {
                let got = run(c, pool: pool, bias: true)
                let what = "\(s) threads \(pool?.threads ?? 1)"
                worst = max(worst, Conv2dWinogradTests.assertClose(got.weight, want, tolerance: Self.tolerance(s), "weights \(what)"))
                _ = Conv2dWinogradTests.assertClose(got.bias, wantBias, tolerance: Conv2dTests.tolerance(terms: s.batch * s.height * s.width),
                                                 "bias \(what)")
            }
        }
        print("Winograd weight gradient: largest error against the direct reference \(worst)")
    }

    /// Computed in Double, the Winograd gradient is the direct one up to Double rounding.
    func testDoubleReferenceEqualsDirect() {
        for c in Conv2dWinogradTests.cases {
            let s = c.shape
            var want = [Float](repeating: 0, count: s.weightCount), got = want
            conv2dBackwardWeightsReference(s, input: c.x, gradOutput: c.dy, gradWeight: &want, gradBias: nil)
            conv2dWinogradBackwardWeightsReference(s, input: c.x, gradOutput: c.dy, gradWeight: &got)
            for i in 0..<want.count {
                XCTAssertEqual(got[i], want[i], accuracy: 1e-6 * max(1, abs(want[i])), "\(s) weight \(i)")
            }
        }
    }

    /// Any shape the buffers take (channels below 8 included) is computed right; the entry
    /// point, conv2dBackwardWeights, takes the path from 32 x 32 channel pairs (ResNet-20's 14x14
    /// and 7x7 stages), not at 16 x 16, nor with fewer than 8 channels either way.
    func testShapesThatTakeThePath() {
        let shape = { (c: Int, size: Int) in
            Conv2dShape(batch: 2, inChannels: c, outChannels: c, size: size, kernel: 3, pad: 1)
        }
        XCTAssertTrue(shape(32, 14).usesWinogradWeightGradient)
        XCTAssertTrue(shape(64, 7).usesWinogradWeightGradient)
        XCTAssertFalse(shape(16, 28).usesWinogradWeightGradient)
        XCTAssertFalse(Conv2dShape(batch: 2, inChannels: 4, outChannels: 512, size: 7, kernel: 3, pad: 1)
            .usesWinogradWeightGradient)
        // Through the entry point: the Winograd result, batch smaller than the workspace's.
        let c = Case(Conv2dShape(batch: 3, inChannels: 40, outChannels: 32, size: 9, kernel: 3, pad: 1), 7)
        let ws = Conv2dWorkspace(shape: c.shape, threads: 2)
        var dw = [Float](repeating: .nan, count: c.shape.weightCount)
        conv2dBackwardWeights(c.shape, input: c.x, gradOutput: c.dy, gradWeight: &dw, gradBias: nil, workspace: ws,
                              pool: Conv2dTests.pool2)
        XCTAssertEqual(dw.map(\.bitPattern), run(c, pool: Conv2dTests.pool2, bias: false).weight.map(\.bitPattern))
    }
}
