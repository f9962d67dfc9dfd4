import XCTest
@testable import TensorEngine

final class Conv2dTests: XCTestCase {
    static let pool2 = ThreadPool(threads: 2)
    static let pool3 = ThreadPool(threads: 3)
    static var pools: [ThreadPool?] { [nil, pool2, pool3] }

    static func random(_ count: Int, seed: UInt64) -> [Float] {
        var rng = CounterRNG(seed: seed, stream: 0xC0)
        return (0..<count).map { _ in rng.nextUniform() * 2 - 1 }
    }

    /// Tolerance for a Float32 result that sums `terms` products of values in [-1, 1)
    /// against the Double reference: with random signs the partial sums grow like
    /// sqrt(terms), and each of the `terms` additions rounds by at most eps32/2 of
    /// its partial sum, so the error stays below about terms^1.5 * 6e-8 (GEMM
    /// blocking changes the order, not this bound). We allow twice that plus a floor;
    /// an indexing or padding bug gives errors of order 1.
    static func tolerance(terms: Int) -> Float {
        Float(2 * pow(Double(max(terms, 1)), 1.5) * 6e-8 + 1e-6)
    }

    /// Odd shapes over batch 1-3, channels 1/3/5/16, sizes 1-17, kernels 1/3/5, stride 1/2,
    /// padding 0-2, groups 1 / 2 / depthwise; picked deterministically from the product.
    static let shapes: [Conv2dShape] = {
        var list: [Conv2dShape] = [
            Conv2dShape(batch: 2, inChannels: 16, outChannels: 16, size: 7, kernel: 1),                // pointwise
            Conv2dShape(batch: 3, inChannels: 5, outChannels: 3, size: 9, kernel: 1, stride: 2),       // 1x1 s2 shortcut
            Conv2dShape(batch: 2, inChannels: 16, outChannels: 16, size: 9, kernel: 3, pad: 1, groups: 16),
            Conv2dShape(batch: 1, inChannels: 3, outChannels: 5, size: 1, kernel: 3, pad: 1),          // 1x1 image, 3x3 kernel
            Conv2dShape(batch: 3, inChannels: 16, outChannels: 16, size: 17, kernel: 5, stride: 2, pad: 2, groups: 2),
            Conv2dShape(batch: 2, inChannels: 1, outChannels: 16, size: 17, kernel: 3, pad: 1),         // stem-like
            Conv2dShape(batch: 2, inChannels: 3, height: 7, width: 9, outChannels: 5, kernelH: 3, kernelW: 5,
                        strideH: 2, strideW: 1, padH: 2, padW: 1),                                        // asymmetric
            Conv2dShape(batch: 1, inChannels: 5, outChannels: 5, size: 17, kernel: 5, stride: 2, pad: 2, groups: 5),
            Conv2dShape(batch: 3, inChannels: 16, outChannels: 16, size: 17, kernel: 3, pad: 1),        // 2 SIMD rows + tail
            // several images per GEMM, in runs of 7 and 6 (k = 576: blocked weight-gradient GEMM)
            Conv2dShape(batch: 20, inChannels: 64, outChannels: 8, size: 7, kernel: 3, pad: 1),
            // implicit GEMM (stride 1, "same" padding, width >= 14): Cout not a multiple of 8,
            // Cin != Cout (the bordered planes serve both), 5x5, a non-square plane, ResNet's 28x28
            Conv2dShape(batch: 3, inChannels: 3, outChannels: 20, size: 15, kernel: 5, pad: 2),
            Conv2dShape(batch: 2, inChannels: 9, height: 5, width: 16, outChannels: 3, kernelH: 3, kernelW: 3,
                        padH: 1, padW: 1),
            Conv2dShape(batch: 3, inChannels: 16, outChannels: 16, size: 28, kernel: 3, pad: 1),
            // stride 2 on even planes, im2col through parity planes (Im2colStride2.swift):
            // ResNet's 3x3 and 1x1 downsampling, 5x5 (two base rows per parity), groups, and
            // 3x3 unpadded on 10x10 (4x4 outputs: not half the plane, the general path)
            Conv2dShape(batch: 2, inChannels: 5, outChannels: 7, size: 28, kernel: 3, stride: 2, pad: 1),
            Conv2dShape(batch: 2, inChannels: 16, outChannels: 8, size: 14, kernel: 1, stride: 2),
            Conv2dShape(batch: 1, inChannels: 3, outChannels: 4, size: 12, kernel: 5, stride: 2, pad: 2),
            Conv2dShape(batch: 2, inChannels: 8, outChannels: 6, size: 16, kernel: 3, stride: 2, pad: 1, groups: 2),
            Conv2dShape(batch: 2, inChannels: 4, outChannels: 4, size: 10, kernel: 3, stride: 2),
            // depthwise stride 1 as flat runs (DepthwiseFlat.swift): MobileNetV2's 3x3 on 4x4
            // and 8x8 planes (one 16-float run covers several rows), 5x5 "same", and 3x3
            // unpadded (backward-data keeps the row loop)
            Conv2dShape(batch: 3, inChannels: 24, outChannels: 24, size: 4, kernel: 3, pad: 1, groups: 24),
            Conv2dShape(batch: 2, inChannels: 16, outChannels: 16, size: 8, kernel: 3, pad: 1, groups: 16),
            Conv2dShape(batch: 2, inChannels: 5, outChannels: 5, size: 11, kernel: 5, pad: 2, groups: 5),
            Conv2dShape(batch: 2, inChannels: 3, outChannels: 3, size: 9, kernel: 3, groups: 3),
            // depthwise stride 2 as flat runs over the four phases of the padded plane:
            // MobileNetV2's 3x3 on 8x8 and 32x32, odd planes (the phases differ in size),
            // unpadded (the last padded row and column are never read)
            Conv2dShape(batch: 2, inChannels: 16, outChannels: 16, size: 8, kernel: 3, stride: 2, pad: 1, groups: 16),
            Conv2dShape(batch: 1, inChannels: 24, outChannels: 24, size: 32, kernel: 3, stride: 2, pad: 1, groups: 24),
            Conv2dShape(batch: 3, inChannels: 5, outChannels: 5, size: 7, kernel: 3, stride: 2, pad: 1, groups: 5),
            Conv2dShape(batch: 2, inChannels: 3, outChannels: 3, size: 10, kernel: 3, stride: 2, groups: 3),
        ]
        var rng = CounterRNG(seed: 42, stream: 7)
        let channels = [1, 3, 5, 16], sizes = [1, 3, 7, 9, 17], kernels = [1, 3, 5]
        while list.count < 60 {
            let batch = 1 + rng.nextInt(below: 3)
            let size = sizes[rng.nextInt(below: sizes.count)]
            let kernel = kernels[rng.nextInt(below: kernels.count)]
            let stride = 1 + rng.nextInt(below: 2), pad = rng.nextInt(below: 3)
            if size + 2 * pad < kernel { continue }
            var cin = channels[rng.nextInt(below: 4)], cout = channels[rng.nextInt(below: 4)], groups = 1
            switch rng.nextInt(below: 4) {
            case 0: groups = cin; cout = cin              // depthwise (or plain when cin == 1)
            case 1: cin = cin == 1 ? 2 : (cin == 3 ? 6 : cin * 2); cout = [2, 6, 16][rng.nextInt(below: 3)]; groups = 2
            default: break
            }
            list.append(Conv2dShape(batch: batch, inChannels: cin, outChannels: cout, size: size, kernel: kernel,
                                    stride: stride, pad: pad, groups: groups))
        }
        return list
    }()

