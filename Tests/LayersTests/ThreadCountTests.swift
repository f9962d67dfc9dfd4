// A training step's gradients must not depend on the thread count beyond float
// rounding: each step below starts both networks from the same parameters.

import XCTest
import TensorEngine
@testable import Layers

final class ThreadCountTests: XCTestCase {
    func testGradientsAgreeAcrossThreadCounts() {
        let spec = ModelSpec(arch: .resnet, depth: 20, width: 16, numClasses: 10, input: FeatureShape(1, 28, 28))
        let batch = 64
        let a = Network(spec, maxBatch: batch, threads: 1, seed: 3)
        let b = Network(spec, maxBatch: batch, threads: 2, seed: 3)
        let ra = Runtime(arena: a.arena, pool: nil)
        let rb = Runtime(arena: b.arena, pool: ThreadPool(threads: 2))
        let sgd = SGD(arena: a.arena, settings: SGDSettings())
        var rng = CounterRNG(seed: 5, stream: 9)
        let images = (0..<(batch * 784)).map { _ in rng.nextNormal() }
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: 10)) }
        for step in 0..<8 {
            b.arena.values.update(from: a.arena.values, count: a.arena.parameterCount)
            b.arena.statistics.update(from: a.arena.statistics, count: a.arena.statisticCount)
            for (net, rt) in [(a, ra), (b, rb)] {
                let logits = images.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: batch, rt: rt) }
                _ = labels.withUnsafeBufferPointer { net.backward(logits: logits, labels: $0.baseAddress!, batch: batch, rt: rt) }
            }
            for e in a.arena.params {
                let ga = a.arena.grads + e.offset, gb = b.arena.grads + e.offset
                var diff: Float = 0, scale: Float = 1e-6
                for i in 0..<e.count { diff = max(diff, abs(ga[i] - gb[i])); scale = max(scale, abs(ga[i])) }
                XCTAssertLessThanOrEqual(diff, 1e-4 * scale, "step \(step) \(e.name): \(diff) vs scale \(scale)")
            }
            sgd.step(lr: 0.1)
        }
    }
}
