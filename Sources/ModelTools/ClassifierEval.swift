// A classifier's integer model on the test split of the data it was trained on
// (EvalData says how that is found): accuracy and images/s of the integer engine;
// with a run to compare, the parity report against the run's fake-quant model
// (ClassifierComparison) and the speed of the same network's FP32 forward.

import Foundation
import TensorEngine
import Layers
import IntegerInference
import Datasets
import Distributed
import Evaluation
import Trainer

public enum ClassifierEval {
    /// The report (JSON-ready: accuracy_integer, images_per_second_*, agreement, ...) and,
    /// with `compare`, the per-layer parity of the integer engine's levels.
    public static func run(_ m: IntegerModel, _ q: EvalRequest) throws -> (report: [String: Any], parity: LevelParity?) {
        guard q.cocoResults == nil, q.scenes == nil else {
            throw ToolError(usage: "--coco-results and --scenes apply to scene models; \(q.model) is a classifier")
        }
        let x = m.input
        let source = try EvalData.resolve(data: q.data, compare: q.compare, model: m, modelPath: q.model)
        let test = try source.split(.test, limit: q.limit, classes: m.classes, channels: x.channels, size: x.height).images
        guard test.channels == x.channels, test.height == x.height, test.width == x.width else {
            throw ToolError("\(test.source): images \(test.channels)x\(test.height)x\(test.width), the model takes \(x.channels)x\(x.height)x\(x.width)")
        }
        let bs = q.batchSize, threads = q.threadCount
        let engine = try IntegerEngine(m, maxBatch: bs, threads: threads, arithmetic: q.arithmetic)
        let count = test.count, classes = m.classes
        var report: [String: Any] = ["model": q.model, "images": count, "threads": threads, "batch": bs,
                                     "data": ["origin": source.origin, "source": test.source],
                                     "arithmetic": q.arithmetic.rawValue]
        var correct = 0
        var logits = q.saveOutputs == nil ? [] : [Float](repeating: 0, count: count * classes)
        let seconds = test.pixels.withUnsafeBufferPointer { px in
            timedBatches(count: count, batch: bs, warmUp: { _ = engine.run(px.baseAddress!, batch: min(bs, count)) }) { i, n in
                let l = engine.run(px.baseAddress! + i * x.count, batch: n)
                for s in 0..<n where argmax(l + s * classes, classes) == Int(test.labels[i + s]) { correct += 1 }
                if !logits.isEmpty { for e in 0..<(n * classes) { logits[i * classes + e] = l[e] } }
            }
        }
        if let path = q.saveOutputs { try writeRawFloats(logits, to: path) }
        report["accuracy_integer"] = Double(correct) / Double(max(count, 1))
        report["images_per_second_integer"] = Double(count) / seconds
        report["accumulator_bounds"] = engine.accumulatorBounds.map {
            ["op": $0.op, "max_abs_sum": $0.bound, "exact_float": $0.exactFloat] as [String: Any]
        }
        guard let compare = q.compare else { return (report, nil) }

        let r = try LoadedRun.load(compare, config: nil, maxBatch: bs, threads: threads)
        let pool = threads > 1 ? ThreadPool(threads: threads) : nil
        let c = try ClassifierComparison(model: m, engine: engine, net: r.net, quantizers: r.policy.activationQuantizers,
                                         pool: pool, pixels: test.pixels, labels: test.labels, batch: bs)
        // The FP32 forward of the same network (no quantizers), same images and batch.
        let input = m.normalizedInput(test.pixels)
        let fp32 = Network(r.spec, maxBatch: bs, threads: threads, seed: 0, policy: nil)
        fp32.arena.copyMatching(from: r.net.arena)
        let rt32 = Runtime(arena: fp32.arena, pool: pool)
        rt32.training = false
        let fp32Seconds = input.withUnsafeBufferPointer { inp in
            timedBatches(count: count, batch: bs,
                         warmUp: { _ = fp32.forward(inp.baseAddress!, batch: min(bs, count), rt: rt32) }) { i, n in
                _ = fp32.forward(inp.baseAddress! + i * x.count, batch: n, rt: rt32) }
        }
        report.merge(c.json.filter { $0.key != "images" }) { _, new in new }
        report["compare"] = compare
        report["images_per_second_fakequant"] = Double(count) / c.fakeQuantSeconds
        report["images_per_second_fp32"] = Double(count) / fp32Seconds
        return (report, c.levels)
    }

    /// Runs `warmUp` once untimed (page faults, thread start), then `body(first, n)` over
    /// `count` items in batches of `batch`; returns the seconds `body` took.
    static func timedBatches(count: Int, batch: Int, warmUp: () -> Void, _ body: (Int, Int) -> Void) -> Double {
        warmUp()
        var seconds = 0.0
        var i = 0
        while i < count {
            let n = min(batch, count - i)
            let t0 = monotonicSeconds()
            body(i, n)
            seconds += monotonicSeconds() - t0
            i += n
        }
        return seconds
    }
}
