// `gdqr data stats CONFIG-or-ROOT`: the training set's per-channel mean and
// standard deviation (ImageStatistics: every pixel of every training image at its
// own size, in the model's channels), image count, size range and classes, printed
// as the data-section YAML lines to paste into a config, or as JSON.

import ArgumentParser
import Foundation
import Datasets
import Trainer

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Inspect a data set.", subcommands: [DataStats.self])
}

struct DataStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Per-channel mean and std of a training set (the config's data.channel_mean / channel_std), image count, sizes, classes.")

    @Argument(help: "A config (its data section names the set) or a data root: image-folder (ROOT/train/CLASS/...), VOC (ROOT/ImageSets/Segmentation/train.txt) or COCO as gdqr scenes write lays it out (ROOT/annotations/instances_train.json, ROOT/train/).")
    var source: String

    @Option(help: "Channels to count: 1 (grey) or 3 (RGB); 0 = the config's model.in_channels, or for a root the first image's.")
    var channels: Int = 0

    @Option(name: .customLong("set"), help: "Override a config key: section.key=value (repeatable).")
    var overrides: [String] = []

    @Flag(help: "Print JSON instead of YAML lines.")
    var json = false

    /// The training set's files (or in-memory images), its description and class names.
    struct TrainingSet {
        var files: [String] = []
        var memory: ImageDataset?
        var what: String
        var classes: [String]
        var channels: Int?
    }

    func trainingSet() throws -> TrainingSet {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else {
            throw ValidationError("\(source): no such config file or data folder")
        }
        if !isDir.boolValue { return try fromConfig(try ConfigLoader.load(path: source, overrides: overrides)) }
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

    func fromConfig(_ c: RunConfig) throws -> TrainingSet {
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
            throw ValidationError("\(source): data.dataset fashion-scenes is composed, not read from files; "
                + "its pixels are Fashion-MNIST's (data.normalize_mean / normalize_std)")
        }
    }

    func run() throws {
        let set = try trainingSet()
        var n = channels > 0 ? channels : set.channels ?? 0
        if n == 0 {
            guard let first = set.files.first else { throw ValidationError("\(source): no training images") }
            var buffer: [UInt8] = []
            n = try ImageDecoder.decode(file: first, buffer: &buffer).channels
        }
        var stats = try ImageStatistics(channels: n)
        if let m = set.memory { try stats.add(m) } else { try stats.add(files: set.files) }
        guard stats.images > 0 else { throw ValidationError("\(source): no training images") }
        let mean = stats.mean, std = stats.std
        if json {
            let report: [String: Any] = [
                "source": source, "set": set.what, "images": stats.images, "pixels": stats.pixels, "channels": n,
                "channel_mean": mean, "channel_std": std, "width": [stats.minWidth, stats.maxWidth],
                "height": [stats.minHeight, stats.maxHeight], "classes": set.classes,
            ]
            let d = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            print(String(decoding: d, as: UTF8.self))
            return
        }
        func list(_ xs: [Double]) -> String { "[" + xs.map { String(format: "%.8f", $0) }.joined(separator: ", ") + "]" }
        print("# \(stats.images) training images (\(set.what)), \(n == 1 ? "grey" : "RGB"), "
            + "\(stats.minWidth)x\(stats.minHeight) to \(stats.maxWidth)x\(stats.maxHeight) pixels (smallest, largest width x height)")
        if !set.classes.isEmpty { print("# \(set.classes.count) classes: \(set.classes.joined(separator: ", "))") }
        print("data:")
        print("  channel_mean: \(list(mean))")
        print("  channel_std: \(list(std))")
        if n == 1 {
            print(String(format: "  normalize_mean: %.8f", mean[0]))
            print(String(format: "  normalize_std: %.8f", std[0]))
        }
    }
}
