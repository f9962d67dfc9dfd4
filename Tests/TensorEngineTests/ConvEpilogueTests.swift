import XCTest
@testable import TensorEngine

/// The fused epilogue (batch norm's inference affine, residual, ReLU) must give exactly
/// what conv2dForward, batchNorm2dForwardInference, add and reluForward give one after
/// the other: evaluation of quantized models relies on the same bits.
final class ConvEpilogueTests: XCTestCase {
    /// One shape per forward path: Winograd (3x3 s1, 28x28 / 7x7 / 14x14 rows), implicit
    /// GEMM (5x5 "same"), im2col with several images per GEMM (3x3 s2), one image per GEMM
    /// (7x7 planes, stem-like Cin 1), pointwise, the 1x1 stride-2 shortcut, depthwise.
    static let shapes: [Conv2dShape] = [
        Conv2dShape(batch: 3, inChannels: 16, outChannels: 16, size: 28, kernel: 3, pad: 1),
        Conv2dShape(batch: 5, inChannels: 24, outChannels: 40, size: 7, kernel: 3, pad: 1),
        Conv2dShape(batch: 2, inChannels: 9, outChannels: 12, size: 14, kernel: 3, pad: 1),
        Conv2dShape(batch: 3, inChannels: 3, outChannels: 20, size: 15, kernel: 5, pad: 2),
        Conv2dShape(batch: 4, inChannels: 16, outChannels: 32, size: 28, kernel: 3, stride: 2, pad: 1),
        Conv2dShape(batch: 2, inChannels: 1, outChannels: 16, size: 17, kernel: 3, pad: 1),
        Conv2dShape(batch: 2, inChannels: 16, outChannels: 16, size: 7, kernel: 1),
        Conv2dShape(batch: 3, inChannels: 16, outChannels: 32, size: 14, kernel: 1, stride: 2),
        Conv2dShape(batch: 2, inChannels: 16, outChannels: 16, size: 9, kernel: 3, pad: 1, groups: 16),
    ]

    func testFusedEqualsLayerByLayerBitForBit() {
        for (i, s) in Self.shapes.enumerated() {
            let x = Conv2dTests.random(s.inputCount, seed: UInt64(10 + i))
            let w = Conv2dTests.random(s.weightCount, seed: UInt64(20 + i))
            let residual = Conv2dTests.random(s.outputCount, seed: UInt64(30 + i))
            let c = s.outChannels
            let gamma = Conv2dTests.random(c, seed: UInt64(40 + i))
            let beta = Conv2dTests.random(c, seed: UInt64(50 + i))
            let mean = Conv2dTests.random(c, seed: UInt64(60 + i))
            let variance = Conv2dTests.random(c, seed: UInt64(70 + i)).map { $0 * $0 + 0.1 }
            let affine = (0..<c).map {
                bnInferenceAffine(gamma: gamma[$0], beta: beta[$0], mean: mean[$0], variance: variance[$0], eps: 1e-5)
            }
            let scale = affine.map(\.scale), shift = affine.map(\.shift)
            for pool in Conv2dTests.pools {
                for winograd in [true, false] {
                    for (withResidual, relu) in [(false, true), (true, true), (true, false)] {
                        let ws = Conv2dWorkspace(shape: s, threads: pool?.threads ?? 1)
                        // Layer by layer.
                        var expected = [Float](repeating: 0, count: s.outputCount)
                        conv2dForward(s, input: x, weight: w, bias: nil, output: &expected, workspace: ws, pool: pool,
                                      winograd: winograd)
                        var bn = [Float](repeating: 0, count: s.outputCount)
                        batchNorm2dForwardInference(input: expected, output: &bn, n: s.batch, c: c, h: s.outHeight,
                                                    w: s.outWidth, gamma: gamma, beta: beta, runningMean: mean,
                                                    runningVar: variance, eps: 1e-5, fuseReLU: relu && !withResidual)
                        if withResidual {
                            add(bn, residual, into: &bn, count: s.outputCount)
                            if relu { reluForward(input: bn, output: &bn, count: s.outputCount) }
                        }
                        // Fused.
                        var fused = [Float](repeating: .nan, count: s.outputCount)
                        scale.withUnsafeBufferPointer { sp in
                            shift.withUnsafeBufferPointer { tp in
                                residual.withUnsafeBufferPointer { rp in
                                    let e = ConvEpilogue(scale: sp.baseAddress!, shift: tp.baseAddress!,
                                                         residual: withResidual ? rp.baseAddress! : nil, relu: relu)
                                    conv2dForward(s, input: x, weight: w, bias: nil, output: &fused, workspace: ws,
                                                  pool: pool, winograd: winograd, epilogue: e)
                                }
                            }
                        }
                        let mismatches = zip(bn, fused).filter { $0.bitPattern != $1.bitPattern }.count
                        XCTAssertEqual(mismatches, 0, "\(s) threads \(pool?.threads ?? 1) winograd \(winograd) "
                                       + "residual \(withResidual) relu \(relu)")
                    }
                }
            }
        }
    }

    /// The affine both paths share is batch norm's: scale = gamma / sqrt(var + eps),
    /// shift = beta - mean * scale.
    func testInferenceAffineIsTheBatchNormFormula() {
        let (scale, shift) = bnInferenceAffine(gamma: 0.5, beta: 0.25, mean: 1, variance: 3, eps: 1e-5)
        XCTAssertEqual(scale, Float(0.5 / (3.0 + 1e-5).squareRoot()), accuracy: 1e-7)
        XCTAssertEqual(shift, 0.25 - scale, accuracy: 1e-7)
    }
}
