// GroupWeightQuantizer: grid, thresholds, straight-through gradients, the k_g
// gradient (formula and finite differences of the clip-only surrogate), warm-up,
// full range, group edge cases, determinism.
import XCTest
import Layers
import TensorEngine
@testable import GDQR

/// A standalone weight [cout, perChannel] with a quantizer over it.
final class WeightFixture {
    let arena: ParameterArena
    let rt: Runtime
    let w: ParamRef
    let q: GroupWeightQuantizer
    let count: Int

    init(cout: Int = 8, perChannel: Int = 37, groups: Int = 4, bits: Int = 4, learnK: Bool = true,
         k: Float = 2, fullRange: Bool = false, mask: Bool = false, source: WeightThresholdSource = .scaleClip,
         warmup: Int = 0, seed: UInt64 = 7) {
        let b = ArenaBuilder()
        w = b.parameter("layer.weight", shape: [cout, perChannel], role: .weight, Init.kaimingNormal(fan: 9 * cout))
        let kRef = learnK ? b.parameter("layer.weight_k", shape: [groups], role: .quantScale, Init.constant(k)) : nil
        q = GroupWeightQuantizer(layer: "layer", weight: w, groups: groups, bits: bits, fullRange: fullRange,
                                 steMask: mask, source: source, kRef: kRef, kConstant: k, clipWarmupSteps: warmup)
        arena = ParameterArena(b, seed: seed)
        rt = Runtime(arena: arena, pool: nil)
        count = cout * perChannel
    }

    var weights: [Float] { Array(UnsafeBufferPointer(start: arena.value(w), count: count)) }
    @discardableResult func forward() -> [Float] {
        let p = q.forward(arena.value(w), rt: rt)
        return Array(UnsafeBufferPointer(start: p, count: count))
    }
    /// Runs backward with dL/dwq = g; returns (dL/dW, dL/dk).
    func backward(_ g: [Float]) -> (gw: [Float], gk: [Float]) {
        q.gradientBuffer.update(from: g, count: count)
        q.backward(into: arena.grad(w), rt: rt)
        let gk = q.kRef.map { Array(UnsafeBufferPointer(start: arena.grad($0), count: q.groups)) } ?? []
        return (Array(UnsafeBufferPointer(start: arena.grad(w), count: count)), gk)
    }
}

func pseudoRandom(_ n: Int, seed: UInt64) -> [Float] {
    var rng = CounterRNG(seed: seed, stream: 99)
    return (0..<n).map { _ in rng.nextUniform() * 2 - 1 }
}

final class WeightQuantizerTests: XCTestCase {
    /// Independent Double thresholds k·mean|W_g|.
    func doubleThresholds(_ f: WeightFixture, k: Double) -> [Double] {
        let w = f.weights, gs = f.count / f.q.groups
        return (0..<f.q.groups).map { g in k * w[g * gs..<(g + 1) * gs].reduce(0.0) { $0 + Double(abs($1)) } / Double(gs) }
    }

    func testThresholdsGridAndLevels() {
        for bits in [2, 3, 4, 8] {
            let f = WeightFixture(bits: bits)
            let wq = f.forward()
            let w = f.weights
            let want = doubleThresholds(f, k: 2)
            let L = Double((1 << (bits - 1)) - 1)
            let gs = f.count / f.q.groups
            for g in 0..<f.q.groups {
                // Float mean of 296 values vs Double: relative 1e-5.
                XCTAssertEqual(Double(f.q.thresholds[g]), want[g], accuracy: 1e-5 * want[g], "bits \(bits) T_\(g)")
                let delta = Double(f.q.thresholds[g]) / L
                var levels = Set<Int>()
                for i in g * gs..<(g + 1) * gs {
                    let v = Double(wq[i]) / delta
                    let r = v.rounded()
                    XCTAssertEqual(v, r, accuracy: 1e-4, "off grid at \(i)")
                    XCTAssertLessThanOrEqual(abs(r), L)
                    XCTAssertLessThanOrEqual(Double(abs(wq[i])), Double(f.q.thresholds[g]) * (1 + 1e-6))
                    levels.insert(Int(r))
                    // The kernel equals the scalar reference exactly.
                    XCTAssertEqual(wq[i], fakeQuantizeReference(w[i], grid: f.q.grid(group: g)))
                }
                XCTAssertLessThanOrEqual(levels.count, (1 << bits) - 1, "bits \(bits) group \(g)")
            }
        }
    }

    func testFullRangeLevels() {
        // k = 1 clips many weights, so both ends of -(L+1) ... L are reached.
        let f = WeightFixture(bits: 3, k: 1, fullRange: true)
        let wq = f.forward()
        let gs = f.count / f.q.groups
        for g in 0..<f.q.groups {
            let delta = f.q.thresholds[g] / 3
            let levels = Set((g * gs..<(g + 1) * gs).map { Int((wq[$0] / delta).rounded()) })
            XCTAssertEqual(levels.min(), -4)
            XCTAssertEqual(levels.max(), 3)
            XCTAssertLessThanOrEqual(levels.count, 8)
        }
        XCTAssertEqual(f.q.minLevel, -4)
        XCTAssertEqual(f.q.maxLevel, 3)
    }