    func testForwardMatchesReference() {
        for (si, s) in Self.shapes.enumerated() {
            let x = Self.random(s.inputCount, seed: UInt64(si)), w = Self.random(s.weightCount, seed: 1000 + UInt64(si))
            let b = Self.random(s.outChannels, seed: 2000 + UInt64(si))
            for withBias in [false, true] {
                var expected = [Float](repeating: 0, count: s.outputCount)
                conv2dForwardReference(s, input: x, weight: w, bias: withBias ? b : nil, output: &expected)
                let tol = Self.tolerance(terms: s.colRows + 1)
                for pool in Self.pools {
                    let ws = Conv2dWorkspace(shape: s, threads: pool?.threads ?? 1)
                    var y = [Float](repeating: .nan, count: s.outputCount)  // must be overwritten
                    b.withUnsafeBufferPointer { bp in
                        conv2dForward(s, input: x, weight: w, bias: withBias ? bp.baseAddress : nil, output: &y,
                                      workspace: ws, pool: pool)
                    }
                    assertClose(y, expected, tol, "forward \(s) bias \(withBias) threads \(pool?.threads ?? 1)")
                }
            }
        }
    }

    func testBackwardDataMatchesReference() {
        for (si, s) in Self.shapes.enumerated() {
            let dy = Self.random(s.outputCount, seed: 3000 + UInt64(si)), w = Self.random(s.weightCount, seed: UInt64(si))
            var expected = [Float](repeating: 0, count: s.inputCount)
            conv2dBackwardDataReference(s, gradOutput: dy, weight: w, gradInput: &expected)
            let tol = Self.tolerance(terms: s.outPerGroup * s.kernelH * s.kernelW)
            for pool in Self.pools {
                let ws = Conv2dWorkspace(shape: s, threads: pool?.threads ?? 1)
                var dx = [Float](repeating: .nan, count: s.inputCount)
                conv2dBackwardData(s, gradOutput: dy, weight: w, gradInput: &dx, workspace: ws, pool: pool)
                assertClose(dx, expected, tol, "backward-data \(s) threads \(pool?.threads ?? 1)")
            }
        }
    }

