// The per-layer quantizer state logged at test evaluations: which activation
// quantizer feeds each conv/linear layer, thresholds, clip fractions and weight
// histograms against naive recomputations from the weights, the activation
// quantizer's evaluation clip counter, and the quantization.json layer schema.
import XCTest
import Foundation
import JSONFormat
import Layers
import TensorEngine
import GDQR
@testable import Trainer

final class TensorBoardQuantizationTests: XCTestCase {
    func build(_ spec: ModelSpec, groups: Int = 4) throws -> (Network, GDQRPolicy) {
        var s = QuantSettings()
        s.groups = groups
        let policy = try GDQRPolicy(s, model: spec)
        return (Network(spec, maxBatch: 2, threads: 1, seed: 3, policy: policy), policy)
    }

    func testInputActivationNamesExistInBuiltModels() throws {
        for spec in [ModelSpec(arch: .resnet, depth: 20, width: 16, input: FeatureShape(1, 8, 8)),
                     ModelSpec(arch: .cnn, width: 8, input: FeatureShape(1, 8, 8))] {
            let (_, policy) = try build(spec)
            let names = Set(policy.activationQuantizers.map(\.name))
            var used = Set<String>()
            for l in GDQRPolicy.weightLayers(of: spec) {
                let a = QuantizationSnapshot.inputActivation(of: l.name, spec: spec)
                if l.name == "conv1" { XCTAssertNil(a, "the stem reads the image"); continue }
                let name = try XCTUnwrap(a, l.name)
                XCTAssertTrue(names.contains(name), "\(l.name) -> \(name) is not a quantizer of \(spec.description)")
                used.insert(name)
            }
            // Every activation quantizer but the last block's output (which feeds the
            // average pool, then fc.act_in) is the input of some layer.
            let unused = names.subtracting(used)
            XCTAssertEqual(unused, spec.arch == .resnet ? ["layer3.2.act_out"] : ["bn4.act"], spec.description)
        }
        let r = ModelSpec(arch: .resnet, depth: 20, width: 16, input: FeatureShape(1, 8, 8))
        XCTAssertEqual(QuantizationSnapshot.inputActivation(of: "layer1.0.conv1", spec: r), "bn1.act")
        XCTAssertEqual(QuantizationSnapshot.inputActivation(of: "layer2.0.conv1", spec: r), "layer1.2.act_out")
        XCTAssertEqual(QuantizationSnapshot.inputActivation(of: "layer2.0.downsample.0", spec: r), "layer1.2.act_out")
        XCTAssertEqual(QuantizationSnapshot.inputActivation(of: "layer3.1.conv1", spec: r), "layer3.0.act_out")
        XCTAssertEqual(QuantizationSnapshot.inputActivation(of: "layer3.2.conv2", spec: r), "layer3.2.act1")
        XCTAssertEqual(QuantizationSnapshot.inputActivation(of: "fc", spec: r), "fc.act_in")
        let c = ModelSpec(arch: .cnn, width: 8, input: FeatureShape(1, 8, 8))
        XCTAssertEqual(QuantizationSnapshot.inputActivation(of: "conv3", spec: c), "bn2.act")
    }

    func testActivationEvaluationClipCounter() {
        let b = ArenaBuilder()
        let q = ActivationQuantizer(name: "act", shape: FeatureShape(1, 4, 4), maxBatch: 2, builder: b, bits: 4,
                                    source: .fixed(1.5))
        let arena = ParameterArena(b, seed: 0)
        let rt = Runtime(arena: arena, pool: nil)
        let x: [Float] = (0..<32).map { Float($0) * 0.1 }   // 0 ... 3.1: values > 1.5 are 1.6 ... 3.1
        let naive = x.filter { $0 > 1.5 }.count
        rt.training = true
        _ = x.withUnsafeBufferPointer { q.forward($0.baseAddress!, batch: 2, rt: rt) }
        XCTAssertEqual(q.evaluationCount, 0, "training forwards are not counted")
        rt.training = false
        _ = x.withUnsafeBufferPointer { q.forward($0.baseAddress!, batch: 2, rt: rt) }
        _ = x.withUnsafeBufferPointer { q.forward($0.baseAddress!, batch: 1, rt: rt) }
        XCTAssertEqual(q.evaluationCount, 48)
        XCTAssertEqual(q.evaluationClipped, naive + x[0..<16].filter { $0 > 1.5 }.count)
        q.resetEvaluationCounts()
        XCTAssertEqual(q.evaluationClipped, 0)
        XCTAssertEqual(q.evaluationCount, 0)
    }

    /// Naive bin index: the last edge not above v, by linear search.
    func naiveHistogram(_ v: [Float], edges: [Double]) -> [Int] {
        var c = [Int](repeating: 0, count: edges.count - 1)
        for x in v.map(Double.init) {
            var b = 0
            while b + 1 < c.count && edges[b + 1] <= x { b += 1 }
            c[b] += 1
        }
        return c
    }

