// `gdqr eval`: the integer model on the test split of the data it was trained on, with
// --compare RUN_DIR also the parity report against the run's fake-quant model
// (ModelTools/ClassifierEval.swift); scene models (EvalScenes.swift); --ood
// (EvalOOD.swift). This file parses the options and prints the report.

import ArgumentParser
import Foundation
import IntegerInference
import Export
import Evaluation
import ModelTools

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

    @Option(name: .long, help: ArgumentHelp("Write the integer engine's outputs as raw little-endian float32: a classifier's logits [images][classes], a scene model's maps [scenes][C][H][W].", visibility: .hidden))
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

    var request: EvalRequest {
        var q = EvalRequest(model: model)
        q.data = data; q.compare = compare; q.limit = limit; q.threads = threads; q.batch = batch
        q.scenes = scenes; q.sceneSeed = sceneSeed; q.cocoResults = cocoResults; q.saveOutputs = saveOutputs
        q.ood = ood; q.temperature = temperature; q.fitLimit = fitLimit; q.perImage = perImage
        return q
    }

    func run() throws {
        var q = request
        guard let arith = IntegerEngine.Arithmetic(rawValue: arithmetic) else {
            throw ValidationError("--arithmetic \(arithmetic): expected int32, int32-reference or exact-float")
        }
        q.arithmetic = arith
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature \(temperature): expected a positive number") }
        if !ood.isEmpty { return try runOOD(q) }
        let m = try ModelFile.read(model)
        if m.task != .classification { return try evaluateScenes(q, m) }
        let (report, parity) = try ClassifierEval.run(m, q)
        if json { return try printJSON(report) }
        func pct(_ k: String) -> String { String(format: "%.2f%%", 100 * (report[k] as? Double ?? 0)) }
        func rate(_ k: String) -> String { String(format: "%.0f images/s", report[k] as? Double ?? 0) }
        let data = report["data"] as! [String: Any]
        print("\(model): \(report["images"]!) test images from \(data["source"]!) (data from \(data["origin"]!)), batch \(report["batch"]!), \(report["threads"]!) threads, \(arith.rawValue) GEMM")
        print("integer engine:   accuracy \(pct("accuracy_integer"))  \(rate("images_per_second_integer"))")
        if compare != nil {
            print("fake-quant float: accuracy \(pct("accuracy_fakequant"))  \(rate("images_per_second_fakequant"))")
            print("fp32 forward:     \(rate("images_per_second_fp32")) (same network without quantizers)")
            print("top-1 agreement \(pct("agreement")), max |logit diff| \(report["max_abs_logit_diff"]!), mean \(report["mean_abs_logit_diff"]!)")
            parity?.printRows()
        }
    }
}

/// Prints a report as one JSON object with sorted keys.
func printJSON(_ report: [String: Any]) throws {
    let d = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
    print(String(decoding: d, as: UTF8.self))
}
