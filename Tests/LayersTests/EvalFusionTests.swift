// In evaluation a conv and its batch norm (and a block's residual add and ReLU) run as
// one pass; the logits must equal the layer-by-layer forward's bit for bit.

import XCTest
import TensorEngine
@testable import Layers

final class EvalFusionTests: XCTestCase {
    /// The forward with every conv, batch norm, add and ReLU called on its own.
    func layerByLayer(_ net: Network, _ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> [Float] {
        var h = x
        var kept: [[Float]] = []   // keeps block outputs alive while the next layer reads them
        for l in net.body.layers {
            guard let block = l as? BasicBlock else {
                h = UnsafePointer(l.forward(h, batch: batch, rt: rt))
                continue
            }
            let y1 = block.bn1.forward(block.conv1.forward(h, batch: batch, rt: rt), batch: batch, rt: rt)
            let main = block.bn2.forward(block.conv2.forward(y1, batch: batch, rt: rt), batch: batch, rt: rt)
            let shortcut = block.downsample.map { UnsafePointer($0.bn.forward($0.conv.forward(h, batch: batch, rt: rt),
                                                                            batch: batch, rt: rt)) } ?? h
            let count = batch * block.outputShape.count
            var out = [Float](repeating: 0, count: count)
            add(main, shortcut, into: &out, count: count)
            reluForward(input: out, output: &out, count: count)
            kept.append(out)
            h = kept.last!.withUnsafeBufferPointer { $0.baseAddress! }
        }
        return Array(UnsafeBufferPointer(start: h, count: batch * net.spec.numClasses))
    }

    func check(_ spec: ModelSpec, pool: ThreadPool?) {
        let batch = 6
        let net = Network(spec, maxBatch: batch, threads: pool?.threads ?? 1, seed: 11)
        // Running statistics away from (0, 1), so that the affine matters.
        var rng = CounterRNG(seed: 12, stream: 3)
        for e in net.arena.stats {
            let p = net.arena.statistics + e.offset
            let isVar = e.name.hasSuffix("running_var")
            for i in 0..<e.count { p[i] = isVar ? 0.2 + rng.nextUniform() : rng.nextUniform() - 0.5 }
        }
        let rt = Runtime(arena: net.arena, pool: pool)
        rt.training = false
        let x = (0..<(batch * spec.input.count)).map { _ in rng.nextNormal() }
        let fused = x.withUnsafeBufferPointer {
            Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: batch, rt: rt),
                                      count: batch * spec.numClasses))
        }
        let reference = x.withUnsafeBufferPointer { layerByLayer(net, $0.baseAddress!, batch: batch, rt: rt) }
        XCTAssertEqual(fused.map(\.bitPattern), reference.map(\.bitPattern), "\(spec.description)")
        XCTAssertNotEqual(fused, [Float](repeating: fused[0], count: fused.count), "logits should vary")
    }

    func testResNetEvaluationIsFusedExactly() {
        let spec = ModelSpec(arch: .resnet, depth: 8, width: 16, numClasses: 10, input: FeatureShape(1, 28, 28))
        check(spec, pool: nil)
        check(spec, pool: ThreadPool(threads: 2))
    }

    func testCNNEvaluationIsFusedExactly() {
        let spec = ModelSpec(arch: .cnn, width: 8, numClasses: 10, input: FeatureShape(3, 16, 16))
        check(spec, pool: nil)
        check(spec, pool: ThreadPool(threads: 2))
    }
}
