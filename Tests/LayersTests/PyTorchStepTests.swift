// Two SGD steps of each model against PyTorch (Tests/fixtures/make_fixtures.py
// wrote the fixtures; its docstring states the exact semantics). Every logit,
// the loss, every gradient, every updated parameter and running statistic is
// compared. Tolerances: float32 kernels summing in another order than PyTorch's
// differ by a few ulps per operation; through ~10 layers and BN's division by a
// batch std that compounds to ~1e-5 relative, so we allow 2e-4 relative to the
// tensor's largest magnitude (and 1e-6 absolute for all-but-zero tensors).

import XCTest
import Foundation
import TensorEngine
@testable import Layers
import Checkpoint

final class PyTorchStepTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")

    func testResNet8MatchesPyTorch() throws {
        try checkTwoSteps(file: "resnet8-step.safetensors",
                          spec: ModelSpec(arch: .resnet, depth: 8, width: 4, numClasses: 10, input: FeatureShape(1, 12, 12)))
    }

    func testCNNMatchesPyTorch() throws {
        try checkTwoSteps(file: "cnn-step.safetensors",
                          spec: ModelSpec(arch: .cnn, width: 4, numClasses: 10, input: FeatureShape(1, 12, 12)))
    }

    func testTwoThreadsGiveSameResultAsPyTorch() throws {
        try checkTwoSteps(file: "resnet8-step.safetensors", threads: 2,
                          spec: ModelSpec(arch: .resnet, depth: 8, width: 4, numClasses: 10, input: FeatureShape(1, 12, 12)))
    }

    func checkTwoSteps(file: String, threads: Int = 1, spec: ModelSpec) throws {
        let fx = try SafetensorsFile.read(Self.fixtures.appendingPathComponent(file))
        let batch = 4
        let net = Network(spec, maxBatch: batch, threads: threads, seed: 0)
        let pool = threads > 1 ? ThreadPool(threads: threads) : nil
        let rt = Runtime(arena: net.arena, pool: pool)
        for t in net.arena.namedTensors {
            let src = try XCTUnwrap(fx["init." + t.entry.name], "fixture lacks init.\(t.entry.name)")
            XCTAssertEqual(src.shape, t.entry.shape, t.entry.name)
            src.floats.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress!, count: t.entry.count) }
        }
        let input = try XCTUnwrap(fx["input"]).floats
        let labels = try XCTUnwrap(fx["labels_f32"]).floats.map { Int32($0) }
        let sgd = SGD(arena: net.arena, settings: SGDSettings(momentum: 0.9, nesterov: true, weightDecay: 5e-4))
        for (k, suffix) in [(1, ""), (2, "2")] {
            let logits = input.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: batch, rt: rt) }
            compare(UnsafeBufferPointer(start: logits, count: batch * 10), fx["logits" + suffix]!, "step \(k) logits")
            let r = labels.withUnsafeBufferPointer {
                net.backward(logits: logits, labels: $0.baseAddress!, batch: batch, rt: rt)
            }
            XCTAssertEqual(r.loss, fx["loss" + suffix]!.floats[0], accuracy: 2e-5 * max(1, abs(r.loss)), "step \(k) loss")
            for e in net.arena.params {
                compare(UnsafeBufferPointer(start: net.arena.grads + e.offset, count: e.count),
                        fx["grad\(suffix)." + e.name]!, "step \(k) grad \(e.name)")
            }
            sgd.step(lr: 0.1)
            for t in net.arena.namedTensors {
                compare(UnsafeBufferPointer(start: t.pointer, count: t.entry.count),
                        fx["after\(suffix)." + t.entry.name]!, "after step \(k): \(t.entry.name)")
            }
        }
    }

    func compare(_ got: UnsafeBufferPointer<Float>, _ want: SafeTensor, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
        let w = want.floats
        let scale = max(w.reduce(0) { max($0, abs($1)) }, 1e-6 / 2e-4)
        // NaN-aware (NumericAssertions.swift): a NaN gradient or parameter fails.
        assertAllClose(got, w, atol: 2e-4 * Double(scale), "\(what) vs PyTorch (scale \(scale))", file: file, line: line)
    }
}
