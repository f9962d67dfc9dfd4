import XCTest
@testable import TensorEngine

final class ResamplingTests: XCTestCase {
    let shapes: [(n: Int, c: Int, h: Int, w: Int)] = [(1, 1, 1, 1), (2, 3, 7, 3), (1, 2, 17, 5), (1, 1, 3, 65),
                                                       (2, 1, 1, 17), (1, 129, 2, 2)]

    // Nearest is an exact copy; bilinear weights are 0.25/0.75 (exact in Float) and
    // combine 4 terms: 1e-6 relative + absolute covers Float rounding.
    func testForwardMatchesReference() {
        for s in shapes {
            let count = s.n * s.c * s.h * s.w
            let x = opsRandom(count, seed: 91)
            let tx = opsTensor(x), ty = opsNaNTensor(4 * count)
            upsampleNearest2xForward(input: tx.data, output: ty.data, n: s.n, c: s.c, h: s.h, w: s.w, pool: opsPool2)
            XCTAssertEqual(opsD(ty.array), upsampleNearest2xReference(opsD(x), n: s.n, c: s.c, h: s.h, w: s.w), "\(s)")
            upsampleBilinear2xForward(input: tx.data, output: ty.data, n: s.n, c: s.c, h: s.h, w: s.w, pool: opsPool3)
            opsAssertClose(ty.array, upsampleBilinear2xReference(opsD(x), n: s.n, c: s.c, h: s.h, w: s.w),
                           rtol: 1e-6, atol: 1e-6, "bilinear \(s)")
        }
    }

    /// PyTorch: F.interpolate([[0, 1], [2, 3]], scale_factor=2, mode='bilinear', align_corners=False).
    func testBilinearKnownValues() {
        let tx = opsTensor([0, 1, 2, 3]), ty = opsNaNTensor(16)
        upsampleBilinear2xForward(input: tx.data, output: ty.data, n: 1, c: 1, h: 2, w: 2)
        XCTAssertEqual(ty.array, [0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5,
                                  1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0])
    }

    func testBackwardMatchesFiniteDifferences() {
        for s in shapes where s.n * s.c * s.h * s.w <= 200 {
            let count = s.n * s.c * s.h * s.w
            let x = opsD(opsRandom(count, seed: 92)), wts = opsRandom(4 * count, seed: 93)
            let tw = opsTensor(wts), gx = opsNaNTensor(count), wd = opsD(wts)
            upsampleNearest2xBackward(gradOutput: tw.data, gradInput: gx.data, n: s.n, c: s.c, h: s.h, w: s.w)
            opsAssertClose(gx.array, opsNumericGradient(x) {
                opsWeightedSum(upsampleNearest2xReference($0, n: s.n, c: s.c, h: s.h, w: s.w), wd)
            }, rtol: 1e-5, atol: 1e-5, "nearest backward \(s)")
            upsampleBilinear2xBackward(gradOutput: tw.data, gradInput: gx.data, n: s.n, c: s.c, h: s.h, w: s.w,
                                       pool: opsPool2)
            opsAssertClose(gx.array, opsNumericGradient(x) {
                opsWeightedSum(upsampleBilinear2xReference($0, n: s.n, c: s.c, h: s.h, w: s.w), wd)
            }, rtol: 1e-5, atol: 1e-5, "bilinear backward \(s)")
        }
    }

    func testDeterministicAcrossThreadCounts() {
        let (n, c, h, w) = (2, 16, 32, 33)
        let count = n * c * h * w
        let tg = opsTensor(opsRandom(4 * count, seed: 94))
        var results: [[UInt32]] = []
        for pool in [nil, opsPool2, opsPool3] {
            let gx = opsNaNTensor(count)
            upsampleBilinear2xBackward(gradOutput: tg.data, gradInput: gx.data, n: n, c: c, h: h, w: w, pool: pool)
            results.append(opsBits(gx))
        }
        XCTAssertEqual(results[1], results[0]); XCTAssertEqual(results[2], results[0])
    }

    func testConcatChannelsAndSplit() {
        for (n, ca, cb, h, w) in [(1, 1, 1, 1, 1), (2, 3, 7, 5, 3), (3, 17, 1, 7, 7), (2, 65, 129, 2, 3)] {
            let hw = h * w
            let a = opsRandom(n * ca * hw, seed: 95), b = opsRandom(n * cb * hw, seed: 96)
            let ta = opsTensor(a), tb = opsTensor(b), out = opsNaNTensor(n * (ca + cb) * hw)
            concatChannelsForward(ta.data, channelsA: ca, tb.data, channelsB: cb, output: out.data, n: n, h: h, w: w,
                                  pool: opsPool2)
            var want: [Float] = []
            for i in 0..<n { want += a[(i * ca * hw)..<((i + 1) * ca * hw)]; want += b[(i * cb * hw)..<((i + 1) * cb * hw)] }
            XCTAssertEqual(out.array, want)
            let ga = opsNaNTensor(a.count), gb = opsNaNTensor(b.count)
            concatChannelsBackward(gradOutput: out.data, gradA: ga.data, channelsA: ca, gradB: gb.data, channelsB: cb,
                                   n: n, h: h, w: w, pool: opsPool3)
            XCTAssertEqual(ga.array, a); XCTAssertEqual(gb.array, b)
        }
    }
}
