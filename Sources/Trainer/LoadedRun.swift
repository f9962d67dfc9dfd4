// A finished quantized run, loaded back: its config and its quantized
// safetensors (model-wXaY.safetensors) rebuilt into the fake-quant network in
// eval mode, as `gdqr export` folds it and `gdqr eval --compare` compares it.

import Foundation
import Layers
import GDQR
import Checkpoint
import Datasets

/// A run's quantized network rebuilt from its config and safetensors, in eval mode.
public struct LoadedRun {
    public let config: RunConfig
    public let spec: ModelSpec
    public let policy: GDQRPolicy
    public let net: Network
    public let safetensors: String
    public let configPath: String

    public var normalization: (mean: [Float], std: [Float]) { (config.normalization.mean, config.normalization.std) }

    /// `source`: a run folder (its config.yaml and its quantized model-w*a*.safetensors)
    /// or a safetensors file (config: `config`, else config.yaml beside it).
    public static func load(_ source: String, config: String?, maxBatch: Int, threads: Int = 1) throws -> LoadedRun {
        let (cfg, st, cfgPath) = try resolve(source, config: config)
        guard cfg.model.kind == .classifier else {
            throw TrainerError("\(cfgPath): model.kind \(cfg.model.kind.rawValue) is a scene model, not a classifier")
        }
        let spec = cfg.modelSpec
        let policy = try TrainingPipeline.policy(for: cfg, spec: spec)
        policy.bypass = false
        let net = Network(spec, maxBatch: maxBatch, threads: threads, seed: 0, policy: policy)
        try ArenaSafetensors.load(net.arena, from: st)
        return LoadedRun(config: cfg, spec: spec, policy: policy, net: net, safetensors: st, configPath: cfgPath)
    }

    /// The run's config and quantized safetensors (see `load`); quantization must be on.
    public static func resolve(_ source: String, config: String?) throws -> (RunConfig, safetensors: String, configPath: String) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else {
            throw TrainerError("\(source): no such run folder or file")
        }
        let st: String, cfgPath: String
        if isDir.boolValue {
            cfgPath = config ?? (source as NSString).appendingPathComponent("config.yaml")
            let files = (try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []
            let quantized = files.filter { $0.hasPrefix("model-w") && $0.hasSuffix(".safetensors") }.sorted()
            guard let f = quantized.first else {
                throw TrainerError("\(source): no quantized model (model-w*a*.safetensors) in the run folder (is the run finished?)")
            }
            st = (source as NSString).appendingPathComponent(f)
        } else {
            st = source
            cfgPath = config ?? ((source as NSString).deletingLastPathComponent as NSString).appendingPathComponent("config.yaml")
        }
        let cfg = try ConfigLoader.load(path: cfgPath)
        guard cfg.quant.enabled else { throw TrainerError("\(cfgPath): quant.enabled is false, nothing to export to integers") }
        return (cfg, st, cfgPath)
    }
}

/// A scene run's quantized SceneNetwork (CenterNet or FCN head) in eval mode, and its test scenes' settings.
public struct LoadedSceneRun {
    public let config: RunConfig
    public let net: SceneNetwork
    public let policy: GDQRPolicy
    public let safetensors: String

    public var normalization: (mean: [Float], std: [Float]) { (config.normalization.mean, config.normalization.std) }

    /// The composer settings of the run's scenes.
    public var sceneSettings: SceneSettings { config.sceneSettings }

    public static func load(_ source: String, config: String? = nil, maxBatch: Int, threads: Int = 1) throws -> LoadedSceneRun {
        let (cfg, st, cfgPath) = try LoadedRun.resolve(source, config: config)
        let m = cfg.model
        guard m.kind != .classifier else { throw TrainerError("\(cfgPath): model.kind classifier is not a scene model") }
        let policy = try TrainingPipeline.policy(for: cfg, spec: cfg.modelSpec)
        policy.bypass = false
        let net = SceneNetwork(kind: m.kind == .fcn ? .fcn : .centerNet, depth: m.depth, width: m.width,
                               input: FeatureShape(m.inChannels, m.imageSize, m.imageSize), classes: m.numClasses,
                               maxBatch: maxBatch, threads: threads, seed: 0, headChannels: m.headChannels, policy: policy)
        try ArenaSafetensors.load(net.arena, from: st)
        return LoadedSceneRun(config: cfg, net: net, policy: policy, safetensors: st)
    }
}
