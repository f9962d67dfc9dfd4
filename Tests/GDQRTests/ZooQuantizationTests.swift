// GDQR on the layer kinds of the standard networks: the signed activation
// quantizer of MobileNetV2's linear bottlenecks, ReLU6 as the quantizer's clip,
// and a W4A4 MobileNetV2 whose every conv (depthwise and 1x1 included) has
// per-group Scale-Clip thresholds.

import XCTest
import Layers
import TensorEngine
@testable import GDQR

final class ZooQuantizationTests: XCTestCase {
    /// Signed b-bit activations: levels -(2^(b-1) - 1) ... 2^(b-1) - 1, step T / (2^(b-1) - 1),
    /// threshold k_a * mean|a|, gradient passed where -T <= a <= T.
    func testSignedActivationQuantizer() {
        for bits in [2, 4, 8] {
            let f = ActivationFixture(bits: bits, kA: 1.5, range: .signed)
            let a = pseudoRandom(f.n, seed: 21).map { $0 * 3 }
            let out = f.forward(a)
            let t = f.q.lastThreshold, levels = Float((1 << (bits - 1)) - 1)
            XCTAssertEqual(t, 1.5 * f.m)
            XCTAssertEqual(f.q.grid(threshold: t), QuantGrid(delta: t / levels, lo: -levels, hi: levels))
            var negative = 0
            for (x, y) in zip(a, out) {
                XCTAssertEqual(y, fakeQuantizeReference(x, grid: QuantGrid(delta: t / levels, lo: -levels, hi: levels)))
                if y < 0 { negative += 1 }
            }
            XCTAssertGreaterThan(negative, f.n / 4, "negative values keep their sign")
            XCTAssertNil(f.q.outputGrid, "signed levels are not offered to the unsigned level sums")
            let dy = pseudoRandom(f.n, seed: 22)
            let gp = dy.withUnsafeBufferPointer { f.q.backward($0.baseAddress!, batch: f.maxBatch, rt: f.rt)! }
            var masked = 0
            for i in 0..<f.n {
                XCTAssertEqual(gp[i], abs(a[i]) <= t ? dy[i] : 0, "element \(i)")
                if abs(a[i]) > t { masked += 1 }
            }
            XCTAssertGreaterThan(masked, 0, "k_a = 1.5 clips both tails")
        }
    }

    /// After ReLU6 the threshold is min(k_a * m, 6): with a large k_a the quantizer's clip is
    /// ReLU6's (top level at 6), with a small one its own.
    func testReLU6CapsTheThreshold() {
        let big = ActivationFixture(kA: 20, range: .relu6)
        let a = reluData(big.n, seed: 23, scale: 6)
        let out = big.forward(a)
        XCTAssertGreaterThan(20 * big.m, 6)
        XCTAssertEqual(big.q.lastThreshold, 6)
        XCTAssertEqual(out.max()!, 6)
        let small = ActivationFixture(kA: 2, range: .relu6)
        _ = small.forward(a)
        XCTAssertEqual(small.q.lastThreshold, 2 * small.m)
        XCTAssertLessThan(small.q.lastThreshold, 6)
    }

    func testMobileNetV2W4A4QuantizesEveryLayer() throws {
        let spec = ModelSpec(arch: .mobilenetv2, input: FeatureShape(1, 16, 16), widthMultiplier: 0.25)
        let policy = try GDQRPolicy(QuantSettings(), model: spec)
        let net = Network(spec, maxBatch: 4, threads: 1, seed: 3, policy: policy)
        let layers = GDQRPolicy.weightLayers(of: spec)
        XCTAssertEqual(policy.weightQuantizers.map(\.layer), layers.map(\.name))
        for q in policy.weightQuantizers {
            let position = layers.first { $0.name == q.layer }!.position
            XCTAssertEqual(q.bits, position == .middle ? 4 : 8, q.layer)
            XCTAssertEqual(q.groups, position == .last ? 1 : 4, q.layer)
        }
        // 17 blocks: 16 depthwise convs with an expansion before them, 1 without.
        let depthwise = policy.weightQuantizers.filter { $0.layer != "features.0.0" && $0.weight.shape[1] == 1 && $0.weight.shape[2] == 3 }
        XCTAssertEqual(depthwise.count, 17)
        let acts = policy.activationQuantizers
        XCTAssertEqual(acts.filter { $0.range == .signed }.map(\.name), (1...17).map { "features.\($0).act_out" })
        XCTAssertEqual(acts.filter { $0.range == .relu6 }.count, 1 + 16 + 17, "stem, expansions, depthwise")
        XCTAssertEqual(acts.last?.name, "classifier.1.act_in")
        XCTAssertEqual(acts.last?.bits, 8)

        // Two training steps: every threshold of a depthwise conv is k_g * mean|W_g| over its group's
        // channels (Double reference; the kernel sums in Float: measured 9.0e-8 relative, 5e-7 covers it).
        var worst = 0.0
        let rt = Runtime(arena: net.arena, pool: nil)
        let x = pseudoRandom(4 * 256, seed: 24)
        let labels: [Int32] = [1, 5, 7, 9]
        let sgd = SGD(arena: net.arena, settings: SGDSettings(momentum: 0.9, nesterov: true, weightDecay: 5e-4))
        for step in 0..<2 {
            rt.step = step
            let logits = x.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 4, rt: rt) }
            let r = labels.withUnsafeBufferPointer { net.backward(logits: logits, labels: $0.baseAddress!, batch: 4, rt: rt) }
            XCTAssertTrue(r.loss.isFinite, "step \(step) loss")
            for q in depthwise {
                let w = net.arena.value(q.weight), gs = q.groupSize
                for g in 0..<q.groups {
                    let meanAbs = (g * gs..<(g + 1) * gs).reduce(0.0) { $0 + Double(abs(w[$1])) } / Double(gs)
                    let want = Double(q.k(group: g, arena: net.arena)) * meanAbs
                    XCTAssertTrue(q.thresholds[g].isFinite, "\(q.layer) group \(g)")
                    worst = max(worst, abs(Double(q.thresholds[g]) - want) / want)
                }
            }
            sgd.step(lr: 0.05)
        }
        XCTAssertLessThanOrEqual(worst, 5e-7)
        let grads = UnsafeBufferPointer(start: net.arena.grads, count: net.arena.params.last!.offset + net.arena.params.last!.count)
        XCTAssertTrue(grads.allSatisfy(\.isFinite), "every gradient finite")
    }
}
