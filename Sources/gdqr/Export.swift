// `gdqr export`: fold a trained quantized model into the integer `.gdqr` file or ONNX
// (ModelTools/ModelExport.swift), and say what was written.

import ArgumentParser
import Foundation
import Trainer
import TrainerCLI
import ModelTools

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fold a trained quantized model (run folder or safetensors) into an integer model file.")

    @Argument(help: "A run folder (config.yaml + model-w*a*.safetensors) or a quantized model's safetensors.")
    var source: String

    @Option(name: .long, help: "The run's config (default: config.yaml in the run folder or beside the file).")
    var config: String?

    @Option(name: .long, help: "Output format: gdqr (integer model) or onnx (opset-21 QDQ graph, int4 weights; the source may also be a .gdqr file).")
    var format: String = "gdqr"

    @Option(name: .long, help: "Output file (default: RUN_DIR/model-w4a4.gdqr or .onnx, from the safetensors name).")
    var out: String?

    @OptionGroup var output: OutputOptions

    func run() throws {
        Log.configure(output.verbosity)
        guard let f = ModelExport.Format(rawValue: format) else { throw ToolError(usage: "--format \(format): expected gdqr or onnx") }
        let w = try ModelExport.export(source, config: config, format: f, out: out)
        // What was written (silent with --quiet: the file is the result).
        if output.quiet { return }
        guard f == .gdqr, let st = w.source else { return print("wrote \(w.path): \(w.bytes) bytes") }
        let task = w.model.task == .classification ? "" : "\(w.model.task.rawValue), "
        print("wrote \(w.path): \(task)\(w.model.ops.count) ops, \(w.bytes) bytes")
        // The float files beside it, and how many times larger they are.
        let fp32 = ((st as NSString).deletingLastPathComponent as NSString).appendingPathComponent("model-fp32.safetensors")
        for file in [st, fp32] where FileManager.default.fileExists(atPath: file) {
            let size = fileSize(file)
            print("  \(file): \(size) bytes (\(String(format: "%.1f", Double(size) / Double(max(w.bytes, 1))))x)")
        }
    }
}
