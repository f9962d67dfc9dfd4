import XCTest
@testable import Layers
import TensorEngine

/// Whole networks (ResNet-8 + CenterNet or FCN head) on tiny synthetic scenes:
/// squares of three textures (class 1 solid bright, 2 striped, 3 solid dim) on a
/// 32x32 canvas. A parameter gradient of the stem is checked by finite
/// differences through the backbone and head (for FCN including the skip path),
/// and a few SGD steps must reduce the loss.
final class SceneNetworkHeadTests: XCTestCase {
    struct Batch { var images: [Float]; var labels: [Int32]; var boxes: [[LabeledBox]] }

    func scenes(_ n: Int, size: Int = 32, seed: UInt64) -> Batch {
        var images = [Float](repeating: 0, count: n * size * size), labels = [Int32](repeating: 0, count: n * size * size)
        var boxes: [[LabeledBox]] = []
        for i in 0..<n {
            var rng = CounterRNG(seed: seed, stream: UInt64(i))
            var mine: [LabeledBox] = []
            for _ in 0..<2 {
                let c = 1 + rng.nextInt(below: 3), side = 6 + rng.nextInt(below: 7)
                let x = rng.nextInt(below: size - side + 1), y = rng.nextInt(below: size - side + 1)
                for yy in y..<(y + side) {
                    for xx in x..<(x + side) {
                        let v: Float = c == 1 ? 1 : (c == 2 ? Float(yy % 2) : 0.5)
                        images[(i * size + yy) * size + xx] = v
                        labels[(i * size + yy) * size + xx] = Int32(c)
                    }
                }
                mine.append(LabeledBox(classId: c, x: Double(x), y: Double(y), w: Double(side), h: Double(side)))
            }
            boxes.append(mine)
        }
        return Batch(images: images, labels: labels, boxes: boxes)
    }

    func detectionTargets(_ net: SceneNetwork, _ batch: Batch) -> (heat: [Float], size: [CenterTarget], offset: [CenterTarget]) {
        let s = net.outputShape, n = batch.boxes.count
        var heat = [Float](repeating: 0, count: n * net.classes * s.height * s.width)
        var size: [CenterTarget] = [], offset: [CenterTarget] = []
        heat.withUnsafeMutableBufferPointer { h in
            for i in 0..<n {
                let t = CenterNetTargets.build(batch.boxes[i], sample: i, stride: net.stride, classes: net.classes,
                                               height: s.height, width: s.width,
                                               heatmap: h.baseAddress! + i * net.classes * s.height * s.width)
                size += t.size; offset += t.offset
            }
        }
        return (heat, size, offset)
    }

    /// Loss of one forward/backward (training mode), the gradients left in the arena.
    func step(_ net: SceneNetwork, _ batch: Batch, rt: Runtime) -> Float {
        let n = batch.boxes.count
        let out = batch.images.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: n, rt: rt) }
        switch net.kind {
        case .fcn:
            return batch.labels.withUnsafeBufferPointer {
                net.backwardSegmentation(output: out, labels: $0.baseAddress!, batch: n, rt: rt).loss
            }
        case .centerNet:
            let t = detectionTargets(net, batch)
            return t.heat.withUnsafeBufferPointer {
                net.backwardDetection(output: out, heatmapTargets: $0.baseAddress!, size: t.size, offset: t.offset,
                                      batch: n, rt: rt).total
            }
        }
    }

    func checkStemGradient(_ kind: SceneNetwork.Kind) {
        let net = SceneNetwork(kind: kind, depth: 8, width: 4, input: FeatureShape(1, 16, 16), classes: 3, maxBatch: 2,
                               threads: 1, seed: 11, headChannels: 8)
        let rt = Runtime(arena: net.arena, pool: nil)
        let batch = scenes(2, size: 16, seed: 3)
        _ = step(net, batch, rt: rt)
        let w = net.stem.layers[0] as! Conv2dLayer
        let grad = (0..<w.weight.count).map { Double(net.arena.grad(w.weight)[$0]) }
        // The three largest gradient entries, by central differences of the Float loss (Double arithmetic on it).
        let idx = grad.indices.sorted { abs(grad[$0]) > abs(grad[$1]) }.prefix(3)
        let p = net.arena.value(w.weight)
        for i in idx {
            let saved = p[i], h: Float = 1e-4
            p[i] = saved + h; let up = Double(step(net, batch, rt: rt))
            p[i] = saved - h; let down = Double(step(net, batch, rt: rt))
            p[i] = saved
            let numeric = (up - down) / Double(2 * h)
            XCTAssertEqual(grad[i], numeric, accuracy: 0.05 * abs(numeric) + 1e-3, "\(kind) stem weight \(i)")
        }
    }

    func testFCNGradientThroughBackboneAndSkip() { checkStemGradient(.fcn) }
    func testCenterNetGradientThroughBackbone() { checkStemGradient(.centerNet) }

    func train(_ kind: SceneNetwork.Kind, steps: Int, lr: Float) -> (first: Float, last: Float) {
        let net = SceneNetwork(kind: kind, depth: 8, width: 8, input: FeatureShape(1, 32, 32), classes: 3, maxBatch: 8,
                               threads: 1, seed: 5, headChannels: 16)
        let rt = Runtime(arena: net.arena, pool: nil)
        let sgd = SGD(arena: net.arena, settings: SGDSettings(momentum: 0.9, nesterov: true, weightDecay: 0))
        let batch = scenes(8, seed: 1)
        var first: Float = 0, last: Float = 0
        for s in 0..<steps {
            let loss = step(net, batch, rt: rt)
            XCTAssertTrue(loss.isFinite)
            if s == 0 { first = loss }
            last = loss
            _ = sgd.step(lr: lr)
        }
        return (first, last)
    }

    func testTrainingReducesLoss() {
        let seg = train(.fcn, steps: 30, lr: 0.05)
        XCTAssertLessThan(seg.last, 0.5 * seg.first, "FCN loss \(seg.first) -> \(seg.last)")
        print("FCN cross-entropy over 30 steps: \(seg.first) -> \(seg.last)")
        let det = train(.centerNet, steps: 30, lr: 0.02)
        print("CenterNet loss over 30 steps: \(det.first) -> \(det.last)")
        XCTAssertLessThan(det.last, 0.5 * det.first, "CenterNet loss \(det.first) -> \(det.last)")
    }
}
