import XCTest
@testable import TensorEngine

/// Winograd F(2x2, 3x3) and F(4x4, 3x3) forward and backward-data against the direct
/// Double reference (within stated tolerances) and against the scalar Winograd
/// reference (F(2x2, 3x3) bit for bit).
final class Conv2dWinogradTests: XCTestCase {
    static let pools: [ThreadPool?] = [nil, ThreadPool(threads: 2)]

    /// 3x3 "same" shapes: odd planes (1, 5, 7, 13), non-square, channels not multiples
    /// of 8 or 16, Cin != Cout both ways, several image groups per thread (64-channel 7x7
    /// batch 5: groups of at most 2 images; 28x28: one image per group).
    static let shapes: [Conv2dShape] = [
        (1, 3, 5, 5, 5), (2, 9, 12, 7, 7), (3, 16, 16, 13, 13), (2, 5, 17, 6, 10), (1, 20, 7, 14, 14),
        (2, 16, 16, 28, 28), (3, 1, 16, 9, 9), (1, 3, 2, 1, 1), (2, 8, 24, 3, 11), (5, 64, 40, 7, 7),
        (3, 12, 10, 4, 5),
    ].map { n, cin, cout, h, w in
        Conv2dShape(batch: n, inChannels: cin, height: h, width: w, outChannels: cout, kernelH: 3, kernelW: 3,
                    padH: 1, padW: 1)
    }

    /// Winograd's error against the exact sum: |U| <= 2.25 max|g| (a sum of 9 kernel
    /// values / 4), |V| <= 4 max|d| (4 input values), each output sums 9 values of M,
    /// and M's channel sums have k terms of up to 9 instead of 1. So we allow 16 times
    /// the direct convolution's bound for 9k terms (Conv2dTests.tolerance); the largest
    /// error seen over these shapes is printed. Indexing or border bugs give errors of order 1.
    static func tolerance(channels: Int) -> Float { 16 * Conv2dTests.tolerance(terms: 9 * channels + 1) }

    /// F(4x4, 3x3) rounds more: |V| <= 100 max|d| (B^T's rows sum to 10 in absolute
    /// value, against 2 for F(2x2, 3x3)) and each output sums M's values with weights
    /// up to 19 x 19 (A^T's last row, against 3 x 3). Measured over these shapes its
    /// errors are up to 16x F(2x2, 3x3)'s; we allow 4x the F(2x2, 3x3) tolerance, which
    /// has ample room for that (the largest error seen is printed).
    static func tolerance4(channels: Int) -> Float { 4 * tolerance(channels: channels) }

    struct Case {
        let shape: Conv2dShape
        let x: [Float], w: [Float], b: [Float], dy: [Float]
        init(_ s: Conv2dShape, _ i: Int, weights: [Float]? = nil) {
            shape = s
            x = Conv2dTests.random(s.inputCount, seed: UInt64(100 + i))
            w = weights ?? Conv2dTests.random(s.weightCount, seed: UInt64(200 + i))
            b = Conv2dTests.random(s.outChannels, seed: UInt64(300 + i))
            dy = Conv2dTests.random(s.outputCount, seed: UInt64(400 + i))
        }

        func forward(bias: Bool, pool: ThreadPool?, f4: Bool = false) -> [Float] {
            var y = [Float](repeating: .nan, count: shape.outputCount)  // must be overwritten
            let threads = pool?.threads ?? 1
            b.withUnsafeBufferPointer { bp in
                if f4 {
                    convWinogradForward(shape, input: x, weight: w, bias: bias ? bp.baseAddress : nil, output: &y,
                                        buffers: ConvWinograd4Buffers(shape, threads: threads), pool: pool)
                } else {
                    convWinogradForward(shape, input: x, weight: w, bias: bias ? bp.baseAddress : nil, output: &y,
                                        buffers: ConvWinogradBuffers(shape, threads: threads), pool: pool)
                }
            }
            return y
        }

        func backwardData(pool: ThreadPool?, f4: Bool = false) -> [Float] {
            var dx = [Float](repeating: .nan, count: shape.inputCount)
            let threads = pool?.threads ?? 1
            if f4 {
                convWinogradBackwardData(shape, gradOutput: dy, weight: w, gradInput: &dx,
                                         buffers: ConvWinograd4Buffers(shape, threads: threads), pool: pool)
            } else {
                convWinogradBackwardData(shape, gradOutput: dy, weight: w, gradInput: &dx,
                                         buffers: ConvWinogradBuffers(shape, threads: threads), pool: pool)
            }
            return dx
        }
    }

    static let cases = shapes.enumerated().map { Case($1, $0) }

    static func assertClose(_ got: [Float], _ want: [Float], tolerance: Float, _ what: String) -> Float {
        // A NaN anywhere fails here and returns NaN, so the callers' max(worst, ...) need not see it.
        let r = assertAllClose(got, want, atol: Double(tolerance), what)
        return r.passed ? Float(r.worstDifference) : .nan
    }

