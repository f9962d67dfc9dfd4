// ActivationQuantizer: running-threshold semantics, grid, clipped STE mask,
// warm-up, calibration, thread-count independence.
import XCTest
import Layers
import TensorEngine
@testable import GDQR

final class ActivationFixture {
    let arena: ParameterArena
    let rt: Runtime
    let q: ActivationQuantizer
    let maxBatch: Int

    init(bits: Int = 4, kA: Float = 3, rho: Float = 0.1, source: ThresholdSource = .scaleClip, warmup: Int = 0,
         maxBatch: Int = 3, shape: FeatureShape = FeatureShape(4, 6, 6), pool: ThreadPool? = nil,
         range: ActivationRange = .relu) {
        let b = ArenaBuilder()
        self.maxBatch = maxBatch
        q = ActivationQuantizer(name: "act", shape: shape, maxBatch: maxBatch, builder: b, bits: bits, kA: kA, rho: rho,
                                source: source, clipWarmupSteps: warmup, range: range)
        arena = ParameterArena(b, seed: 0)
        rt = Runtime(arena: arena, pool: pool)
    }

    var n: Int { maxBatch * q.inputShape.count }
    var m: Float { arena.stat(q.runningAbsMean)[0] }
    var runningMax: Float { arena.stat(q.runningMax)[0] }

    func forward(_ a: [Float]) -> [Float] {
        let p = a.withUnsafeBufferPointer { q.forward($0.baseAddress!, batch: maxBatch, rt: rt) }
        return Array(UnsafeBufferPointer(start: p, count: n))
    }
}

/// Post-ReLU-like data: half zeros, the rest |uniform|·scale.
func reluData(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    pseudoRandom(n, seed: seed).map { max(0, $0) * scale }
}

final class ActivationQuantizerTests: XCTestCase {
    func meanAbs(_ a: [Float]) -> Float { Float(a.reduce(0.0) { $0 + Double(abs($1)) } / Double(a.count)) }

    func testRunningThresholdSemantics() {
        let f = ActivationFixture(rho: 0.1)
        let a1 = reluData(f.n, seed: 1), a2 = reluData(f.n, seed: 2, scale: 3)
        XCTAssertEqual(f.m, 0)
        _ = f.forward(a1)
        XCTAssertEqual(f.m, meanAbs(a1), accuracy: 1e-6, "first batch initialises m")
        XCTAssertEqual(f.q.lastThreshold, 3 * f.m)
        let m1 = f.m
        _ = f.forward(a2)
        let want = 0.9 * m1 + 0.1 * meanAbs(a2)
        XCTAssertEqual(f.m, want, accuracy: 1e-6 * want)
        XCTAssertEqual(f.q.lastThreshold, 3 * f.m, "the threshold uses the updated m")
        f.rt.training = false
        let m2 = f.m
        _ = f.forward(reluData(f.n, seed: 3, scale: 10))
        XCTAssertEqual(f.m, m2, "eval does not update m")
        XCTAssertEqual(f.q.lastThreshold, 3 * m2)
    }

    func testOutputOnGridAndClippedSTEMask() {
        for bits in [2, 4, 8] {
            let f = ActivationFixture(bits: bits, kA: 1.2)
            var a = reluData(f.n, seed: 4)
            a[0] = -0.5   // a negative input clamps to 0 and gets no gradient
            let out = f.forward(a)
            let t = f.q.lastThreshold, s = Float((1 << bits) - 1), delta = t / s
            var clipped = 0
            for (x, y) in zip(a, out) {
                let v = y / delta
                XCTAssertEqual(v, v.rounded(), accuracy: 1e-3)
                XCTAssertTrue(v.rounded() >= 0 && v.rounded() <= s)
                XCTAssertLessThanOrEqual(y, t * (1 + 1e-6))
                XCTAssertEqual(y, fakeQuantizeReference(x, grid: f.q.grid(threshold: t)))
                if x > t || x < 0 { clipped += 1 }
            }
            XCTAssertGreaterThan(clipped, 1, "kA = 1.2 clips the tail")
            XCTAssertEqual(f.q.lastClipFraction, Double(clipped) / Double(f.n), accuracy: 1e-12)
            let dy = pseudoRandom(f.n, seed: 5)
            let gp = dy.withUnsafeBufferPointer { f.q.backward($0.baseAddress!, batch: f.maxBatch, rt: f.rt)! }
            for i in 0..<f.n {
                XCTAssertEqual(gp[i], (a[i] >= 0 && a[i] <= t) ? dy[i] : 0, "element \(i)")
            }
        }
    }

    func testWarmupClipsWithoutRounding() {
        let f = ActivationFixture(kA: 1.2, warmup: 5)
        f.rt.step = 4
        let a = reluData(f.n, seed: 6)
        let out = f.forward(a)
        let t = f.q.lastThreshold
        for (x, y) in zip(a, out) {
            XCTAssertEqual(y, min(max(x, 0), t), accuracy: 2 * Float.ulpOfOne * t)
        }
    }

    func testCalibrationCollectsMaxAndPassesThrough() {
        let f = ActivationFixture(source: .minMax)
        f.q.calibrating = true
        f.rt.training = false
        let a1 = reluData(f.n, seed: 7, scale: 2), a2 = reluData(f.n, seed: 8, scale: 1)
        XCTAssertEqual(f.forward(a1), a1)
        _ = f.forward(a2)
        XCTAssertEqual(f.runningMax, max(a1.max()!, a2.max()!))
        XCTAssertEqual(f.m, 0, "calibration leaves the running mean alone")
        f.q.calibrating = false
        let out = f.forward(a1)
        XCTAssertEqual(f.q.lastThreshold, f.runningMax)
        XCTAssertEqual(out.max()!, f.runningMax, accuracy: 1e-6)
    }

    func testFixedThresholdAndZeroThreshold() {
        let f = ActivationFixture(source: .fixed(0.5))
        _ = f.forward(reluData(f.n, seed: 9))
        XCTAssertEqual(f.q.lastThreshold, 0.5)
        let g = ActivationFixture()
        g.rt.training = false   // eval before any training batch: m = 0, everything maps to 0
        XCTAssertEqual(g.forward(reluData(g.n, seed: 9)), [Float](repeating: 0, count: g.n))
    }

    func testThreadCountIndependent() {
        let shape = FeatureShape(16, 32, 32)
        let pool = ThreadPool(threads: 2)
        let a = reluData(4 * shape.count, seed: 10)
        let one = ActivationFixture(maxBatch: 4, shape: shape)
        let two = ActivationFixture(maxBatch: 4, shape: shape, pool: pool)
        XCTAssertEqual(one.forward(a).map(\.bitPattern), two.forward(a).map(\.bitPattern))
        XCTAssertEqual(one.m.bitPattern, two.m.bitPattern)
        XCTAssertEqual(one.q.lastClipFraction, two.q.lastClipFraction)
    }
}
