// The typed, validated run configuration, built from the schema's resolved values.

import Foundation

public struct ModelConfig: Equatable, Sendable {
    /// What the network predicts: image classes, or boxes / masks of scenes.
    public enum Kind: String, CaseIterable, Sendable {
        case classifier
        case centerNet = "resnet-centernet"
        case fcn = "resnet-fcn"
    }
    public enum Arch: String, CaseIterable, Sendable { case cnn, resnet, vgg, mobilenetv2 }
    public enum Block: String, CaseIterable, Sendable { case basic, bottleneck }
    public enum Stem: String, CaseIterable, Sendable { case cifar, imagenet }
    public var kind: Kind = .classifier
    public var arch: Arch
    /// ResNet depth (6n+2, or 18/34/50/101/152), VGG depth (7 = VGG-small, 11, 13, 16, 19).
    public var depth: Int
    /// Channels of the first stage (CNN: width and 2*width; ResNet: width, 2*width, 4*width).
    public var width: Int
    public var numClasses: Int
    public var inChannels: Int
    public var imageSize: Int
    /// Hidden channels of the CenterNet branches.
    public var headChannels: Int = 64
    public var block: Block = .basic
    public var stem: Stem = .cifar
    public var widthMultiplier: Double = 1
    public var classifier: [Int] = []
    public var isScene: Bool { kind != .classifier }
    /// ResNet blocks per stage: (depth - 2) / 6.
    public var resnetBlocksPerStage: Int { (depth - 2) / 6 }
}

public struct DataConfig: Equatable, Sendable {
    public enum Dataset: String, CaseIterable, Sendable {
        case fashionMNIST = "fashion-mnist"
        case idx
        case fashionScenes = "fashion-scenes"
        case imageFolder = "image-folder"
        case coco
        case voc
    }
    public var dataset: Dataset
    public var root: String
    /// 0 = all samples.
    public var trainLimit: Int
    /// 0 = all samples.
    public var testLimit: Int
    /// The labels kept, in their new order (empty = all); the others are held out.
    public var classes: [Int] = []
    public var normalizeMean: Double
    public var normalizeStd: Double
    public var cropPadding: Int
    public var hflip: Bool
    /// IDX datasets: resample the images to model.image_size at load.
    public var resize = false
    /// The fashion-scenes settings (unused by the image datasets).
    public var scenes = SceneConfig()
    /// The image-folder settings (unused by the other datasets).
    public var folder = ImageFolderConfig()
    /// The COCO files (data.dataset coco).
    public var coco = CocoFilesConfig()
}

/// The COCO instances files and image folders of data.dataset coco.
public struct CocoFilesConfig: Equatable, Sendable {
    public var trainAnnotations = ""
    public var trainImages = ""
    public var valAnnotations = ""
    public var valImages = ""
}

/// The image-folder reader's settings, from the data section.
public struct ImageFolderConfig: Equatable, Sendable {
    /// Empty = the scalar normalize_mean / normalize_std for every channel.
    public var channelMean: [Double] = []
    public var channelStd: [Double] = []
    public var crop = ImageFolderCrop.padCrop
    public var cropMinScale = 0.08
    public var skipBad = false
    public var workers = 2
    public var prefetchBatches = 2
    /// coco, voc: keep the aspect ratio (the longer side to image_size, black bands).
    public var letterbox = false
}

public enum ImageFolderCrop: String, CaseIterable, Sendable {
    case padCrop = "pad-crop"
    case randomResizedCrop = "random-resized-crop"
}

/// The scene composer's settings, from the data section's scene_* keys.
public struct SceneConfig: Equatable, Sendable {
    public var size = 64
    public var trainScenes = 5000
    public var testScenes = 500
    public var minItems = 1
    public var maxItems = 6
    public var minScale = 0.5
    public var maxScale = 2.0
    public var seed = 0
}

public struct TrainConfig: Equatable, Sendable {
    public var epochs: Int
    /// The global batch (summed over ranks).
    public var batchSize: Int
    /// 0 = automatic.
    public var threads: Int
    public var logEverySteps: Int
    public var evalEveryEpochs: Int
}

public struct OptimConfig: Equatable, Sendable {
    public var lr: Double
    public var momentum: Double
    public var nesterov: Bool
    public var weightDecay: Double
    public var decayBNAndBias: Bool
    /// 0 = no clipping.
    public var gradClipNorm: Double
}