    func testForwardMatchesDirectReference() {
        for f4 in [false, true] {
            var worst: Float = 0, worstScalar: Float = 0
            for c in Self.cases {
                let s = c.shape
                let tolerance = f4 ? Self.tolerance4(channels: s.inChannels) : Self.tolerance(channels: s.inChannels)
                for bias in [false, true] {
                    var want = [Float](repeating: 0, count: s.outputCount)
                    conv2dForwardReference(s, input: c.x, weight: c.w, bias: bias ? c.b : nil, output: &want)
                    for pool in Self.pools {
                        worst = max(worst, Self.assertClose(c.forward(bias: bias, pool: pool, f4: f4), want,
                                                            tolerance: tolerance,
                                                            "forward F\(f4 ? 4 : 2) \(s) bias \(bias) threads \(pool?.threads ?? 1)"))
                    }
                    // The plain matrix form of the same algorithm.
                    var scalar = [Float](repeating: .nan, count: s.outputCount)
                    conv2dWinogradForwardReference(s, input: c.x, weight: c.w, bias: bias ? c.b : nil, output: &scalar,
                                                   matrices: f4 ? .f4 : .f2)
                    worstScalar = max(worstScalar, Self.assertClose(scalar, want, tolerance: tolerance,
                                                                    "scalar reference F\(f4 ? 4 : 2) \(s)"))
                }
            }
            print("Winograd F\(f4 ? 4 : 2) forward: largest error against the direct reference \(worst), "
                  + "scalar Winograd reference \(worstScalar)")
        }
    }

    func testBackwardDataMatchesDirectReference() {
        for f4 in [false, true] {
            var worst: Float = 0
            for c in Self.cases {
                let s = c.shape
                let tolerance = f4 ? Self.tolerance4(channels: s.outChannels) : Self.tolerance(channels: s.outChannels)
                var want = [Float](repeating: 0, count: s.inputCount)
                conv2dBackwardDataReference(s, gradOutput: c.dy, weight: c.w, gradInput: &want)
                for pool in Self.pools {
                    worst = max(worst, Self.assertClose(c.backwardData(pool: pool, f4: f4), want, tolerance: tolerance,
                                                        "backward-data F\(f4 ? 4 : 2) \(s) threads \(pool?.threads ?? 1)"))
                }
            }
            print("Winograd F\(f4 ? 4 : 2) backward-data: largest error against the direct reference \(worst)")
        }
    }

    /// The vectorised transforms, grouping and GEMM compute what the scalar Winograd does, bit for bit.
    func testMatchesScalarWinogradExactly() {
        for c in Self.cases {
            let s = c.shape
            for bias in [false, true] {
                var want = [Float](repeating: 0, count: s.outputCount)
                conv2dWinogradForwardReference(s, input: c.x, weight: c.w, bias: bias ? c.b : nil, output: &want)
                XCTAssertEqual(c.forward(bias: bias, pool: nil).map(\.bitPattern), want.map(\.bitPattern),
                               "forward \(s) bias \(bias)")
            }
            var want = [Float](repeating: 0, count: s.inputCount)
            conv2dWinogradBackwardDataReference(s, gradOutput: c.dy, weight: c.w, gradInput: &want)
            XCTAssertEqual(c.backwardData(pool: nil).map(\.bitPattern), want.map(\.bitPattern), "backward-data \(s)")
        }
    }

    /// Tiles are independent GEMM columns, so the thread count (and with it the image
    /// grouping) does not change a bit.
    func testThreadCountsAreBitIdentical() {
        let pool3 = ThreadPool(threads: 3)
        for c in Self.cases {
            for f4 in [false, true] {
                let one = c.forward(bias: true, pool: nil, f4: f4).map(\.bitPattern)
                XCTAssertEqual(c.forward(bias: true, pool: Self.pools[1], f4: f4).map(\.bitPattern), one,
                               "forward F\(f4 ? 4 : 2) \(c.shape)")
                XCTAssertEqual(c.forward(bias: true, pool: pool3, f4: f4).map(\.bitPattern), one,
                               "forward F\(f4 ? 4 : 2) \(c.shape) 3 threads")
                let dx = c.backwardData(pool: nil, f4: f4).map(\.bitPattern)
                XCTAssertEqual(c.backwardData(pool: Self.pools[1], f4: f4).map(\.bitPattern), dx,
                               "backward-data F\(f4 ? 4 : 2) \(c.shape)")
            }
        }
    }