    func testSnapshotMatchesNaiveRecomputation() throws {
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 8, input: FeatureShape(1, 8, 8))
        let (net, policy) = try build(spec)
        let rt = Runtime(arena: net.arena, pool: nil)
        var seed: UInt32 = 7
        let images = (0..<(2 * 64)).map { _ -> Float in seed = seed &* 1_664_525 &+ 1_013_904_223; return Float(seed >> 8) / 8e6 - 1 }
        rt.training = true
        _ = images.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 2, rt: rt) }
        rt.training = false
        for q in policy.activationQuantizers { q.resetEvaluationCounts() }
        _ = images.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 2, rt: rt) }
        let clip = policy.activationQuantizers.map { Double($0.evaluationClipped) / Double($0.evaluationCount) }
        let layers = QuantizationSnapshot.layers(policy: policy, arena: net.arena, spec: spec, activationClip: clip)
        XCTAssertEqual(layers.map(\.name), GDQRPolicy.weightLayers(of: spec).map(\.name))
        let a = net.arena
        for l in layers {
            let wq = try XCTUnwrap(policy.weightQuantizers.first { $0.layer == l.name })
            let w = Array(UnsafeBufferPointer(start: a.value(wq.weight), count: wq.count))
            let gs = w.count / wq.groups, L = Float(wq.maxLevel)
            var clipped = 0
            var quantized: [Float] = []
            for g in 0..<wq.groups {
                let slice = w[g * gs..<(g + 1) * gs]
                let mean = Float(slice.reduce(0.0) { $0 + Double(abs($1)) } / Double(gs))
                let t = 2 * mean   // k_g starts at k_w = 2
                XCTAssertEqual(l.weightThresholds![g], t, accuracy: 1e-5 * t, "\(l.name) group \(g)")
                let d = t / L
                for x in slice {
                    if abs(x / d) > L { clipped += 1 }
                    quantized.append(min(max((x / d).rounded(.toNearestOrEven), -L), L) * d)
                }
            }
            XCTAssertEqual(l.weightClipFraction!, Double(clipped) / Double(w.count), accuracy: 1e-12, l.name)
            let before = try XCTUnwrap(l.before), after = try XCTUnwrap(l.after)
            XCTAssertEqual(before.edges, after.edges)
            XCTAssertEqual(before.edges.count, 33)
            let r = Double(max(w.map(abs).max()!, quantized.map(abs).max()!))
            XCTAssertEqual(before.edges.last!, r, accuracy: 1e-6 * r)
            XCTAssertEqual(before.counts.reduce(0, +), w.count)
            XCTAssertEqual(after.counts.reduce(0, +), w.count)
            XCTAssertEqual(before.counts, naiveHistogram(w, edges: before.edges), l.name)
            XCTAssertEqual(after.counts, naiveHistogram(quantized, edges: after.edges), l.name)
            XCTAssertEqual(l.kind, l.name == "fc" ? "linear" : "conv")
            if l.name == "conv1" {
                XCTAssertNil(l.activationThreshold)
                XCTAssertNil(l.activationClipFraction)
            } else {
                let name = QuantizationSnapshot.inputActivation(of: l.name, spec: spec)!
                let aq = try XCTUnwrap(policy.activationQuantizers.first { $0.name == name })
                XCTAssertEqual(l.activationThreshold, 3 * a.stat(aq.runningAbsMean)[0])
                XCTAssertGreaterThan(l.activationThreshold!, 0)
                let f = try XCTUnwrap(l.activationClipFraction)
                XCTAssertTrue((0...1).contains(f))
            }
        }
        // The shared-file layer schema, with null for the stem's input activation.
        let stem = layers[0].json
        XCTAssertEqual(Set(stem.keys), ["name", "kind", "weight_bits", "activation_bits", "groups", "weight_thresholds",
                                        "weight_clip_fraction", "activation_threshold", "activation_clip_fraction",
                                        "weight_histogram_before", "weight_histogram_after"])
        XCTAssertTrue(stem["activation_threshold"] is NSNull)
        XCTAssertEqual(stem["weight_bits"] as? Int, 8)
        let line = JSON.line(["layers": layers.map(\.json)])
        let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        XCTAssertEqual((parsed["layers"] as! [Any]).count, layers.count)

        // TensorBoard tags: 4 groups give per-group scalars; both histograms per layer.
        let (scalars, histograms) = QuantizationSnapshot.tensorBoard(layers)
        let tags = Set(scalars.map(\.tag))
        XCTAssertTrue(tags.contains("quant/layer1.0.conv2/weight_threshold/g3"))
        XCTAssertTrue(tags.contains("quant/layer1.0.conv2/activation_clip_fraction"))
        XCTAssertFalse(tags.contains("quant/conv1/activation_threshold"))
        XCTAssertEqual(histograms.count, 2 * layers.count)
        XCTAssertEqual(histograms.first?.histogram.num, Double(policy.weightQuantizers[0].count))
    }
}
