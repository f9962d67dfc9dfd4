import XCTest
import TensorEngine

/// SyncBN on one rank (the all-reduce is the identity) must compute what the
/// plain kernels compute; with a reducer that doubles every sum (two identical
/// ranks), statistics and input gradients are unchanged and the local
/// gamma/beta gradients too.
final class BatchNormSyncTests: XCTestCase {
    func run(n: Int, c: Int, h: Int, w: Int, relu: Bool, copies: Double) -> (plain: [[Float]], sync: [[Float]]) {
        let count = n * c * h * w
        var rng = CounterRNG(seed: 7, stream: 1)
        let x = (0..<count).map { _ in rng.nextNormal() * 2 + 0.5 }
        let dy = (0..<count).map { _ in rng.nextNormal() }
        let gamma = (0..<c).map { _ in 1 + 0.1 * rng.nextNormal() }
        let beta = (0..<c).map { _ in 0.1 * rng.nextNormal() }
        func go(sync: Bool) -> [[Float]] {
            var y = [Float](repeating: 0, count: count), dx = y
            var rm = [Float](repeating: 0, count: c), rv = [Float](repeating: 1, count: c)
            var mean = [Float](repeating: 0, count: c), inv = mean, gg = mean, gb = mean
            let scratch = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c + 1)
            defer { scratch.deallocate() }
            var m = 0.0
            let reduce: ChannelSumReducer = { buf in for i in buf.indices { buf[i] *= copies } }
            if sync {
                batchNorm2dForwardTrainingSync(input: x, output: &y, n: n, c: c, h: h, w: w, gamma: gamma, beta: beta,
                                               runningMean: &rm, runningVar: &rv, saveMean: &mean, saveInvStd: &inv,
                                               globalCount: &m, scratch: scratch, fuseReLU: relu, reduce: reduce)
                batchNorm2dBackwardSync(input: x, gradOutput: dy, gradInput: &dx, n: n, c: c, h: h, w: w, gamma: gamma,
                                        saveMean: mean, saveInvStd: inv, gradGamma: &gg, gradBeta: &gb,
                                        globalCount: m, scratch: scratch, reluOutput: relu ? y : nil, reduce: reduce)
            } else {
                batchNorm2dForwardTraining(input: x, output: &y, n: n, c: c, h: h, w: w, gamma: gamma, beta: beta,
                                           runningMean: &rm, runningVar: &rv, saveMean: &mean, saveInvStd: &inv,
                                           fuseReLU: relu)
                batchNorm2dBackward(input: x, gradOutput: dy, gradInput: &dx, n: n, c: c, h: h, w: w, gamma: gamma,
                                    saveMean: mean, saveInvStd: inv, gradGamma: &gg, gradBeta: &gb,
                                    reluOutput: relu ? y : nil)
            }
            return [y, dx, rm, mean, inv, gg, gb]
        }
        return (go(sync: false), go(sync: true))
    }

    func testOneRankEqualsPlainKernels() {
        for (n, c, h, w, relu) in [(4, 3, 7, 7, true), (2, 5, 28, 28, false), (3, 16, 14, 14, true)] {
            let r = run(n: n, c: c, h: h, w: w, relu: relu, copies: 1)
            let names = ["output", "gradInput", "runningMean", "mean", "invstd", "gradGamma", "gradBeta"]
            for (k, name) in names.enumerated() {
                let scale = max(r.plain[k].reduce(0) { max($0, abs($1)) }, 1e-3)
                // One-pass Double moments vs the plain kernel's two-pass variance: a few ulps.
                assertAllClose(r.sync[k], r.plain[k], atol: 1e-5 * Double(scale), "\(name) n\(n) c\(c) \(h)x\(w) relu \(relu)")
            }
        }
    }
}
