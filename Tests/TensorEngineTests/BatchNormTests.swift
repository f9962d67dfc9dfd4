import XCTest
@testable import TensorEngine

final class BatchNormTests: XCTestCase {
    struct Case { let n, c, h, w: Int }

    /// Runs the fast training forward; returns y, saved mean, invstd, running mean/var.
    func trainForward(_ x: [Float], _ s: Case, gamma: [Float], beta: [Float], rm: [Float], rv: [Float],
                      relu: Bool = false, pool: ThreadPool? = nil) -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
        let tx = opsTensor(x), ty = opsNaNTensor(x.count), tg = opsTensor(gamma), tb = opsTensor(beta)
        let trm = opsTensor(rm), trv = opsTensor(rv), sm = opsNaNTensor(s.c), si = opsNaNTensor(s.c)
        batchNorm2dForwardTraining(input: tx.data, output: ty.data, n: s.n, c: s.c, h: s.h, w: s.w,
                                   gamma: tg.data, beta: tb.data, runningMean: trm.data, runningVar: trv.data,
                                   saveMean: sm.data, saveInvStd: si.data, momentum: 0.1, eps: 1e-5,
                                   fuseReLU: relu, pool: pool)
        return (ty, sm, si, trm, trv)
    }

    // Float statistics over M <= ~17K values with Double accumulation across blocks:
    // outputs are O(few) so 2e-4 absolute / relative covers Float rounding of the
    // normalisation (x - mean) * invstd with |x - mean| up to ~10 sigma.
    func testTrainingForwardAndRunningStatsMatchReference() {
        let cases = [Case(n: 1, c: 1, h: 1, w: 3), Case(n: 2, c: 3, h: 7, w: 1), Case(n: 3, c: 17, h: 5, w: 7),
                     Case(n: 2, c: 7, h: 17, w: 65), Case(n: 1, c: 65, h: 3, w: 3), Case(n: 2, c: 129, h: 1, w: 1),
                     Case(n: 3, c: 2, h: 70, w: 61)]  // planes over 4096: Double flushes inside a plane
        for s in cases {
            let count = s.n * s.c * s.h * s.w
            let x = opsRandom(count, seed: 21, lo: 1, hi: 4)  // non-zero mean on purpose
            let gamma = opsRandom(s.c, seed: 22, lo: 0.5, hi: 1.5), beta = opsRandom(s.c, seed: 23)
            let rm = opsRandom(s.c, seed: 24), rv = opsRandom(s.c, seed: 25, lo: 0.5, hi: 2)
            let (y, sm, si, trm, trv) = trainForward(x, s, gamma: gamma, beta: beta, rm: rm, rv: rv, pool: opsPool2)
            let ref = batchNorm2dTrainingReference(opsD(x), n: s.n, c: s.c, h: s.h, w: s.w,
                                                   gamma: opsD(gamma), beta: opsD(beta))
            opsAssertClose(y.array, ref.y, rtol: 2e-4, atol: 2e-4, "y \(s)")
            opsAssertClose(sm.array, ref.mean, rtol: 1e-6, atol: 1e-6, "mean \(s)")
            opsAssertClose(si.array, ref.biasedVar.map { 1 / ($0 + 1e-5).squareRoot() }, rtol: 1e-4, atol: 0, "invstd \(s)")
            // PyTorch semantics: running = 0.9 running + 0.1 batch, the variance UNBIASED.
            opsAssertClose(trm.array, (0..<s.c).map { 0.9 * Double(rm[$0]) + 0.1 * ref.mean[$0] },
                           rtol: 1e-6, atol: 1e-6, "running mean \(s)")
            opsAssertClose(trv.array, (0..<s.c).map { 0.9 * Double(rv[$0]) + 0.1 * ref.unbiasedVar[$0] },
                           rtol: 1e-5, atol: 1e-6, "running var \(s)")
        }
    }

    /// Hand computation: channel values 1, 2, 3, 6 -> mean 3, biased var 3.5, unbiased 14/3.
    func testTrainingByHand() {
        let s = Case(n: 2, c: 1, h: 1, w: 2)
        let (y, sm, si, trm, trv) = trainForward([1, 2, 3, 6], s, gamma: [2], beta: [0.5], rm: [0], rv: [1])
        XCTAssertEqual(sm[0], 3)
        XCTAssertEqual(si[0], Float(1 / (3.5 + 1e-5).squareRoot()), accuracy: 1e-7)
        let inv = 1 / (3.5 + 1e-5).squareRoot()
        opsAssertClose(y.array, [1, 2, 3, 6].map { ($0 - 3) * inv * 2 + 0.5 }, rtol: 1e-6, atol: 1e-6, "y")
        XCTAssertEqual(trm[0], 0.3, accuracy: 1e-7)
        XCTAssertEqual(trv[0], Float(0.9 + 0.1 * 14.0 / 3.0), accuracy: 1e-6)
    }

    func testInferenceMatchesReference() {
        for c in [1, 3, 17, 129] {
            let s = Case(n: 2, c: c, h: 3, w: 7)
            let count = s.n * c * 21
            let x = opsRandom(count, seed: 31)
            let gamma = opsRandom(c, seed: 32), beta = opsRandom(c, seed: 33)
            let rm = opsRandom(c, seed: 34), rv = opsRandom(c, seed: 35, lo: 0.1, hi: 2)
            let tx = opsTensor(x), ty = opsNaNTensor(count), tg = opsTensor(gamma), tb = opsTensor(beta)
            let trm = opsTensor(rm), trv = opsTensor(rv)
            batchNorm2dForwardInference(input: tx.data, output: ty.data, n: s.n, c: c, h: 3, w: 7, gamma: tg.data,
                                        beta: tb.data, runningMean: trm.data, runningVar: trv.data)
            let ref = batchNorm2dInferenceReference(opsD(x), n: s.n, c: c, h: 3, w: 7, gamma: opsD(gamma),
                                                    beta: opsD(beta), runningMean: opsD(rm), runningVar: opsD(rv))
            opsAssertClose(ty.array, ref, rtol: 1e-5, atol: 1e-5, "inference c=\(c)")
            batchNorm2dForwardInference(input: tx.data, output: ty.data, n: s.n, c: c, h: 3, w: 7, gamma: tg.data,
                                        beta: tb.data, runningMean: trm.data, runningVar: trv.data, fuseReLU: true)
            opsAssertClose(ty.array, reluReference(ref), rtol: 1e-5, atol: 1e-5, "inference+relu c=\(c)")
        }
    }

    // Gradients are O(1); Float arithmetic over M <= 105 values per channel gives
    // errors ~1e-6, finite differences of the Double reference (step 1e-6) ~1e-9.
    func checkBackward(_ s: Case, relu: Bool) {
        let count = s.n * s.c * s.h * s.w
        let x = opsRandom(count, seed: 41), gamma = opsRandom(s.c, seed: 42, lo: 0.5, hi: 1.5)
        let beta = opsRandom(s.c, seed: 43, lo: -0.2, hi: 0.2), wts = opsRandom(count, seed: 44)
        let (y, sm, si, _, _) = trainForward(x, s, gamma: gamma, beta: beta, rm: .init(repeating: 0, count: s.c),
                                             rv: .init(repeating: 1, count: s.c), relu: relu)
        let tx = opsTensor(x), tw = opsTensor(wts), tg = opsTensor(gamma)
        let gx = opsNaNTensor(count), gg = opsNaNTensor(s.c), gb = opsNaNTensor(s.c)
        batchNorm2dBackward(input: tx.data, gradOutput: tw.data, gradInput: gx.data, n: s.n, c: s.c, h: s.h, w: s.w,
                            gamma: tg.data, saveMean: sm.data, saveInvStd: si.data, gradGamma: gg.data,
                            gradBeta: gb.data, reluOutput: relu ? UnsafePointer(y.data) : nil)
        let wd = opsD(wts)
        func loss(_ x: [Double], _ g: [Double], _ b: [Double]) -> Double {
            let out = batchNorm2dTrainingReference(x, n: s.n, c: s.c, h: s.h, w: s.w, gamma: g, beta: b).y
            return opsWeightedSum(relu ? reluReference(out) : out, wd)
        }
        let (xd, gd, bd) = (opsD(x), opsD(gamma), opsD(beta))
        opsAssertClose(gx.array, opsNumericGradient(xd) { loss($0, gd, bd) }, rtol: 1e-4, atol: 1e-4, "dx \(s) relu \(relu)")
        opsAssertClose(gg.array, opsNumericGradient(gd) { loss(xd, $0, bd) }, rtol: 1e-4, atol: 1e-4, "dgamma \(s)")
        opsAssertClose(gb.array, opsNumericGradient(bd) { loss(xd, gd, $0) }, rtol: 1e-4, atol: 1e-4, "dbeta \(s)")
    }

    func testBackwardMatchesFiniteDifferences() {
        for s in [Case(n: 1, c: 1, h: 1, w: 3), Case(n: 2, c: 3, h: 3, w: 7), Case(n: 3, c: 2, h: 1, w: 17),
                  Case(n: 1, c: 1, h: 5, w: 21)] {
            checkBackward(s, relu: false)
            checkBackward(s, relu: true)
        }
    }

    /// Each channel is reduced by one thread in a fixed order: identical bits for any pool.
    func testDeterministicAcrossThreadCounts() {
        let s = Case(n: 4, c: 17, h: 33, w: 31)
        let count = s.n * s.c * s.h * s.w
        let x = opsRandom(count, seed: 51), wts = opsRandom(count, seed: 52)
        let gamma = opsRandom(s.c, seed: 53), beta = opsRandom(s.c, seed: 54)
        var results: [[[UInt32]]] = []
        for pool in [nil, opsPool2, opsPool3, opsPool2] {
            let (y, sm, si, trm, trv) = trainForward(x, s, gamma: gamma, beta: beta, rm: .init(repeating: 0, count: s.c),
                                                     rv: .init(repeating: 1, count: s.c), pool: pool)
            let tx = opsTensor(x), tw = opsTensor(wts), tg = opsTensor(gamma)
            let gx = opsNaNTensor(count), gg = opsNaNTensor(s.c), gb = opsNaNTensor(s.c)
            batchNorm2dBackward(input: tx.data, gradOutput: tw.data, gradInput: gx.data, n: s.n, c: s.c, h: s.h,
                                w: s.w, gamma: tg.data, saveMean: sm.data, saveInvStd: si.data, gradGamma: gg.data,
                                gradBeta: gb.data, pool: pool)
            results.append([y, sm, si, trm, trv, gx, gg, gb].map(opsBits))
        }
        for r in results.dropFirst() { XCTAssertEqual(r, results[0]) }
    }
}