    func testBackwardWeightsMatchesReference() {
        for (si, s) in Self.shapes.enumerated() {
            let x = Self.random(s.inputCount, seed: 4000 + UInt64(si)), dy = Self.random(s.outputCount, seed: UInt64(si))
            var expectedW = [Float](repeating: 0, count: s.weightCount)
            var expectedB = [Float](repeating: 0, count: s.outChannels)
            conv2dBackwardWeightsReference(s, input: x, gradOutput: dy, gradWeight: &expectedW, gradBias: &expectedB)
            let tol = Self.tolerance(terms: s.batch * s.colCols)
            for pool in Self.pools {
                let ws = Conv2dWorkspace(shape: s, threads: pool?.threads ?? 1)
                var dw = [Float](repeating: .nan, count: s.weightCount)
                var db = [Float](repeating: .nan, count: s.outChannels)
                conv2dBackwardWeights(s, input: x, gradOutput: dy, gradWeight: &dw, gradBias: &db, workspace: ws, pool: pool)
                assertClose(dw, expectedW, tol, "backward-weights \(s) threads \(pool?.threads ?? 1)")
                assertClose(db, expectedB, tol, "backward-bias \(s) threads \(pool?.threads ?? 1)")
                var dw2 = [Float](repeating: .nan, count: s.weightCount)
                conv2dBackwardWeights(s, input: x, gradOutput: dy, gradWeight: &dw2, gradBias: nil, workspace: ws, pool: pool)
                XCTAssertEqual(dw2, dw, "gradBias nil changes gradWeight \(s)")
            }
        }
    }

    /// The backward kernels against central differences of the Double reference forward.
    /// The convolution is linear in input and in weight, so a central difference in
    /// Double is exact up to ~1e-12 relative rounding; the remaining difference is
    /// the Float32 accumulation of the analytic gradient (a few 1e-6 here), so
    /// 1e-4 absolute + 1e-4 relative separates that from any real error (order 0.1+).
    func testGradientsMatchFiniteDifferences() {
        XCTAssertTrue(Conv2dShape(batch: 2, inChannels: 2, outChannels: 3, size: 14, kernel: 3, pad: 1).usesImplicitGemm)
        XCTAssertFalse(Conv2dShape(batch: 2, inChannels: 2, outChannels: 3, size: 14, kernel: 3, stride: 2, pad: 1)
            .usesImplicitGemm)
        let shapes = [
            Conv2dShape(batch: 2, inChannels: 3, outChannels: 4, size: 5, kernel: 3, stride: 2, pad: 1),
            Conv2dShape(batch: 1, inChannels: 4, outChannels: 2, size: 6, kernel: 3, pad: 2, groups: 2),
            Conv2dShape(batch: 2, inChannels: 3, outChannels: 3, size: 5, kernel: 3, pad: 1, groups: 3),
            Conv2dShape(batch: 2, inChannels: 3, outChannels: 2, size: 4, kernel: 1),
            Conv2dShape(batch: 3, inChannels: 2, outChannels: 3, size: 5, kernel: 1, stride: 2),
            Conv2dShape(batch: 2, inChannels: 2, outChannels: 3, size: 14, kernel: 3, pad: 1),     // implicit GEMM
        ]
        for (si, s) in shapes.enumerated() {
            let xf = Self.random(s.inputCount, seed: 50 + UInt64(si)), wf = Self.random(s.weightCount, seed: 60 + UInt64(si))
            let bf = Self.random(s.outChannels, seed: 70 + UInt64(si))
            let probe = FiniteDifference.probe(count: s.outputCount, seed: UInt64(si))
            let dy = probe.map { Float($0) }  // exact: the probe values have 24-bit mantissas
            var x = xf.map(Double.init), w = wf.map(Double.init), b = bf.map(Double.init)
            func forward() -> [Double] {
                var y = [Double](repeating: 0, count: s.outputCount)
                conv2dForwardReference(s, input: x, weight: w, bias: b, output: &y)
                return y
            }
            for pool in [nil, Self.pool2] {
                let ws = Conv2dWorkspace(shape: s, threads: pool?.threads ?? 1)
                var dx = [Float](repeating: .nan, count: s.inputCount)
                conv2dBackwardData(s, gradOutput: dy, weight: wf, gradInput: &dx, workspace: ws, pool: pool)
                var dw = [Float](repeating: .nan, count: s.weightCount), db = [Float](repeating: .nan, count: s.outChannels)
                conv2dBackwardWeights(s, input: xf, gradOutput: dy, gradWeight: &dw, gradBias: &db, workspace: ws, pool: pool)
                let nx = x.withUnsafeMutableBufferPointer { p in
                    FiniteDifference.gradient(of: p.baseAddress!, count: s.inputCount, probe: probe, forward: forward)
                }
                let nw = w.withUnsafeMutableBufferPointer { p in
                    FiniteDifference.gradient(of: p.baseAddress!, count: s.weightCount, probe: probe, forward: forward)
                }
                let nb = b.withUnsafeMutableBufferPointer { p in
                    FiniteDifference.gradient(of: p.baseAddress!, count: s.outChannels, probe: probe, forward: forward)
                }
                let tag = "\(s) threads \(pool?.threads ?? 1)"
                FiniteDifference.assertClose(dx.map(Double.init), nx, absTol: 1e-4, relTol: 1e-4, "gradInput \(tag)")
                FiniteDifference.assertClose(dw.map(Double.init), nw, absTol: 1e-4, relTol: 1e-4, "gradWeight \(tag)")
                FiniteDifference.assertClose(db.map(Double.init), nb, absTol: 1e-4, relTol: 1e-4, "gradBias \(tag)")
            }
        }
    }

