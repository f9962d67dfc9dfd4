// `gdqr export`: fold a trained quantized model into the integer `.gdqr` file.
// The run is loaded by LoadedRun (Sources/Trainer/LoadedRun.swift).

import ArgumentParser
import Foundation
import Layers
import GDQR
import Checkpoint
import Export
import Trainer
import TrainerCLI
import Datasets

struct ExportError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}

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

    /// What was written (silent with --quiet: the file is the result).
    func say(_ line: String) { if !output.quiet { print(line) } }

    func run() throws {
        Log.configure(output.verbosity)
        guard format == "gdqr" || format == "onnx" else { throw ExportError("--format \(format): expected gdqr or onnx") }
        if format == "onnx" && source.hasSuffix(".\(ModelFile.fileExtension)") {
            let outPath = out ?? ((source as NSString).deletingPathExtension + ".onnx")
            let size = try OnnxExport.write(try ModelFile.read(source), to: outPath)
            say("wrote \(outPath): \(size) bytes")
            return
        }
        let (cfg, _, _) = try LoadedRun.resolve(source, config: config)
        if cfg.model.kind != .classifier { return try exportScene() }
        let r = try LoadedRun.load(source, config: config, maxBatch: 1)
        let info = ["source": r.safetensors, "config_hash": r.config.hashHex, "model": r.spec.description,
                    "quant": TrainingPipeline.bitsTag(r.config)]
            .merging(r.config.dataInfo) { a, _ in a }
        Log.debug("export: \(r.safetensors) with \(r.configPath) (config \(r.config.hashHex)), \(r.spec.description)")
        let model = try Folding.fold(r.net, normalization: r.normalization, info: info)
        if format == "onnx" {
            let outPath = out ?? ((r.safetensors as NSString).deletingPathExtension + ".onnx")
            let size = try OnnxExport.write(model, to: outPath)
            say("wrote \(outPath): \(size) bytes")
            return
        }
        let outPath = out ?? ((r.safetensors as NSString).deletingPathExtension + ".gdqr")
        try ModelFile.write(model, to: outPath)
        let size = fileSize(outPath)
        say("wrote \(outPath): \(model.ops.count) ops, \(size) bytes")
        let fp32 = ((r.safetensors as NSString).deletingLastPathComponent as NSString).appendingPathComponent("model-fp32.safetensors")
        let fq = fileSize(r.safetensors)
        say("  \(r.safetensors): \(fq) bytes (\(String(format: "%.1f", Double(fq) / Double(max(size, 1))))x)")
        if FileManager.default.fileExists(atPath: fp32) {
            let f = fileSize(fp32)
            say("  \(fp32): \(f) bytes (\(String(format: "%.1f", Double(f) / Double(max(size, 1))))x)")
        }
    }
}

extension Export {
    /// A scene run, folded (a .gdqr, or its ONNX graph).
    func exportScene() throws {
        let r = try LoadedSceneRun.load(source, config: config, maxBatch: 1)
        let info = ["source": r.safetensors, "config_hash": r.config.hashHex, "model": r.net.kind.rawValue,
                    "quant": TrainingPipeline.bitsTag(r.config)]
        let model = try Folding.fold(r.net, normalization: r.normalization, info: info)
        if format == "onnx" {
            let outPath = out ?? ((r.safetensors as NSString).deletingPathExtension + ".onnx")
            say("wrote \(outPath): \(try OnnxExport.write(model, to: outPath)) bytes")
            return
        }
        let outPath = out ?? ((r.safetensors as NSString).deletingPathExtension + ".gdqr")
        try ModelFile.write(model, to: outPath)
        say("wrote \(outPath): \(model.task.rawValue), \(model.ops.count) ops, \(fileSize(outPath)) bytes")
    }
}
