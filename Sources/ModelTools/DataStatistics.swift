// `gdqr data stats`'s work: the training set a config or a data root names (an
// image folder, the VOC layout, COCO as `gdqr scenes write` lays it out, or IDX files
// in memory) and its statistics (ImageStatistics: every pixel of every training image
// at its own size, in the model's channels).

import Foundation
import Datasets
import Trainer

public struct DataStatistics {
    /// What was counted: "image-folder ROOT/train", "voc ...", "coco ...", "idx ...".
    public let set: String
    public let classes: [String]
    public let channels: Int
    public let stats: ImageStatistics

    /// `source`: a config file (with `overrides`) or a data root; `channels` 1 or 3, or 0
    /// for the config's model.in_channels (a root: its first image's channels).
    public init(source: String, channels: Int, overrides: [String]) throws {
        let t = try Self.trainingSet(source, overrides: overrides)
        var n = channels > 0 ? channels : t.channels ?? 0
        if n == 0 {
            guard let first = t.files.first else { throw ToolError(usage: "\(source): no training images") }
            var buffer: [UInt8] = []
            n = try ImageDecoder.decode(file: first, buffer: &buffer).channels
        }
        var stats = try ImageStatistics(channels: n)
        if let m = t.memory { try stats.add(m) } else { try stats.add(files: t.files) }
        guard stats.images > 0 else { throw ToolError(usage: "\(source): no training images") }
        set = t.what; classes = t.classes; self.channels = n; self.stats = stats
    }

    /// The training set's files (or in-memory images), its description and class names.
    struct TrainingSet {
        var files: [String] = []
        var memory: ImageDataset?
        var what: String
        var classes: [String]
        var channels: Int?
    }

    static func trainingSet(_ source: String, overrides: [String]) throws -> TrainingSet {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else {
            throw ToolError(usage: "\(source): no such config file or data folder")
        }
        if !isDir.boolValue { return try fromConfig(try ConfigLoader.load(path: source, overrides: overrides), source: source) }
        let fm = FileManager.default
        if fm.fileExists(atPath: source + "/ImageSets/Segmentation/train.txt") {
            let index = try AnnotatedIndex.voc(root: source, split: "train", classes: 254)
            return TrainingSet(files: index.images.map(\.path), what: "voc \(index.source)", classes: [])
        }
        if fm.fileExists(atPath: source + "/annotations/instances_train.json") {
            let index = try AnnotatedIndex.coco(annotations: source + "/annotations/instances_train.json", imageRoot: source + "/train")
            return TrainingSet(files: index.images.map(\.path), what: "coco \(index.source)", classes: index.classes)
        }
        let (train, _) = try ImageFolderIndex.load(root: source)
        return TrainingSet(files: (0..<train.count).map(train.path), what: "image-folder \(train.directory)", classes: train.classes)
    }

    static func fromConfig(_ c: RunConfig, source: String) throws -> TrainingSet {
        let d = c.data, limit = d.trainLimit
        func limited(_ files: [String]) -> [String] { limit > 0 ? Array(files.prefix(limit)) : files }
        switch d.dataset {
        case .imageFolder:
            let (train, _) = try ImageFolderIndex.load(root: d.root)
            return TrainingSet(files: limited((0..<train.count).map(train.path)), what: "image-folder \(train.directory)",
                               classes: train.classes, channels: c.model.inChannels)
        case .coco:
            let index = try AnnotatedIndex.coco(annotations: d.coco.trainAnnotations, imageRoot: d.coco.trainImages)
            return TrainingSet(files: limited(index.images.map(\.path)), what: "coco \(index.source)", classes: index.classes,
                               channels: c.model.inChannels)
        case .voc:
            let index = try AnnotatedIndex.voc(root: d.root, split: "train", classes: c.model.numClasses)
            return TrainingSet(files: limited(index.images.map(\.path)), what: "voc \(index.source)", classes: [],
                               channels: c.model.inChannels)
        case .fashionMNIST, .idx:
            let set = try ImageDataset.mnistLayout(directory: d.root, split: .train, limit: limit,
                                                   classes: c.model.numClasses, keeping: d.classes).kept
            return TrainingSet(memory: set, what: "\(d.dataset.rawValue) \(set.source)",
                               classes: (0..<c.model.numClasses).map(String.init), channels: set.channels)
        case .fashionScenes:
            throw ToolError(usage: "\(source): data.dataset fashion-scenes is composed, not read from files; "
                + "its pixels are Fashion-MNIST's (data.normalize_mean / normalize_std)")
        }
    }
}
