// Folding against the fake-quant model: a small quantized ResNet-8 and CNN with
// non-trivial statistics, folded into an integer model and run on the integer
// engine, agree with the fake-quant float model in eval mode (every quantized
// activation within one step); folding refuses a full-precision layer.
import XCTest
import Layers
import TensorEngine
import IntegerInference
@testable import GDQR

final class FoldingTests: XCTestCase {

    struct Built {
        let net: Network
        let policy: GDQRPolicy
        let rt: Runtime
    }

    static func buildTrained(_ spec: ModelSpec, maxBatch: Int, seed: UInt64, settings: QuantSettings = QuantSettings()) throws -> Built {
        let policy = try GDQRPolicy(settings, model: spec)
        let net = Network(spec, maxBatch: maxBatch, threads: 1, seed: seed, policy: policy)
        let rt = Runtime(arena: net.arena, pool: nil)
        var rng = CounterRNG(seed: seed, stream: 99)
        let n = maxBatch * spec.input.count
        var x = [Float](repeating: 0, count: n)
        rt.training = true
        for step in 0..<4 {
            rt.step = step
            for i in 0..<n { x[i] = rng.nextNormal() }
            _ = x.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: maxBatch, rt: rt) }
        }
        // Perturb BN parameters and statistics so that the fold is not the identity.
        for e in net.arena.params where e.name.contains("bn") || e.name.contains("downsample.1") {
            let p = net.arena.values + e.offset
            for i in 0..<e.count { p[i] += 0.3 * rng.nextNormal() }
        }
        for e in net.arena.stats {
            let p = net.arena.statistics + e.offset
            if e.name.hasSuffix("running_mean") { for i in 0..<e.count { p[i] += 0.2 * rng.nextNormal() } }
            if e.name.hasSuffix("running_var") { for i in 0..<e.count { p[i] *= 0.5 + 1.5 * rng.nextUniform() } }
        }
        rt.training = false
        rt.step = 1_000
        return Built(net: net, policy: policy, rt: rt)
    }

    func checkParity(_ spec: ModelSpec, seed: UInt64) throws {
        let batch = 16
        let b = try Self.buildTrained(spec, maxBatch: batch, seed: seed)
        let norm: (mean: [Float], std: [Float]) = ([0.2860], [0.3530])
        let model = try Folding.fold(b.net, normalization: norm)
        var rng = CounterRNG(seed: seed, stream: 7)
        let pixels = (0..<(batch * spec.input.count)).map { _ in UInt8(rng.nextInt(below: 256)) }
        let lut = (0..<256).map { (Float($0) / 255 - norm.mean[0]) / norm.std[0] }
        let x = pixels.map { lut[Int($0)] }
        let fl = x.withUnsafeBufferPointer { b.net.forward($0.baseAddress!, batch: batch, rt: b.rt) }
        let fakeLogits = Array(UnsafeBufferPointer(start: fl, count: batch * spec.numClasses))
        var results: [[Float]] = []
        for arith in IntegerEngine.Arithmetic.allCases {
            for threads in [1, 2] {
                let engine = try IntegerEngine(model, maxBatch: batch, threads: threads, arithmetic: arith)
                let l = pixels.withUnsafeBufferPointer { engine.run($0.baseAddress!, batch: batch) }
                let logits = Array(UnsafeBufferPointer(start: l, count: batch * spec.numClasses))
                results.append(logits)
                var checked = 0
                for q in b.policy.activationQuantizers {
                    guard let vi = model.values.firstIndex(where: { $0.name == q.name }) else {
                        XCTFail("no integer value for \(q.name)"); continue
                    }
                    let v = model.values[vi]
                    let lv = engine.levels(of: vi)!
                    XCTAssertGreaterThan(v.threshold, 0, q.name)
                    var maxDev = 0, differ = 0, nonzero = 0
                    for e in 0..<(batch * v.count) {
                        let f = Int((q.output[e] / v.step).rounded(.toNearestOrEven))
                        maxDev = max(maxDev, abs(f - Int(lv[e])))
                        if f != Int(lv[e]) { differ += 1 }
                        if lv[e] != 0 { nonzero += 1 }
                    }
                    XCTAssertLessThanOrEqual(maxDev, 1, "\(q.name): integer activation \(maxDev) steps from the fake-quant one")
                    XCTAssertLessThan(Double(differ), 0.01 * Double(batch * v.count) + 1, "\(q.name): \(differ) levels differ")
                    XCTAssertGreaterThan(nonzero, 0, "\(q.name): all zero, the test would be vacuous")
                    checked += 1
                }
                XCTAssertEqual(checked, b.policy.activationQuantizers.count)
                var scale: Float = 0
                for v in fakeLogits { scale = max(scale, abs(v)) }
                for s in 0..<batch {
                    let a = Array(fakeLogits[(s * spec.numClasses)..<((s + 1) * spec.numClasses)])
                    let c = Array(logits[(s * spec.numClasses)..<((s + 1) * spec.numClasses)])
                    for i in 0..<a.count { XCTAssertEqual(a[i], c[i], accuracy: 1e-3 * max(1, scale), "sample \(s) class \(i)") }
                    let top = a.indices.max { a[$0] < a[$1] }!, topI = c.indices.max { c[$0] < c[$1] }!
                    let sorted = a.sorted(by: >)
                    if sorted[0] - sorted[1] > 1e-3 * max(1, scale) { XCTAssertEqual(top, topI, "sample \(s): argmax") }
                }
            }
        }
        // Int32 and integer-exact float GEMMs, 1 or 2 threads: identical logits.
        for r in results.dropFirst() { XCTAssertEqual(r, results[0]) }
    }

    func testResNet8FoldingMatchesFakeQuant() throws {
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 8, numClasses: 10, input: FeatureShape(1, 12, 12))
        for seed in [1, 2, 3] as [UInt64] { try checkParity(spec, seed: seed) }
    }

    func testCNNFoldingMatchesFakeQuant() throws {
        let spec = ModelSpec(arch: .cnn, depth: 0, width: 8, numClasses: 10, input: FeatureShape(1, 12, 12))
        try checkParity(spec, seed: 5)
    }

    func testExactFloatBoundsAreChecked() throws {
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 8, numClasses: 10, input: FeatureShape(1, 12, 12))
        let b = try Self.buildTrained(spec, maxBatch: 2, seed: 4)
        let model = try Folding.fold(b.net, normalization: ([0.2860], [0.3530]))
        let engine = try IntegerEngine(model, maxBatch: 2, threads: 1, arithmetic: .exactFloat)
        for r in engine.accumulatorBounds {
            XCTAssertGreaterThan(r.bound, 0)
            XCTAssertEqual(r.exactFloat, r.bound < (1 << 24) && r.op != "fc", r.op)
        }
        // Stem: 8-bit weights on pixels, at most 255·127·9.
        XCTAssertLessThanOrEqual(engine.accumulatorBounds[0].bound, 255 * 127 * 9)
    }

    func testFullPrecisionLayerIsRefused() throws {
        var s = QuantSettings()
        s.firstLayerBits = 32
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 8, numClasses: 10, input: FeatureShape(1, 12, 12))
        let b = try Self.buildTrained(spec, maxBatch: 2, seed: 1, settings: s)
        XCTAssertThrowsError(try Folding.fold(b.net, normalization: ([0.2860], [0.3530]))) { e in
            XCTAssertTrue("\(e)".contains("conv1: weights are full precision"), "\(e)")
        }
    }
}