    func testStraightThroughAndMask() {
        let g = pseudoRandom(8 * 37, seed: 1)
        let plain = WeightFixture(k: 1)
        plain.forward()
        XCTAssertEqual(plain.backward(g).gw, g, "pass-through is exact")
        let masked = WeightFixture(k: 1, mask: true)
        masked.forward()
        let gw = masked.backward(g).gw
        let w = masked.weights, gs = masked.count / 4
        var zeroed = 0
        for i in 0..<masked.count {
            let t = masked.q.thresholds[i / gs]
            if abs(w[i]) > t * 1.0001 { XCTAssertEqual(gw[i], 0); zeroed += 1 }
            if abs(w[i]) < t * 0.9999 { XCTAssertEqual(gw[i], g[i]) }
        }
        XCTAssertGreaterThan(zeroed, 0, "k = 1 must clip something")
    }

    func testKGradientMatchesFormula() {
        for (bits, full) in [(4, false), (2, false), (4, true)] {
            let f = WeightFixture(bits: bits, k: 1.5, fullRange: full)
            f.forward()
            let g = pseudoRandom(f.count, seed: 3)
            let gk = f.backward(g).gk
            let w = f.weights, gs = f.count / 4
            let L = Double((1 << (bits - 1)) - 1), lo = full ? -L - 1 : -L
            for grp in 0..<4 {
                var mean = 0.0
                for i in grp * gs..<(grp + 1) * gs { mean += Double(abs(w[i])) }
                mean /= Double(gs)
                let delta = 1.5 * mean / L
                var s = 0.0
                for i in grp * gs..<(grp + 1) * gs {
                    let v = Double(w[i]) / delta
                    let q = min(max(v.rounded(.toNearestOrEven), lo), L)
                    s += Double(g[i]) * ((v >= lo && v <= L) ? q - v : q)
                }
                let want = s * mean / L
                // Float accumulation of ~300 terms: 1e-4 relative (plus an absolute floor).
                XCTAssertEqual(Double(gk[grp]), want, accuracy: 1e-4 * max(abs(want), 1e-2), "bits \(bits) group \(grp)")
            }
        }
    }

