import XCTest
@testable import TensorEngine

/// Winograd on integer levels: with input and weights on quantization grids the result
/// is the exact integer convolution times the two steps, rounded once, bit for bit; when
/// the levels could overflow Float's exact range the direct path runs instead.
final class Conv2dWinogradLevelsTests: XCTestCase {
    struct Grids {
        let shape: Conv2dShape
        let lx: [Int], lw: [Int]
        let sx: Float, sw: [Float]
        let x: [Float], w: [Float]

        init(_ s: Conv2dShape, inputMax: Int, weightMax: Int, seed: UInt64) {
            shape = s
            var rng = CounterRNG(seed: seed, stream: 5)
            let lx = (0..<s.inputCount).map { _ in rng.nextInt(below: inputMax + 1) }
            let lw = (0..<s.weightCount).map { _ in rng.nextInt(below: 2 * weightMax + 1) - weightMax }
            let sx = 0.0371 + rng.nextUniform() * 0.01
            let sw = (0..<s.outChannels).map { _ in 0.013 + rng.nextUniform() * 0.01 }
            // As the quantizers store them: level times step, rounded once.
            let perChannel = s.weightCount / s.outChannels
            x = lx.map { Float($0) * sx }
            w = lw.indices.map { Float(lw[$0]) * sw[$0 / perChannel] }
            self.lx = lx; self.lw = lw; self.sx = sx; self.sw = sw
        }

        /// The exact integer sum of each output, times sx * sw[co] in Float.
        func exact() -> [Float] {
            let s = shape, h = s.height, wd = s.width
            var y = [Float](repeating: 0, count: s.outputCount)
            for n in 0..<s.batch {
                for co in 0..<s.outChannels {
                    for oy in 0..<h {
                        for ox in 0..<wd {
                            var acc = 0
                            for ci in 0..<s.inChannels {
                                for kh in 0..<3 {
                                    for kw in 0..<3 {
                                        let iy = oy + kh - 1, ix = ox + kw - 1
                                        guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                        acc += lx[((n * s.inChannels + ci) * h + iy) * wd + ix]
                                            * lw[((co * s.inChannels + ci) * 3 + kh) * 3 + kw]
                                    }
                                }
                            }
                            y[((n * s.outChannels + co) * h + oy) * wd + ox] = Float(acc) * (sx * sw[co])
                        }
                    }
                }
            }
            return y
        }

        func run(inputMax: Int, weightMax: Int, pool: ThreadPool?, winograd: Bool = false) -> [Float] {
            let ws = Conv2dWorkspace(shape: shape, threads: pool?.threads ?? 1)
            var y = [Float](repeating: .nan, count: shape.outputCount)
            sw.withUnsafeBufferPointer { steps in
                let levels = ConvLevels(inputStep: sx, inputMaxLevel: inputMax, weightSteps: steps.baseAddress!,
                                        weightMaxLevel: weightMax)
                conv2dForward(shape, input: x, weight: w, bias: nil, output: &y, workspace: ws, pool: pool,
                              winograd: winograd, levels: levels)
            }
            return y
        }
    }

    static let shapes: [Conv2dShape] = [
        Conv2dShape(batch: 2, inChannels: 16, outChannels: 16, size: 28, kernel: 3, pad: 1),
        Conv2dShape(batch: 3, inChannels: 32, outChannels: 24, size: 7, kernel: 3, pad: 1),
        Conv2dShape(batch: 2, inChannels: 9, outChannels: 12, size: 13, kernel: 3, pad: 1),
    ]

    func testFourBitLevelsSumExactly() {
        for (i, s) in Self.shapes.enumerated() {
            let g = Grids(s, inputMax: 15, weightMax: 7, seed: UInt64(i))
            let want = g.exact().map(\.bitPattern)
            for pool in [nil, Conv2dTests.pool2] {
                XCTAssertEqual(g.run(inputMax: 15, weightMax: 7, pool: pool).map(\.bitPattern), want,
                               "\(s) threads \(pool?.threads ?? 1)")
            }
        }
    }

    /// The float convolution of the same values is not exact: the levels path is a real change.
    func testDirectFloatSumsDifferFromExact() {
        let s = Self.shapes[0]
        let g = Grids(s, inputMax: 15, weightMax: 7, seed: 0)
        let ws = Conv2dWorkspace(shape: s, threads: 1)
        var direct = [Float](repeating: 0, count: s.outputCount)
        conv2dForward(s, input: g.x, weight: g.w, bias: nil, output: &direct, workspace: ws, winograd: false)
        XCTAssertNotEqual(direct.map(\.bitPattern), g.exact().map(\.bitPattern))
    }

    /// 8-bit inputs over 32 channels could pass 2^24 quarters: the direct sums run.
    func testLevelsTooLargeForFloatTakeTheDirectPath() {
        let s = Self.shapes[1]
        XCTAssertTrue(ConvLevels(inputStep: 1, inputMaxLevel: 15, weightSteps: [1], weightMaxLevel: 7)
            .isExact(inChannels: 32))
        XCTAssertFalse(ConvLevels(inputStep: 1, inputMaxLevel: 255, weightSteps: [1], weightMaxLevel: 127)
            .isExact(inChannels: 32))
        let g = Grids(s, inputMax: 255, weightMax: 127, seed: 3)
        let ws = Conv2dWorkspace(shape: s, threads: 1)
        var direct = [Float](repeating: 0, count: s.outputCount)
        conv2dForward(s, input: g.x, weight: g.w, bias: nil, output: &direct, workspace: ws, winograd: false)
        XCTAssertEqual(g.run(inputMax: 255, weightMax: 127, pool: nil).map(\.bitPattern), direct.map(\.bitPattern))
    }
}