    /// conv2dForward / conv2dBackwardData take the F(4x4, 3x3) path for ResNet's 3x3
    /// convolutions unless the caller switches Winograd off, and a workspace serves a
    /// smaller batch than it was sized for.
    func testConvEntryPointsUseWinograd() {
        for (size, channels) in [(28, 16), (14, 32), (7, 64)] {
            let s = Conv2dShape(batch: 3, inChannels: channels, outChannels: channels, size: size, kernel: 3, pad: 1)
            XCTAssertTrue(s.usesWinograd, "\(s)")
            let c = Case(s, size)
            var small = s
            small.batch = 2
            let ws = Conv2dWorkspace(shape: s, threads: 2)
            var y = [Float](repeating: .nan, count: s.outputCount)
            conv2dForward(small, input: c.x, weight: c.w, bias: c.b, output: &y, workspace: ws, pool: Self.pools[1])
            let want = c.forward(bias: true, pool: nil, f4: true)
            XCTAssertEqual(y[..<small.outputCount].map(\.bitPattern), want[..<small.outputCount].map(\.bitPattern),
                           "forward \(s)")
            var dx = [Float](repeating: .nan, count: s.inputCount)
            conv2dBackwardData(s, gradOutput: c.dy, weight: c.w, gradInput: &dx, workspace: ws, pool: Self.pools[1])
            XCTAssertEqual(dx.map(\.bitPattern), c.backwardData(pool: nil, f4: true).map(\.bitPattern),
                           "backward-data \(s)")
            // Switched off (fake-quantized layers): the implicit GEMM's bits at 28 and 14.
            guard s.usesImplicitGemm else { continue }
            conv2dForward(s, input: c.x, weight: c.w, bias: c.b, output: &y, workspace: ws, pool: Self.pools[1],
                          winograd: false)
            var direct = [Float](repeating: .nan, count: s.outputCount)
            convImplicitForward(s, input: c.x, weight: c.w, bias: c.b, output: &direct,
                                buffers: ConvImplicitBuffers(s, threads: 1), pool: nil)
            XCTAssertEqual(y.map(\.bitPattern), direct.map(\.bitPattern), "forward \(s) without Winograd")
            XCTAssertNotEqual(y.map(\.bitPattern), want.map(\.bitPattern), "forward \(s): Winograd rounds otherwise")
        }
        XCTAssertFalse(Conv2dShape(batch: 1, inChannels: 16, outChannels: 32, size: 28, kernel: 3, stride: 2,
                                   pad: 1).usesWinograd)
        XCTAssertFalse(Conv2dShape(batch: 1, inChannels: 16, outChannels: 16, size: 28, kernel: 3, pad: 1,
                                   groups: 2).usesWinograd)
        XCTAssertTrue(Conv2dShape(batch: 1, inChannels: 16, outChannels: 16, size: 32, kernel: 3, pad: 1).usesWinograd)
        XCTAssertFalse(Conv2dShape(batch: 1, inChannels: 16, height: 32, width: 33, outChannels: 16, kernelH: 3,
                                   kernelW: 3, padH: 1, padW: 1).usesWinograd)
        XCTAssertFalse(Conv2dShape(batch: 1, inChannels: 4, outChannels: 16, size: 28, kernel: 3, pad: 1).usesWinograd)
    }

    /// A workspace reuses its packed transformed weights only for bit-identical weights
    /// and the same use: an in-place change of one weight (as an optimizer step makes),
    /// a backward-data in between, and new weights each give the fresh result.
    func testPackedWeightsFollowTheWeights() {
        let s = Conv2dShape(batch: 2, inChannels: 16, outChannels: 24, size: 14, kernel: 3, pad: 1)
        var c = Case(s, 7)
        let ws = Conv2dWorkspace(shape: s, threads: 1)
        func forward() -> [UInt32] {
            var y = [Float](repeating: .nan, count: s.outputCount)
            conv2dForward(s, input: c.x, weight: c.w, bias: nil, output: &y, workspace: ws)
            return y.map(\.bitPattern)
        }
        func fresh() -> [UInt32] { c.forward(bias: false, pool: nil, f4: true).map(\.bitPattern) }
        XCTAssertEqual(forward(), fresh(), "first call")
        XCTAssertEqual(ws.winograd4?.store.packedKind, .forward)
        XCTAssertEqual(forward(), fresh(), "same weights again")
        c = Case(s, 7, weights: c.w.indices.map { i in i == c.w.count - 1 ? c.w[i] + 0.5 : c.w[i] })
        XCTAssertEqual(forward(), fresh(), "last weight changed")
        var dx = [Float](repeating: .nan, count: s.inputCount)
        conv2dBackwardData(s, gradOutput: c.dy, weight: c.w, gradInput: &dx, workspace: ws)
        XCTAssertEqual(dx.map(\.bitPattern), c.backwardData(pool: nil, f4: true).map(\.bitPattern), "backward-data")
        XCTAssertEqual(ws.winograd4?.store.packedKind, .backwardData)
        XCTAssertEqual(forward(), fresh(), "forward after backward-data")
    }
}