    /// Rounding makes the quantized weights piecewise constant in w and jumpy in Δ,
    /// so finite differences of the rounded quantizer say nothing. The clip-only
    /// quantizer (warm-up) is the smooth-almost-everywhere surrogate: loss
    /// Σ c_i·clamp(w_i, −T, T) is piecewise linear in k with kinks only where T
    /// crosses some |w_i|; central differences with a small h match the analytic
    /// gradient unless a kink falls inside [k−h, k+h] (checked: none does here).
    func testKGradientFiniteDifferencesOfClipSurrogate() {
        let f = WeightFixture(k: 1.3, warmup: 1_000_000)
        let c = pseudoRandom(f.count, seed: 5)
        f.forward()
        let gk = f.backward(c).gk
        let kp = f.arena.value(f.q.kRef!)
        func loss() -> Double { zip(f.forward(), c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        let h: Float = 1e-3
        for g in 0..<4 {
            let k0 = kp[g]
            kp[g] = k0 + h; let up = loss()
            kp[g] = k0 - h; let down = loss()
            kp[g] = k0
            let fd = (up - down) / Double(2 * h)
            XCTAssertEqual(Double(gk[g]), fd, accuracy: 2e-3 * max(1, abs(fd)), "group \(g)")
        }
    }

    func testWarmupClipsWithoutRounding() {
        let f = WeightFixture(k: 1, warmup: 10)
        f.rt.step = 9
        let wq = f.forward()
        let w = f.weights, gs = f.count / 4
        for i in 0..<f.count {
            let t = f.q.thresholds[i / gs]
            // clamp(w/Δ)·Δ equals clamp(w, −T, T) up to the rounding of / and · (2 ulp).
            XCTAssertEqual(wq[i], min(max(w[i], -t), t), accuracy: 2 * Float.ulpOfOne * max(abs(w[i]), t))
        }
        f.rt.step = 10
        let rounded = f.forward()
        for i in 0..<f.count {
            let v = rounded[i] / (f.q.thresholds[i / gs] / 7)
            XCTAssertEqual(v, v.rounded(), accuracy: 1e-4)
        }
    }

    func testGroupEdgeCases() throws {
        let one = WeightFixture(cout: 6, groups: 1)
        one.forward()
        XCTAssertEqual(one.q.thresholds.count, 1)
        XCTAssertEqual(Double(one.q.thresholds[0]), doubleThresholds(one, k: 2)[0], accuracy: 1e-5)
        let perChannel = WeightFixture(cout: 6, groups: 6)
        perChannel.forward()
        for (a, b) in zip(perChannel.q.thresholds, doubleThresholds(perChannel, k: 2)) {
            XCTAssertEqual(Double(a), b, accuracy: 1e-5 * b)
        }
        XCTAssertEqual(try GDQRPolicy.groupCount(layer: "x", outChannels: 12, groups: 4), 4)
        XCTAssertThrowsError(try GDQRPolicy.groupCount(layer: "layer2.0.conv1", outChannels: 10, groups: 4)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("layer2.0.conv1") && m.contains("10 output channels") && m.contains("4"), m)
        }
    }

    func testNaiveMinMaxDoesNotClip() {
        let f = WeightFixture(groups: 1, learnK: false, source: .minMax)
        let wq = f.forward()
        let maxAbs = f.weights.map(abs).max()!
        XCTAssertEqual(f.q.thresholds[0], maxAbs)
        // max/Δ may round to L·(1+ε): at most that one element counts as clipped.
        XCTAssertLessThanOrEqual(f.q.clipFraction * Double(f.count), 1)
        XCTAssertEqual(wq.map(abs).max()!, maxAbs, accuracy: 1e-6 * maxAbs)
    }

    func testConstantKAndFixedThresholdsGiveNoKGradient() {
        let f = WeightFixture(learnK: true)
        f.q.fixedThresholds = [0.1, 0.2, 0.3, 0.4]
        f.forward()
        XCTAssertEqual(f.q.thresholds, [0.1, 0.2, 0.3, 0.4])
        XCTAssertEqual(f.backward(pseudoRandom(f.count, seed: 2)).gk, [0, 0, 0, 0])
    }

    func testZeroWeightsQuantizeToZero() {
        let f = WeightFixture()
        f.arena.value(f.w).update(repeating: 0, count: f.count)
        XCTAssertEqual(f.forward(), [Float](repeating: 0, count: f.count))
        XCTAssertEqual(f.backward(pseudoRandom(f.count, seed: 2)).gk, [0, 0, 0, 0])
    }

    func testBypassReturnsFloatWeights() {
        let f = WeightFixture()
        f.q.bypass = true
        XCTAssertEqual(f.forward(), f.weights)
        let g = pseudoRandom(f.count, seed: 4)
        XCTAssertEqual(f.backward(g).gw, g)
    }

    func testDeterministic() {
        func run() -> ([Float], [Float], [Float]) {
            let f = WeightFixture(cout: 64, perChannel: 147, groups: 8, seed: 11)
            let wq = f.forward()
            let r = f.backward(pseudoRandom(f.count, seed: 9))
            return (wq, r.gw, r.gk)
        }
        let a = run(), b = run()
        XCTAssertEqual(a.0.map(\.bitPattern), b.0.map(\.bitPattern))
        XCTAssertEqual(a.1.map(\.bitPattern), b.1.map(\.bitPattern))
        XCTAssertEqual(a.2.map(\.bitPattern), b.2.map(\.bitPattern))
    }
}

/// Which fake-quantized convolutions sum integer levels (WinogradF2x2Levels.swift):
/// those whose input is a quantizer's output on its grid, once warm-up is over; never
/// the stem, whose input is the image.
final class QuantizedConvLevelsTests: XCTestCase {
    func testLevelsAfterWarmUpOnlyAndNotForTheStem() throws {
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 16, numClasses: 10, input: FeatureShape(1, 28, 28))
        var settings = QuantSettings()
        settings.clipWarmupSteps = 2
        let policy = try GDQRPolicy(settings, model: spec)
        let net = Network(spec, maxBatch: 4, threads: 1, seed: 3, policy: policy)
        let rt = Runtime(arena: net.arena, pool: nil)
        var rng = CounterRNG(seed: 4, stream: 1)
        let x = (0..<(4 * 784)).map { _ in rng.nextNormal() }
        var inputs: [String: UnsafePointer<Float>] = [:]
        for q in policy.weightQuantizers { q.inputObserver = { _, input, _ in inputs[q.layer] = input } }
        for step in [0, 2] {
            rt.step = step
            _ = x.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 4, rt: rt) }
            for q in policy.weightQuantizers where q.layer.hasPrefix("layer") {
                let input = try XCTUnwrap(inputs[q.layer], q.layer)
                XCTAssertEqual(q.levels(input: input) != nil, step >= 2, "\(q.layer) step \(step)")
            }
            let stem = try XCTUnwrap(policy.weightQuantizers.first { $0.layer == "conv1" })
            XCTAssertNil(stem.levels(input: try XCTUnwrap(inputs["conv1"])), "stem step \(step)")
        }
    }
}
