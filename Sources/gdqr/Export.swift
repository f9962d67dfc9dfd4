// `gdqr export`: fold a trained quantized model into the integer `.gdqr` file.
// Also the shared loader of a run's fake-quant network (used by `gdqr eval --compare`).

import ArgumentParser
import Foundation
import Layers
import GDQR
import Checkpoint
import Export
import Trainer
import Datasets

struct ExportError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

/// A run's quantized network rebuilt from its config and safetensors, in eval mode.
struct LoadedRun {
    let config: RunConfig
    let spec: ModelSpec
    let policy: GDQRPolicy
    let net: Network
    let safetensors: String
    let configPath: String

    var normalization: (mean: [Float], std: [Float]) {
        ([Float(config.data.normalizeMean)], [Float(config.data.normalizeStd)])
    }

    /// `source`: a run folder (its config.yaml and its quantized model-w*a*.safetensors)
    /// or a safetensors file (config: `config`, else config.yaml beside it).
    static func load(_ source: String, config: String?, maxBatch: Int, threads: Int = 1) throws -> LoadedRun {
        let (cfg, st, cfgPath) = try resolve(source, config: config)
        guard cfg.model.kind == .classifier else {
            throw ExportError("\(cfgPath): model.kind \(cfg.model.kind.rawValue) is a scene model, not a classifier")
        }
        let spec = modelSpec(cfg)
        let policy = try TrainingPipeline.policy(for: cfg, spec: spec)
        policy.bypass = false
        let net = Network(spec, maxBatch: maxBatch, threads: threads, seed: 0, policy: policy)
        try ArenaSafetensors.load(net.arena, from: st)
        return LoadedRun(config: cfg, spec: spec, policy: policy, net: net, safetensors: st, configPath: cfgPath)
    }

    static func modelSpec(_ cfg: RunConfig) -> ModelSpec {
        let m = cfg.model
        return ModelSpec(arch: m.arch == .cnn ? .cnn : .resnet, depth: m.depth, width: m.width,
                         numClasses: m.numClasses, input: FeatureShape(m.inChannels, m.imageSize, m.imageSize))
    }

    /// The run's config and quantized safetensors (see `load`); quantization must be on.
    static func resolve(_ source: String, config: String?) throws -> (RunConfig, safetensors: String, configPath: String) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else {
            throw ExportError("\(source): no such run folder or file")
        }
        let st: String, cfgPath: String
        if isDir.boolValue {
            cfgPath = config ?? (source as NSString).appendingPathComponent("config.yaml")
            let files = (try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []
            let quantized = files.filter { $0.hasPrefix("model-w") && $0.hasSuffix(".safetensors") }.sorted()
            guard let f = quantized.first else {
                throw ExportError("\(source): no quantized model (model-w*a*.safetensors) in the run folder (is the run finished?)")
            }
            st = (source as NSString).appendingPathComponent(f)
        } else {
            st = source
            cfgPath = config ?? ((source as NSString).deletingLastPathComponent as NSString).appendingPathComponent("config.yaml")
        }
        let cfg = try ConfigLoader.load(path: cfgPath)
        guard cfg.quant.enabled else { throw ExportError("\(cfgPath): quant.enabled is false, nothing to export to integers") }
        return (cfg, st, cfgPath)
    }
}

/// A scene run's quantized SceneNetwork (CenterNet or FCN head) in eval mode, and its test scenes' settings.
struct LoadedSceneRun {
    let config: RunConfig
    let net: SceneNetwork
    let policy: GDQRPolicy
    let safetensors: String

    var normalization: (mean: [Float], std: [Float]) {
        ([Float(config.data.normalizeMean)], [Float(config.data.normalizeStd)])
    }

    /// The composer settings of the run's scenes.
    var sceneSettings: SceneSettings {
        let sc = config.data.scenes
        var s = SceneSettings()
        s.size = sc.size; s.minItems = sc.minItems; s.maxItems = sc.maxItems
        s.minScale = sc.minScale; s.maxScale = sc.maxScale; s.seed = UInt64(sc.seed)
        s.trainScenes = sc.trainScenes; s.testScenes = sc.testScenes
        return s
    }

    static func load(_ source: String, config: String? = nil, maxBatch: Int, threads: Int = 1) throws -> LoadedSceneRun {
        let (cfg, st, cfgPath) = try LoadedRun.resolve(source, config: config)
        let m = cfg.model
        guard m.kind != .classifier else { throw ExportError("\(cfgPath): model.kind classifier is not a scene model") }
        let policy = try TrainingPipeline.policy(for: cfg, spec: LoadedRun.modelSpec(cfg))
        policy.bypass = false
        let net = SceneNetwork(kind: m.kind == .fcn ? .fcn : .centerNet, depth: m.depth, width: m.width,
                               input: FeatureShape(m.inChannels, m.imageSize, m.imageSize), classes: m.numClasses,
                               maxBatch: maxBatch, threads: threads, seed: 0, headChannels: m.headChannels, policy: policy)
        try ArenaSafetensors.load(net.arena, from: st)
        return LoadedSceneRun(config: cfg, net: net, policy: policy, safetensors: st)
    }
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
