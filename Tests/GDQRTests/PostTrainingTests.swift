// Post-training calibration and search on a small ResNet-8, and PSG scaling.
import XCTest
import Layers
import TensorEngine
@testable import GDQR

final class PostTrainingTests: XCTestCase {
    func build(_ mode: QuantMode) throws -> (Network, GDQRPolicy, Runtime, () -> Void) {
        var s = QuantSettings(); s.mode = mode
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 16, input: FeatureShape(3, 16, 16))
        let policy = try GDQRPolicy(s, model: spec)
        let net = Network(spec, maxBatch: 4, threads: 1, seed: 5, policy: policy)
        let rt = Runtime(arena: net.arena, pool: nil)
        rt.training = false
        let batches = (0..<3).map { pseudoRandom(4 * spec.input.count, seed: 20 + UInt64($0)) }
        let run = { for b in batches { _ = b.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 4, rt: rt) } } }
        return (net, policy, rt, run)
    }

    func testMinMaxCalibration() throws {
        let (net, policy, _, run) = try build(.ptqMinMax)
        var maxima: [String: Float] = [:]
        for q in policy.activationQuantizers {
            q.inputObserver = { x, n in maxima[q.name] = max(maxima[q.name] ?? 0, (0..<n).map { abs(x[$0]) }.max()!) }
        }
        PostTraining.calibrateMinMax(policy: policy, arena: net.arena, runBatches: run)
        for q in policy.activationQuantizers {
            q.inputObserver = nil
            XCTAssertEqual(q.threshold(arena: net.arena), maxima[q.name]!, q.name)
            XCTAssertGreaterThan(maxima[q.name]!, 0)
        }
        run()
        for q in policy.weightQuantizers {
            let w = net.arena.value(q.weight), gs = q.groupSize
            for g in 0..<q.groups {
                XCTAssertEqual(q.thresholds[g], (0..<gs).map { abs(w[g * gs + $0]) }.max()!, q.layer)
            }
            // Only the max itself can land a rounding error beyond L (then clamps to L·Δ).
            XCTAssertLessThanOrEqual(q.clipFraction * Double(q.count), Double(q.groups), q.layer)
        }
    }

    func testSearchImprovesOrKeepsCosine() throws {
        let (net, policy, _, run) = try build(.ptqSearch)
        let chosen = PostTraining.searchThresholds(policy: policy, arena: net.arena, runBatches: run)
        XCTAssertEqual(chosen.count, policy.weightQuantizers.count + policy.activationQuantizers.count)
        for q in policy.weightQuantizers {
            let w = UnsafePointer(net.arena.value(q.weight)), gs = q.groupSize
            let scratch = Tensor.allocate(gs); defer { scratch.deallocate() }
            for g in 0..<q.groups {
                let p = w + g * gs
                let mx = quantMaxAbs(p, count: gs)
                func cos(_ t: Float) -> Double {
                    fakeQuantize(p, into: scratch, count: gs,
                                 grid: QuantGrid(delta: t / Float(q.maxLevel), lo: Float(q.minLevel), hi: Float(q.maxLevel)))
                    return PostTraining.cosine(p, UnsafePointer(scratch), count: gs)
                }
                XCTAssertGreaterThanOrEqual(cos(q.fixedThresholds![g]), cos(mx), q.layer)
            }
        }
        for q in policy.activationQuantizers {
            guard case .fixed(let t) = q.source else { return XCTFail("\(q.name) not fixed") }
            XCTAssertGreaterThan(t, 0)
        }
        run()   // quantized forward works
    }

    func testPSGScalesByDistanceToGrid() throws {
        let (net, policy, rt, run) = try build(.psg)
        rt.training = true
        run()
        XCTAssertTrue(policy.weightQuantizers.allSatisfy(\.bypass))
        let q = policy.weightQuantizers[1]
        let g = net.arena.grad(q.weight), w = net.arena.value(q.weight)
        for i in 0..<q.count { g[i] = Float(i % 7) - 3 }
        let before = Array(UnsafeBufferPointer(start: g, count: q.count))
        psgScaleGradients(arena: net.arena, quantizers: [q], lambda: 0.5)
        for i in 0..<q.count {
            XCTAssertEqual(g[i], before[i] * 0.5 * abs(w[i] - q.quantized[i]), accuracy: 1e-6 * max(1, abs(before[i])))
        }
    }
}
