import XCTest
@testable import TensorEngine

final class PoolingTests: XCTestCase {
    struct Geo { let n, c, h, w, k, s, p: Int }
    let geos = [Geo(n: 1, c: 1, h: 1, w: 1, k: 1, s: 1, p: 0), Geo(n: 2, c: 3, h: 7, w: 7, k: 3, s: 2, p: 1),
                Geo(n: 1, c: 7, h: 17, w: 3, k: 2, s: 2, p: 0), Geo(n: 2, c: 1, h: 65, w: 17, k: 3, s: 1, p: 1),
                Geo(n: 1, c: 2, h: 129, w: 7, k: 5, s: 3, p: 2), Geo(n: 3, c: 17, h: 7, w: 17, k: 3, s: 2, p: 0)]

    func outSize(_ g: Geo) -> (Int, Int) {
        (pool2dOutputSize(inputSize: g.h, kernel: g.k, stride: g.s, padding: g.p),
         pool2dOutputSize(inputSize: g.w, kernel: g.k, stride: g.s, padding: g.p))
    }

    // Max pool and its scatter are exact (copies and sums of at most k^2 terms in
    // the same order); average pool sums <= 25 Float terms: 1e-6 relative + absolute.
    func testForwardMatchesReference() {
        for g in geos {
            let (oh, ow) = outSize(g)
            let count = g.n * g.c * g.h * g.w, ocount = g.n * g.c * oh * ow
            let x = opsRandom(count, seed: 61)
            let tx = opsTensor(x), ty = opsNaNTensor(ocount)
            let idx = UnsafeMutablePointer<Int32>.allocate(capacity: max(ocount, 1)); defer { idx.deallocate() }
            maxPool2dForward(input: tx.data, output: ty.data, indices: idx, n: g.n, c: g.c, h: g.h, w: g.w,
                             kernel: g.k, stride: g.s, padding: g.p, pool: opsPool2)
            let ref = maxPool2dReference(opsD(x), n: g.n, c: g.c, h: g.h, w: g.w, kernel: g.k, stride: g.s, padding: g.p)
            XCTAssertEqual(opsD(ty.array), ref.y, "max \(g)")
            XCTAssertEqual((0..<ocount).map { Int(idx[$0]) }, ref.indices, "argmax \(g)")
            avgPool2dForward(input: tx.data, output: ty.data, n: g.n, c: g.c, h: g.h, w: g.w,
                             kernel: g.k, stride: g.s, padding: g.p, pool: opsPool3)
            opsAssertClose(ty.array, avgPool2dReference(opsD(x), n: g.n, c: g.c, h: g.h, w: g.w, kernel: g.k,
                                                         stride: g.s, padding: g.p), rtol: 1e-6, atol: 1e-6, "avg \(g)")
            let tgap = opsNaNTensor(g.n * g.c)
            globalAvgPoolForward(input: tx.data, output: tgap.data, n: g.n, c: g.c, h: g.h, w: g.w)
            opsAssertClose(tgap.array, globalAvgPoolReference(opsD(x), n: g.n, c: g.c, h: g.h, w: g.w),
                           rtol: 1e-6, atol: 1e-6, "gap \(g)")
        }
    }

    /// The 2x2 stride-2 path (selects instead of branches) keeps the general loop's
    /// order: among equal maxima the first in row order wins, a NaN never does, and an
    /// all-NaN window gives -inf at its first position.
    func testTwoByTwoTiesAndNaN() {
        let nan = Float.nan
        let x: [Float] = [1, 1, nan, 2, 5, 5,
                          1, 1, 3, nan, 5, 5,
                          nan, nan, -1, -2, 0, 7,
                          nan, nan, -3, -1, 7, 0]
        var y = [Float](repeating: 0, count: 6), idx = [Int32](repeating: -9, count: 6)
        maxPool2dForward(input: x, output: &y, indices: &idx, n: 1, c: 1, h: 4, w: 6, kernel: 2, stride: 2, padding: 0)
        XCTAssertEqual(y, [1, 3, 5, -.infinity, -1, 7])
        XCTAssertEqual(idx, [0, 8, 4, 12, 14, 17])
    }

