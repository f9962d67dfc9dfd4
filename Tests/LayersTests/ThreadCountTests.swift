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
                let ga = UnsafeBufferPointer(start: a.arena.grads + e.offset, count: e.count)
                let gb = UnsafeBufferPointer(start: b.arena.grads + e.offset, count: e.count)
                let scale = max(ga.reduce(0) { max($0, abs($1)) }, 1e-6)
                assertAllClose(gb, ga, atol: 1e-4 * Double(scale), "step \(step) \(e.name) (scale \(scale))")
            }
            sgd.step(lr: 0.1)
        }
    }
}
