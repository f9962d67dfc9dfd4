import XCTest
import MallocInterposerSwift
import TensorEngine
import Layers
import GDQR

// "A training step allocates nothing after the first" (DESIGN.md): every buffer a
// step touches (activations saved for backward, workspaces, quantizer state,
// optimizer state) is sized when the model is built. This counts the allocator
// calls (malloc, calloc, realloc, aligned allocations) of whole training steps
// (forward, backward, SGD) on every thread of the process, after two warm-up
// steps, for the FP32 and the GDQR W4A4 ResNet-20 and a narrow FP32 MobileNetV2
// (depthwise convolutions at strides 1 and 2, ReLU6), on 1 and 2 threads.
// On 1 thread a step allocates nothing. On 2 threads each parallel region of
// the ThreadPool boxes its closure once (`withoutActuallyEscaping`, ~50 bytes,
// freed at the end of the region): those boxes, and nothing else, are allowed.
@inline(never) func blackHole(_ x: [Int]) {
    withExtendedLifetime(x) {}
    sink = x.count
}
nonisolated(unsafe) var sink = 0

final class TrainingStepAllocationTests: XCTestCase {
    /// Allocations made by `body`, process-wide.
    func allocations(_ body: () -> Void) -> Int {
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        body()
        MallocInterposerSwift.unhook()
        return MallocInterposerSwift.getStatistics().mallocCount
    }

    func testTheCounterSeesAllocations() {
        // Without this, a zero below could mean the interposer is not in the process.
        let n = allocations {
            let a = [Int](repeating: 1, count: 1000)   // an array the optimizer cannot drop:
            blackHole(a)                                // its address escapes to another module
        }
        XCTAssertGreaterThanOrEqual(n, 1, "malloc is not interposed: the allocation counts below are meaningless")
    }

    /// (allocations, parallel regions) of three training steps after two warm-up steps.
    func stepAllocations(_ spec: ModelSpec, quantized: Bool, threads: Int) throws -> (allocations: Int, regions: Int) {
        let batch = 16, pixels = spec.input.count
        let policy: QuantizationPolicy? = quantized ? try GDQRPolicy(QuantSettings(), model: spec) : nil
        let pool = threads > 1 ? ThreadPool(threads: threads) : nil
        let net = Network(spec, maxBatch: batch, threads: threads, seed: 3, policy: policy)
        let rt = Runtime(arena: net.arena, pool: pool)
        rt.training = true
        let sgd = SGD(arena: net.arena, settings: SGDSettings())
        var rng = CounterRNG(seed: 11, stream: 0)
        let images = UnsafeMutablePointer<Float>.allocate(capacity: batch * pixels)
        defer { images.deallocate() }
        for i in 0..<(batch * pixels) { images[i] = rng.nextNormal() }
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: batch)
        defer { labels.deallocate() }
        for i in 0..<batch { labels[i] = Int32(i % 10) }
        func step() {
            let logits = net.forward(images, batch: batch, rt: rt)
            _ = net.backward(logits: logits, labels: labels, batch: batch, rt: rt)
            sgd.step(lr: 0.01)
            rt.step += 1
        }
        step(); step()
        let regions0 = pool?.regions ?? 0
        let n = allocations { for _ in 0..<3 { step() } }
        return (n, (pool?.regions ?? 0) - regions0)
    }

    static let resnet20 = ModelSpec(arch: .resnet, depth: 20, width: 16, input: FeatureShape(1, 28, 28))

    func check(_ spec: ModelSpec = resnet20, quantized: Bool, _ what: String) throws {
        let one = try stepAllocations(spec, quantized: quantized, threads: 1)
        XCTAssertEqual(one.allocations, 0, "\(what), 1 thread: a step allocated")
        let two = try stepAllocations(spec, quantized: quantized, threads: 2)
        XCTAssertGreaterThan(two.regions, 0)
        XCTAssertLessThanOrEqual(two.allocations, two.regions,
                                 "\(what), 2 threads: \(two.allocations) allocations in \(two.regions) parallel regions")
    }

    func testFP32StepsAllocateNothing() throws { try check(quantized: false, "FP32") }

    func testGDQRStepsAllocateNothing() throws { try check(quantized: true, "GDQR W4A4") }

    func testMobileNetV2StepsAllocateNothing() throws {
        let spec = ModelSpec(arch: .mobilenetv2, numClasses: 10, input: FeatureShape(1, 32, 32), widthMultiplier: 0.25)
        try check(spec, quantized: false, "FP32 MobileNetV2")
    }
}
