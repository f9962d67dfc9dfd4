// The integer engine: int4 packing, the Int32 GEMM and im2col conv against float
// references (exact), and the folding algebra: a small quantized ResNet-8 and CNN
// with non-trivial statistics run on the integer engine agree with the fake-quant
// float model in eval mode (every quantized activation within one step).
import XCTest
import Layers
import TensorEngine
@testable import GDQR

final class IntegerEngineTests: XCTestCase {
    func testInt4PackRoundTrip() {
        var rng = SystemRandomNumberGenerator()
        for lo in [Int8(-7), Int8(-8)] {
            for count in [0, 1, 2, 3, 15, 16, 17, 1001] {
                let v = (0..<count).map { _ in Int8.random(in: lo...7, using: &rng) }
                let packed = Int4Packing.pack(v)
                XCTAssertEqual(packed.count, (count + 1) / 2)
                XCTAssertEqual(Int4Packing.unpack(packed, count: count), v, "count \(count), lo \(lo)")
            }
        }
        // Every level, and the layout: low nibble first, odd tail zero-padded.
        let all: [Int8] = Array(-8...7)
        XCTAssertEqual(Int4Packing.unpack(Int4Packing.pack(all), count: 16), all)
        XCTAssertEqual(Int4Packing.pack([1, -1, 7]), [0xF1, 0x07])
        XCTAssertEqual(Int4Packing.pack([-8]), [0x08])
    }

    func testInt32GemmMatchesReference() {
        var g = SystemRandomNumberGenerator()
        for (m, k) in [(1, 1), (3, 5), (4, 9), (7, 37), (16, 144)] {
            let n = 64
            let a = (0..<(m * k)).map { _ in Int32.random(in: -127...127, using: &g) }
            let b = (0..<(k * n)).map { _ in Int32.random(in: 0...255, using: &g) }
            var c = [Int32](repeating: -1, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                integerGemmInt32(m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
            } } }
            XCTAssertEqual(c.map { Int64($0) }, integerGemmReference(m: m, n: n, k: k, a: a, b: b), "m \(m) k \(k)")
        }
    }

    /// im2col + Int32 GEMM, and the same integers through the FP32 conv, equal exactly.
    func testIntegerConvMatchesFloatConvExactly() {
        var g = SystemRandomNumberGenerator()
        for (cin, cout, size, kernel, stride, pad) in [(3, 5, 9, 3, 2, 1), (2, 4, 7, 3, 1, 1), (4, 6, 6, 1, 2, 0), (1, 3, 5, 3, 1, 0)] {
            let s = Conv2dShape(batch: 1, inChannels: cin, outChannels: cout, size: size, kernel: kernel, stride: stride, pad: pad)
            let x = (0..<(cin * size * size)).map { _ in UInt8.random(in: 0...255, using: &g) }
            let w = (0..<(cout * cin * kernel * kernel)).map { _ in Int8.random(in: -127...127, using: &g) }
            let n = s.colCols, ldn = (n + 31) / 32 * 32, k = s.colRows
            var col = [Int32](repeating: 7, count: k * ldn)
            var acc = [Int32](repeating: 0, count: cout * ldn)
            let wi = w.map { Int32($0) }
            x.withUnsafeBufferPointer { xp in col.withUnsafeMutableBufferPointer { cp in
                integerIm2col(xp.baseAddress!, channels: cin, height: size, width: size, kernel: kernel, stride: stride,
                              pad: pad, outH: s.outHeight, outW: s.outWidth, col: cp.baseAddress!, ldc: ldn) { Int32($0) }
            } }
            wi.withUnsafeBufferPointer { wp in col.withUnsafeBufferPointer { cp in acc.withUnsafeMutableBufferPointer { ap in
                integerGemmInt32(m: cout, n: ldn, k: k, a: wp.baseAddress!, b: cp.baseAddress!, c: ap.baseAddress!)
            } } }
            let xf = x.map { Float($0) }, wf = w.map { Float($0) }
            var yf = [Float](repeating: 0, count: cout * n)
            let ws = Conv2dWorkspace(shape: s, threads: 1)
            xf.withUnsafeBufferPointer { xp in wf.withUnsafeBufferPointer { wp in yf.withUnsafeMutableBufferPointer { yp in
                conv2dForward(s, input: xp.baseAddress!, weight: wp.baseAddress!, bias: nil, output: yp.baseAddress!, workspace: ws)
            } } }
            for c in 0..<cout {
                for j in 0..<n { XCTAssertEqual(Float(acc[c * ldn + j]), yf[c * n + j], "shape \(s) c \(c) j \(j)") }
                for j in n..<ldn { XCTAssertEqual(acc[c * ldn + j], 0) }
            }
        }
    }

    // MARK: folding against the fake-quant model

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