    /// Same inputs and thread count give identical bits, even with a reused workspace.
    func testDeterministic() {
        let shapes = [
            Conv2dShape(batch: 5, inChannels: 16, outChannels: 32, size: 9, kernel: 3, stride: 2, pad: 1),
            Conv2dShape(batch: 4, inChannels: 16, outChannels: 16, size: 7, kernel: 1),
            Conv2dShape(batch: 3, inChannels: 16, outChannels: 16, size: 9, kernel: 3, pad: 1, groups: 16),
            Conv2dShape(batch: 1, inChannels: 8, outChannels: 8, size: 9, kernel: 3, pad: 1),
            Conv2dShape(batch: 5, inChannels: 16, outChannels: 16, size: 14, kernel: 3, pad: 1),   // implicit GEMM
        ]
        for s in shapes {
            let x = Self.random(s.inputCount, seed: 1), w = Self.random(s.weightCount, seed: 2)
            let b = Self.random(s.outChannels, seed: 3), dy = Self.random(s.outputCount, seed: 4)
            for pool in Self.pools {
                let ws = Conv2dWorkspace(shape: s, threads: pool?.threads ?? 1)
                func once() -> [[UInt32]] {
                    var y = [Float](repeating: 0, count: s.outputCount), dx = [Float](repeating: 0, count: s.inputCount)
                    var dw = [Float](repeating: 0, count: s.weightCount), db = [Float](repeating: 0, count: s.outChannels)
                    conv2dForward(s, input: x, weight: w, bias: b, output: &y, workspace: ws, pool: pool)
                    conv2dBackwardData(s, gradOutput: dy, weight: w, gradInput: &dx, workspace: ws, pool: pool)
                    conv2dBackwardWeights(s, input: x, gradOutput: dy, gradWeight: &dw, gradBias: &db, workspace: ws, pool: pool)
                    return [y, dx, dw, db].map { $0.map(\.bitPattern) }
                }
                XCTAssertEqual(once(), once(), "\(s) threads \(pool?.threads ?? 1)")
            }
        }
    }

    func testShapeArithmetic() {
        let s = Conv2dShape(batch: 128, inChannels: 16, outChannels: 32, size: 28, kernel: 3, stride: 2, pad: 1)
        XCTAssertEqual(s.outHeight, 14)
        XCTAssertEqual(s.outWidth, 14)
        XCTAssertEqual(s.colRows, 144)
        XCTAssertEqual(s.flops, 2 * 128 * 32 * 196 * 144)
        XCTAssertFalse(s.isPointwise)
        XCTAssertTrue(Conv2dShape(batch: 1, inChannels: 4, outChannels: 4, size: 5, kernel: 3, groups: 4).isDepthwise)
    }

    func assertClose(_ a: [Float], _ b: [Float], _ tol: Float, _ message: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        assertAllClose(a, b, atol: Double(tol), message, file: file, line: line)
    }
}
