// QuantSettings validation, the policy's choices, and a whole quantized ResNet-8.
import XCTest
import Layers
import TensorEngine
@testable import GDQR

final class SettingsTests: XCTestCase {
    func testDefaultsValidate() throws {
        XCTAssertNoThrow(try QuantSettings().validate())
    }

    func expectError(_ s: QuantSettings, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try s.validate(), file: file, line: line) { e in
            let m = "\(e)"
            for w in words { XCTAssertTrue(m.contains(w), "'\(m)' lacks '\(w)'", file: file, line: line) }
        }
    }

    func testBitsOutsideRangeNameTheKey() {
        for b in [0, 1, 9, 32] {
            var s = QuantSettings(); s.wBits = b
            expectError(s, mentioning: ["quant.w_bits", "\(b)"])
            s = QuantSettings(); s.aBits = b
            expectError(s, mentioning: ["quant.a_bits", "\(b)"])
        }
        var s = QuantSettings(); s.firstLayerBits = 20
        expectError(s, mentioning: ["quant.first_layer_bits", "20"])
        s = QuantSettings(); s.lastLayerBits = 1
        expectError(s, mentioning: ["quant.last_layer_bits"])
        s = QuantSettings(); s.overrides = [LayerQuantOverride(layer: "layer1.0.conv2", wBits: 40, aBits: 4)]
        expectError(s, mentioning: ["layer1.0.conv2", "40"])
        s = QuantSettings(); s.rho = 0
        expectError(s, mentioning: ["quant.rho"])
        for fp in [0, 32] {
            s = QuantSettings(); s.firstLayerBits = fp; s.lastLayerBits = fp
            XCTAssertNoThrow(try s.validate())
        }
    }

    func testGroupsNotDividingAreReportedBeforeBuilding() {
        var s = QuantSettings(); s.groups = 3
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 16, input: FeatureShape(3, 32, 32))
        XCTAssertThrowsError(try GDQRPolicy(s, model: spec)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("conv1") && m.contains("16 output channels") && m.contains("quant.groups = 3"), m)
        }
        s.groups = 16   // divides 16, 32, 64; the classifier (10 classes) uses G = 1
        XCTAssertNoThrow(try GDQRPolicy(s, model: spec))
        s.overrides = [LayerQuantOverride(layer: "fc", wBits: 8, aBits: 8, groups: 4)]
        XCTAssertThrowsError(try GDQRPolicy(s, model: spec)) { e in
            XCTAssertTrue("\(e)".contains("fc") && "\(e)".contains("10 output channels"), "\(e)")
        }
    }

    func testLayerChoices() throws {
        var s = QuantSettings()
        s.overrides = [LayerQuantOverride(layer: "layer1.0.conv2", wBits: 8, aBits: 6),
                       LayerQuantOverride(layer: "layer3.0.conv1", wBits: 32, aBits: 4)]
        let p = try GDQRPolicy(s)
        XCTAssertEqual(p.weightPlan(layer: "conv1", outChannels: 16, position: .first)?.bits, 8)
        XCTAssertEqual(p.weightPlan(layer: "fc", outChannels: 10, position: .last)?.bits, 8)
        XCTAssertEqual(p.weightPlan(layer: "fc", outChannels: 10, position: .last)?.groups, 1)
        XCTAssertEqual(p.weightPlan(layer: "layer1.0.conv1", outChannels: 16, position: .middle)?.bits, 4)
        XCTAssertEqual(p.weightPlan(layer: "layer1.0.conv1", outChannels: 16, position: .middle)?.groups, 4)
        XCTAssertEqual(p.weightPlan(layer: "layer1.0.conv2", outChannels: 16, position: .middle)?.bits, 8)
        XCTAssertNil(p.weightPlan(layer: "layer3.0.conv1", outChannels: 64, position: .middle))
        XCTAssertEqual(p.activationBits(name: "fc.act_in", feeds: .last), 8)
        XCTAssertEqual(p.activationBits(name: "layer1.0.act1", feeds: .middle), 6)
        XCTAssertEqual(p.activationBits(name: "layer1.0.act_out", feeds: .middle), 4)
        s.lastLayerBits = 0
        XCTAssertNil(try GDQRPolicy(s).activationBits(name: "fc.act_in", feeds: .last))
        s.mode = .naive
        XCTAssertEqual(try GDQRPolicy(s).weightPlan(layer: "layer1.0.conv1", outChannels: 16, position: .middle)?.groups, 1)
    }

    /// A ResNet-8 built with the policy: forward/backward finite, k_g gradients present,
    /// every quantized activation on its grid.
    func checkResNet8(_ s: QuantSettings, threads: Int = 1) throws -> [Float] {
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 16, input: FeatureShape(3, 16, 16))
        let policy = try GDQRPolicy(s, model: spec)
        let batch = 4
        let net = Network(spec, maxBatch: batch, threads: threads, seed: 3, policy: policy)
        let rt = Runtime(arena: net.arena, pool: threads > 1 ? ThreadPool(threads: threads) : nil)
        let images = pseudoRandom(batch * spec.input.count, seed: 12)
        let labels: [Int32] = [0, 3, 7, 9]
        // conv1 + 3 blocks x 2 convs + 2 downsample convs, fc.
        XCTAssertEqual(policy.weightQuantizers.count, 1 + 6 + 2 + 1)
        // bn1.act, 3 x (act1, act_out), fc.act_in.
        XCTAssertEqual(policy.activationQuantizers.count, 1 + 6 + 1)
        var logits: [Float] = []
        for step in 0..<2 {
            rt.step = step
            let lp = images.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: batch, rt: rt) }
            logits = Array(UnsafeBufferPointer(start: lp, count: batch * 10))
            XCTAssertTrue(logits.allSatisfy(\.isFinite))
            let r = labels.withUnsafeBufferPointer { net.backward(logits: lp, labels: $0.baseAddress!, batch: batch, rt: rt) }
            XCTAssertTrue(r.loss.isFinite)
            for i in 0..<net.arena.parameterCount { XCTAssertTrue(net.arena.grads[i].isFinite, "grad \(i)") }
            for q in policy.activationQuantizers {
                let t = q.lastThreshold, delta = t / Float(q.maxLevel)
                XCTAssertGreaterThan(t, 0, q.name)
                let n = batch * q.inputShape.count
                for i in 0..<n {
                    let v = q.output[i] / delta
                    XCTAssertEqual(v, v.rounded(), accuracy: 1e-3, "\(q.name)[\(i)]")
                    XCTAssertTrue(v.rounded() >= 0 && v.rounded() <= Float(q.maxLevel), q.name)
                }
            }
        }
        if s.mode == .gdqr && s.learnK {
            let kEntries = net.arena.params.filter { $0.name.hasSuffix(".weight_k") }
            XCTAssertEqual(kEntries.count, 10)
            let nonzero = kEntries.filter { e in (0..<e.count).contains { net.arena.grads[e.offset + $0] != 0 } }
            XCTAssertEqual(nonzero.count, kEntries.count, "every k_g gets a gradient")
            XCTAssertEqual(kEntries.first { $0.name == "layer1.0.conv1.weight_k" }?.shape, [s.groups])
            XCTAssertEqual(kEntries.first { $0.name == "fc.weight_k" }?.shape, [1])
            XCTAssertEqual(net.arena.params.first { $0.name == "fc.weight_k" }?.role, .quantScale)
        }
        XCTAssertNotNil(net.arena.statEntry(named: "layer2.0.act1.running_absmean"))
        let report = policy.report(arena: net.arena)
        XCTAssertEqual(report.count, 18)
        XCTAssertEqual(report.first { $0.name == "layer1.0.conv1" }?.groups, s.mode == .naive ? 1 : s.groups)
        return logits
    }

    func testResNet8GDQR() throws { _ = try checkResNet8(QuantSettings()) }

    func testResNet8NaiveAndFullRange() throws {
        var s = QuantSettings(); s.mode = .naive
        _ = try checkResNet8(s)
        s = QuantSettings(); s.wFullRange = true; s.wSTEMask = true; s.wBits = 2
        _ = try checkResNet8(s)
    }

    func testResNet8Deterministic() throws {
        let a = try checkResNet8(QuantSettings()), b = try checkResNet8(QuantSettings())
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
    }
}
