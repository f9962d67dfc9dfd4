// `gdqr eval`: test accuracy and speed of the integer engine on the test split of the
// data the model was trained on (EvalData.swift says how that is found); with
// --compare RUN_DIR also the parity report against the fake-quant float model of the
// run, and the FP32 forward's speed. Scene models (detection, segmentation) are
// evaluated by EvalScenes.swift; --ood (out-of-distribution detection) by EvalOOD.swift.

import ArgumentParser
import Foundation
import TensorEngine
import Layers
import IntegerInference
import Export
import Trainer
import Datasets
import Evaluation

private func seconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy and images/s of the integer engine; --compare: parity with the fake-quant model; --ood: out-of-distribution detection.")

    @Argument(help: "The .gdqr model file (with --ood also a run folder or a .safetensors file).")
    var model: String

    @Option(name: .long, help: "MNIST-layout data directory (t10k-images-idx3-ubyte[.gz], ...); default: the data of --compare's run, else the data the model file names, else config.yaml beside it.")
    var data: String?

    @Option(name: .long, help: "Evaluate only the first N test images (0 = all; composed test scenes: the run's with --compare, else 2000).")
    var limit: Int = 0

    @Option(name: .long, help: "Threads.")
    var threads: Int = 2

    @Option(name: .long, help: "Batch size.")
    var batch: Int = 128

    @Option(name: .long, help: "GEMM arithmetic: int32 (VNNI-style u8 x s8 dot products), int32-reference (the plain Int32 path) or exact-float (integers in Float32, bound-checked).")
    var arithmetic: String = "int32"

    @Option(name: .long, help: "A run folder: compare with its fake-quant model (config.yaml + model-w*a*.safetensors).")
    var compare: String?

    @Option(name: .long, help: "Scene models: test scenes written as files (instances.json, PGM images and masks); default: composed test scenes.")
    var scenes: String?

    @Option(name: .long, help: "Scene models: seed of the composed test scenes (with --compare: the run's).")
    var sceneSeed: UInt64 = 0

    @Option(name: .long, help: "Detection models: write the integer engine's detections here as a COCO results JSON.")
    var cocoResults: String?

    @Option(name: .long, help: ArgumentHelp("Scene models: write the integer engine's output maps as raw little-endian float32 [scenes][C][H][W].", visibility: .hidden))
    var saveOutputs: String?

    @Option(name: .long, help: "Out-of-distribution set: heldout, gaussian-noise, uniform-noise, inverted, blurred, an IDX images file, an MNIST-layout folder or a folder of PNG/JPEG images (repeatable).")
    var ood: [String] = []

    @Option(name: .long, help: "--ood: temperature of the energy score.")
    var temperature: Double = 1

    @Option(name: .long, help: "--ood: fit the Mahalanobis class means and covariance on the first N training images (0 = all).")
    var fitLimit: Int = 0

    @Option(name: .long, help: "--ood: also write the JSON report to this file (gdqr report shows RUN/ood-*.json).")
    var save: String?

    @Flag(name: .long, help: ArgumentHelp("--ood: add every image's scores to the JSON.", visibility: .hidden))
    var perImage = false

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard let arith = IntegerEngine.Arithmetic(rawValue: arithmetic) else {
            throw ValidationError("--arithmetic \(arithmetic): expected int32, int32-reference or exact-float")
        }
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature \(temperature): expected a positive number") }
        if !ood.isEmpty { return try runOOD() }
        let m = try ModelFile.read(model)
        if m.task != .classification { return try evaluateScenes(m, arith) }
        guard cocoResults == nil, scenes == nil else {
            throw ValidationError("--coco-results and --scenes apply to scene models; \(model) is a classifier")
        }
        let x = m.input
        let source = try EvalData.resolve(data: data, compare: compare, model: m, modelPath: model)
        let test = try source.split(.test, limit: limit, classes: m.classes, channels: x.channels, size: x.height).images
        guard test.channels == x.channels, test.height == x.height, test.width == x.width else {
            throw ExportError("\(test.source): images \(test.channels)x\(test.height)x\(test.width), the model takes \(x.channels)x\(x.height)x\(x.width)")
        }
        let bs = max(1, batch), threads = max(1, self.threads)
        let engine = try IntegerEngine(m, maxBatch: bs, threads: threads, arithmetic: arith)
        let count = test.count, classes = m.classes
        var correctInt = 0
        var report: [String: Any] = ["model": model, "images": count, "threads": threads, "batch": bs,
                                     "data": ["origin": source.origin, "source": test.source],
                                     "arithmetic": arith.rawValue]
        // Warm-up batch (page faults, thread start), not timed.
        test.pixels.withUnsafeBufferPointer { engine.run($0.baseAddress!, batch: min(bs, count)) }
        var tInt = 0.0
        test.pixels.withUnsafeBufferPointer { px in
            var i = 0
            while i < count {
                let n = min(bs, count - i)
                let t0 = seconds()
                let l = engine.run(px.baseAddress! + i * x.count, batch: n)
                tInt += seconds() - t0
                for s in 0..<n where argmax(l + s * classes, classes) == Int(test.labels[i + s]) { correctInt += 1 }
                i += n
            }
        }
        report["accuracy_integer"] = Double(correctInt) / Double(max(count, 1))
        report["images_per_second_integer"] = Double(count) / tInt
        report["accumulator_bounds"] = engine.accumulatorBounds.map { ["op": $0.op, "max_abs_sum": $0.bound, "exact_float": $0.exactFloat] as [String: Any] }

        var layerParity: LevelParity?
        if let compare {
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
            var tFP = 0.0
            input.withUnsafeBufferPointer { inp in
                _ = fp32.forward(inp.baseAddress!, batch: min(bs, count), rt: rt32)
                var i = 0
                while i < count {
                    let n = min(bs, count - i)
                    let t0 = seconds()
                    _ = fp32.forward(inp.baseAddress! + i * x.count, batch: n, rt: rt32)
                    tFP += seconds() - t0
                    i += n
                }
            }
            report.merge(c.json.filter { $0.key != "images" }) { _, new in new }
            report["compare"] = compare
            report["images_per_second_fakequant"] = Double(count) / c.fakeQuantSeconds
            report["images_per_second_fp32"] = Double(count) / tFP
            layerParity = c.levels
        }
        if json {
            let d = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            print(String(decoding: d, as: UTF8.self))
            return
        }
        func pct(_ k: String) -> String { String(format: "%.2f%%", 100 * (report[k] as? Double ?? 0)) }
        func rate(_ k: String) -> String { String(format: "%.0f images/s", report[k] as? Double ?? 0) }
        print("\(model): \(count) test images from \(test.source) (data from \(source.origin)), batch \(bs), \(threads) threads, \(arith.rawValue) GEMM")
        print("integer engine:   accuracy \(pct("accuracy_integer"))  \(rate("images_per_second_integer"))")
        if compare != nil {
            print("fake-quant float: accuracy \(pct("accuracy_fakequant"))  \(rate("images_per_second_fakequant"))")
            print("fp32 forward:     \(rate("images_per_second_fp32")) (same network without quantizers)")
            print("top-1 agreement \(pct("agreement")), max |logit diff| \(report["max_abs_logit_diff"]!), mean \(report["mean_abs_logit_diff"]!)")
            layerParity?.printRows()
        }
    }
}