public struct ScheduleConfig: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable { case cosine, step, constant }
    public var kind: Kind
    public var warmupEpochs: Double
    public var stepEpochs: [Int]
    public var stepGamma: Double
    public var minLRFraction: Double
}

/// Bits for one named layer, from a `quant.overrides` entry "layername:wbits:abits".
public struct LayerBits: Equatable, Sendable {
    public var layer: String
    /// 0 or 32 = full precision.
    public var wBits: Int
    /// 0 or 32 = full precision.
    public var aBits: Int

    /// Parses "layername:wbits:abits"; nil when malformed or a bit width is not 0 or 2...32.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, !parts[0].isEmpty, let w = Int(parts[1]), let a = Int(parts[2]),
              LayerBits.validBits(w), LayerBits.validBits(a) else { return nil }
        layer = parts[0]
        wBits = w
        aBits = a
    }

    public init(layer: String, wBits: Int, aBits: Int) {
        self.layer = layer
        self.wBits = wBits
        self.aBits = aBits
    }

    /// 0 (full precision) or 2 ... 32 (32 = full precision).
    public static func validBits(_ b: Int) -> Bool { b == 0 || (2...32).contains(b) }
    /// True for 0 or 32.
    public static func isFullPrecision(_ b: Int) -> Bool { b == 0 || b == 32 }
}

public struct QuantConfig: Equatable, Sendable {
    public enum Mode: String, CaseIterable, Sendable {
        case gdqr, naive
        case minmaxGroups = "minmax-groups"
        case ptqMinmax = "ptq-minmax"
        case ptqSearch = "ptq-search"
        case ptqEasyQuant = "ptq-easyquant"
        case psg
    }
    public var enabled: Bool
    public var wBits: Int
    public var aBits: Int
    public var kW: Double
    public var kA: Double
    public var rho: Double
    public var groups: Int
    public var learnK: Bool
    public var wFullRange: Bool
    public var wSTEMask: Bool
    /// 0 or 32 = full precision.
    public var firstLayerBits: Int
    /// 0 or 32 = full precision.
    public var lastLayerBits: Int
    public var clipWarmupSteps: Int
    public var mode: Mode
    public var ptqCalibrationBatches: Int
    public var psgLambda: Double
    /// The raw "layername:wbits:abits" strings.
    public var overrides: [String]
    /// `overrides`, parsed (validated at load).
    public var layerOverrides: [LayerBits]
    public var fp32PhaseEpochs: Int
    public var qatLR: Double

    /// The override for a layer name, if any.
    public func override(forLayer name: String) -> LayerBits? { layerOverrides.last { $0.layer == name } }
}

public struct CheckpointConfig: Equatable, Sendable {
    public enum NonFinite: String, CaseIterable, Sendable { case stop, skip }
    public enum OnWriteError: String, CaseIterable, Sendable { case stop, `continue` }
    /// 0 = off.
    public var everySteps: Int
    /// 0 = off.
    public var everyEpochs: Int
    public var keepLast: Int
    public var keepBest: Bool
    public var zstdLevel: Int
    public var byteShuffle: Bool
    public var nonfinite: NonFinite
    public var onWriteError: OnWriteError
}

public struct DistributedConfig: Equatable, Sendable {
    public var bucketMB: Double
    public var syncStatsEvery: Int
    public var syncBN: Bool
    /// 0 = off.
    public var checksumEvery: Int
}

/// A fully resolved and validated run configuration. Immutable, so `yaml` and `hash`
/// always describe the settings; make a variant with `ConfigLoader.load(..., overrides:)`.
public struct RunConfig: Equatable, Sendable, CustomStringConvertible {
    public let name: String
    public let seed: Int
    public let model: ModelConfig
    public let data: DataConfig
    public let train: TrainConfig
    public let optim: OptimConfig
    public let schedule: ScheduleConfig
    public let quant: QuantConfig
    public let checkpoint: CheckpointConfig
    public let distributed: DistributedConfig

    /// The file the config came from (or the source name given to `load(yaml:)`). Not part of `==` or the hash.
    public let sourcePath: String
    /// Every key's resolved value by path ("optim.lr", "seed").
    public let values: [String: ConfigValue]
    /// The resolved config as canonical YAML: every key, defaults included, schema order.
    public let yaml: String
    /// 64-bit FNV-1a of `yaml`.
    public let hash: UInt64