    // Pooling is piecewise linear; FD on the Double reference (step 1e-6, random data so
    // no ties within the step) is exact to ~1e-9. Float backward sums <= k^2 terms.
    func testBackwardMatchesFiniteDifferences() {
        for g in geos.prefix(5) where g.h * g.w * g.n * g.c <= 2000 {
            let (oh, ow) = outSize(g)
            let count = g.n * g.c * g.h * g.w, ocount = g.n * g.c * oh * ow
            let x = opsRandom(count, seed: 71), wts = opsRandom(ocount, seed: 72)
            let tx = opsTensor(x), ty = opsNaNTensor(ocount), tw = opsTensor(wts), gx = opsNaNTensor(count)
            let idx = UnsafeMutablePointer<Int32>.allocate(capacity: max(ocount, 1)); defer { idx.deallocate() }
            let xd = opsD(x), wd = opsD(wts)
            maxPool2dForward(input: tx.data, output: ty.data, indices: idx, n: g.n, c: g.c, h: g.h, w: g.w,
                             kernel: g.k, stride: g.s, padding: g.p)
            maxPool2dBackward(gradOutput: tw.data, indices: idx, gradInput: gx.data, n: g.n, c: g.c, h: g.h, w: g.w,
                              kernel: g.k, stride: g.s, padding: g.p, pool: opsPool2)
            opsAssertClose(gx.array, opsNumericGradient(xd) {
                opsWeightedSum(maxPool2dReference($0, n: g.n, c: g.c, h: g.h, w: g.w, kernel: g.k, stride: g.s,
                                                  padding: g.p).y, wd)
            }, rtol: 1e-5, atol: 1e-5, "max backward \(g)")
            avgPool2dBackward(gradOutput: tw.data, gradInput: gx.data, n: g.n, c: g.c, h: g.h, w: g.w,
                              kernel: g.k, stride: g.s, padding: g.p, pool: opsPool3)
            opsAssertClose(gx.array, opsNumericGradient(xd) {
                opsWeightedSum(avgPool2dReference($0, n: g.n, c: g.c, h: g.h, w: g.w, kernel: g.k, stride: g.s,
                                                  padding: g.p), wd)
            }, rtol: 1e-5, atol: 1e-5, "avg backward \(g)")
            let tgw = opsTensor(Array(wts.prefix(g.n * g.c)))
            globalAvgPoolBackward(gradOutput: tgw.data, gradInput: gx.data, n: g.n, c: g.c, h: g.h, w: g.w)
            opsAssertClose(gx.array, opsNumericGradient(xd) {
                opsWeightedSum(globalAvgPoolReference($0, n: g.n, c: g.c, h: g.h, w: g.w), Array(wd.prefix(g.n * g.c)))
            }, rtol: 1e-5, atol: 1e-5, "gap backward \(g)")
        }
    }

    func testDeterministicAcrossThreadCounts() {
        let g = Geo(n: 4, c: 16, h: 33, w: 33, k: 3, s: 2, p: 1)
        let (oh, ow) = outSize(g)
        let count = g.n * g.c * g.h * g.w, ocount = g.n * g.c * oh * ow
        let tx = opsTensor(opsRandom(count, seed: 81)), tw = opsTensor(opsRandom(ocount, seed: 82))
        var results: [[[UInt32]]] = []
        for pool in [nil, opsPool2, opsPool3] {
            let ty = opsNaNTensor(ocount), gx = opsNaNTensor(count), ta = opsNaNTensor(ocount), ga = opsNaNTensor(count)
            let idx = UnsafeMutablePointer<Int32>.allocate(capacity: ocount); defer { idx.deallocate() }
            maxPool2dForward(input: tx.data, output: ty.data, indices: idx, n: g.n, c: g.c, h: g.h, w: g.w,
                             kernel: g.k, stride: g.s, padding: g.p, pool: pool)
            maxPool2dBackward(gradOutput: tw.data, indices: idx, gradInput: gx.data, n: g.n, c: g.c, h: g.h, w: g.w,
                              kernel: g.k, stride: g.s, padding: g.p, pool: pool)
            avgPool2dForward(input: tx.data, output: ta.data, n: g.n, c: g.c, h: g.h, w: g.w,
                             kernel: g.k, stride: g.s, padding: g.p, pool: pool)
            avgPool2dBackward(gradOutput: tw.data, gradInput: ga.data, n: g.n, c: g.c, h: g.h, w: g.w,
                              kernel: g.k, stride: g.s, padding: g.p, pool: pool)
            results.append([ty, gx, ta, ga].map(opsBits))
        }
        for r in results.dropFirst() { XCTAssertEqual(r, results[0]) }
    }
}