    public var resolvedYAML: String { yaml }
    /// `hash` as 16 lowercase hex digits.
    public var hashHex: String { ConfigHash.hex(hash) }
    public var description: String { "\(name) (config \(hashHex))" }

    public static func == (a: RunConfig, b: RunConfig) -> Bool {
        a.name == b.name && a.seed == b.seed && a.model == b.model && a.data == b.data && a.train == b.train
            && a.optim == b.optim && a.schedule == b.schedule && a.quant == b.quant
            && a.checkpoint == b.checkpoint && a.distributed == b.distributed && a.values == b.values
            && a.yaml == b.yaml && a.hash == b.hash
    }
}

/// FNV-1a (64-bit) of the canonical YAML, used to compare configs across ranks.
public enum ConfigHash {
    public static func fnv1a64(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    public static func hex(_ h: UInt64) -> String {
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// Reads typed values out of the resolved dictionary, recording which keys were read
/// (a test checks that RunConfig consumes every schema key).
struct ConfigValueReader {
    let values: [String: ConfigValue]
    private(set) var read: Set<String> = []

    init(_ values: [String: ConfigValue]) { self.values = values }

    private mutating func get(_ path: String) -> ConfigValue {
        read.insert(path)
        guard let v = values[path] else { preconditionFailure("config: no resolved value for '\(path)'") }
        return v
    }
    mutating func int(_ p: String) -> Int {
        if case .int(let x) = get(p) { return x }
        preconditionFailure("config: '\(p)' is not an int")
    }
    mutating func float(_ p: String) -> Double {
        switch get(p) {
        case .float(let x): return x
        case .int(let x): return Double(x)
        default: preconditionFailure("config: '\(p)' is not a float")
        }
    }
    mutating func bool(_ p: String) -> Bool {
        if case .bool(let x) = get(p) { return x }
        preconditionFailure("config: '\(p)' is not a bool")
    }
    mutating func string(_ p: String) -> String {
        if case .string(let x) = get(p) { return x }
        preconditionFailure("config: '\(p)' is not a string")
    }
    mutating func choice<E: RawRepresentable>(_ p: String, _: E.Type = E.self) -> E where E.RawValue == String {
        let s = string(p)
        guard let e = E(rawValue: s) else { preconditionFailure("config: '\(p)' = \(s) is not a valid choice") }
        return e
    }
    mutating func ints(_ p: String) -> [Int] {
        if case .intList(let x) = get(p) { return x }
        preconditionFailure("config: '\(p)' is not a list of int")
    }
    mutating func floats(_ p: String) -> [Double] {
        switch get(p) {
        case .floatList(let x): return x
        case .intList(let x): return x.map(Double.init)
        default: preconditionFailure("config: '\(p)' is not a list of float")
        }
    }
    mutating func strings(_ p: String) -> [String] {
        if case .stringList(let x) = get(p) { return x }
        preconditionFailure("config: '\(p)' is not a list of string")
    }
}

extension RunConfig {
    /// Builds the typed config from validated values. `read` receives the paths consumed.
    init(values: [String: ConfigValue], sourcePath: String, yaml: String, read: inout Set<String>) {
        var r = ConfigValueReader(values)
        name = r.string("name")
        seed = r.int("seed")
        model = ModelConfig(kind: r.choice("model.kind"), arch: r.choice("model.arch"), depth: r.int("model.depth"),
                            width: r.int("model.width"), numClasses: r.int("model.num_classes"),
                            inChannels: r.int("model.in_channels"), imageSize: r.int("model.image_size"),
                            headChannels: r.int("model.head_channels"), block: r.choice("model.block"),
                            stem: r.choice("model.stem"), widthMultiplier: r.float("model.width_mult"),
                            classifier: r.ints("model.classifier"))
        let scenes = SceneConfig(size: r.int("data.scene_size"), trainScenes: r.int("data.train_scenes"),
                                 testScenes: r.int("data.test_scenes"), minItems: r.int("data.scene_min_items"),
                                 maxItems: r.int("data.scene_max_items"), minScale: r.float("data.scene_min_scale"),
                                 maxScale: r.float("data.scene_max_scale"), seed: r.int("data.scene_seed"))
        let folder = ImageFolderConfig(channelMean: r.floats("data.channel_mean"), channelStd: r.floats("data.channel_std"),
                                       crop: r.choice("data.crop"), cropMinScale: r.float("data.crop_min_scale"),
                                       skipBad: r.bool("data.skip_bad"), workers: r.int("data.workers"),
                                       prefetchBatches: r.int("data.prefetch_batches"), letterbox: r.bool("data.letterbox"))
        data = DataConfig(dataset: r.choice("data.dataset"), root: r.string("data.root"),
                          trainLimit: r.int("data.train_limit"), testLimit: r.int("data.test_limit"), classes: r.ints("data.classes"),
                          normalizeMean: r.float("data.normalize_mean"), normalizeStd: r.float("data.normalize_std"),
                          cropPadding: r.int("data.crop_padding"), hflip: r.bool("data.hflip"), resize: r.bool("data.resize"),
                          scenes: scenes, folder: folder,
                          coco: CocoFilesConfig(trainAnnotations: r.string("data.train_annotations"),
                                                trainImages: r.string("data.train_images"),
                                                valAnnotations: r.string("data.val_annotations"),
                                                valImages: r.string("data.val_images")))
        train = TrainConfig(epochs: r.int("train.epochs"), batchSize: r.int("train.batch_size"),
                            threads: r.int("train.threads"), logEverySteps: r.int("train.log_every_steps"),
                            evalEveryEpochs: r.int("train.eval_every_epochs"))
        optim = OptimConfig(lr: r.float("optim.lr"), momentum: r.float("optim.momentum"),
                            nesterov: r.bool("optim.nesterov"), weightDecay: r.float("optim.weight_decay"),
                            decayBNAndBias: r.bool("optim.decay_bn_and_bias"),
                            gradClipNorm: r.float("optim.grad_clip_norm"))
        schedule = ScheduleConfig(kind: r.choice("schedule.kind"), warmupEpochs: r.float("schedule.warmup_epochs"),
                                  stepEpochs: r.ints("schedule.step_epochs"), stepGamma: r.float("schedule.step_gamma"),
                                  minLRFraction: r.float("schedule.min_lr_fraction"))
        let overrides = r.strings("quant.overrides")
        quant = QuantConfig(enabled: r.bool("quant.enabled"), wBits: r.int("quant.w_bits"), aBits: r.int("quant.a_bits"),
                            kW: r.float("quant.k_w"), kA: r.float("quant.k_a"), rho: r.float("quant.rho"),
                            groups: r.int("quant.groups"), learnK: r.bool("quant.learn_k"),
                            wFullRange: r.bool("quant.w_full_range"), wSTEMask: r.bool("quant.w_ste_mask"),
                            firstLayerBits: r.int("quant.first_layer_bits"), lastLayerBits: r.int("quant.last_layer_bits"),
                            clipWarmupSteps: r.int("quant.clip_warmup_steps"), mode: r.choice("quant.mode"),
                            ptqCalibrationBatches: r.int("quant.ptq_calibration_batches"),
                            psgLambda: r.float("quant.psg_lambda"), overrides: overrides,
                            layerOverrides: overrides.compactMap { LayerBits(parsing: $0) },
                            fp32PhaseEpochs: r.int("quant.fp32_phase_epochs"), qatLR: r.float("quant.qat_lr"))
        checkpoint = CheckpointConfig(everySteps: r.int("checkpoint.every_steps"),
                                      everyEpochs: r.int("checkpoint.every_epochs"), keepLast: r.int("checkpoint.keep_last"),
                                      keepBest: r.bool("checkpoint.keep_best"), zstdLevel: r.int("checkpoint.zstd_level"),
                                      byteShuffle: r.bool("checkpoint.byte_shuffle"),
                                      nonfinite: r.choice("checkpoint.nonfinite"),
                                      onWriteError: r.choice("checkpoint.on_write_error"))
        distributed = DistributedConfig(bucketMB: r.float("distributed.bucket_mb"),
                                        syncStatsEvery: r.int("distributed.sync_stats_every"),
                                        syncBN: r.bool("distributed.sync_bn"),
                                        checksumEvery: r.int("distributed.checksum_every"))
        self.sourcePath = sourcePath
        self.values = values
        self.yaml = yaml
        self.hash = ConfigHash.fnv1a64(yaml)
        read = r.read
    }
}
