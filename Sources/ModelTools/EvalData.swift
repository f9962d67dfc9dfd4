// Which data `gdqr eval` scores a classifier on: the data the model was trained on.
// In order: --data (an MNIST-layout folder), the run of --compare (its config.yaml),
// the data recorded in the model file (data.dataset, data.root, data.classes and
// data.resize: written by the trainer and gdqr export), the config.yaml beside the
// model file, and only then the Fashion-MNIST default. Every report says which it
// was. With data.resize (Fashion-MNIST at 32x32 for the zoo networks) the IDX
// images are resampled to the model's input size, as the trainer did.

import Foundation
import Datasets
import IntegerInference
import Trainer

public struct EvalData {
    public var dataset: DataConfig.Dataset
    public var root: String
    /// data.classes: the labels the model was trained on (empty = all).
    public var kept: [Int]
    /// Where these settings came from, for the report.
    public var origin: String
    /// data.resize: IDX images resampled to the model's input size.
    public var resize = false

    public init(dataset: DataConfig.Dataset, root: String, kept: [Int], origin: String, resize: Bool = false) {
        self.dataset = dataset; self.root = root; self.kept = kept; self.origin = origin; self.resize = resize
    }

    public init(_ c: RunConfig, origin: String) {
        self.init(dataset: c.data.dataset, root: c.data.root, kept: c.data.classes, origin: origin, resize: c.data.resize)
    }

    public static func resolve(data: String?, compare: String?, model: IntegerModel?, modelPath: String) throws -> EvalData {
        if let data {
            return EvalData(dataset: .idx, root: data, kept: [], origin: "--data")
        }
        if let compare {
            let path = (compare as NSString).appendingPathComponent("config.yaml")
            return EvalData(try ConfigLoader.load(path: path), origin: path)
        }
        if let info = model?.info, let root = info["data.root"], let name = info["data.dataset"],
           let dataset = DataConfig.Dataset(rawValue: name) {
            let kept = (info["data.classes"] ?? "").split(separator: ",").compactMap { Int($0) }
            return EvalData(dataset: dataset, root: root, kept: kept, origin: "the model file (\(modelPath))",
                            resize: info["data.resize"] == "true")
        }
        let beside = ((modelPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("config.yaml")
        if FileManager.default.fileExists(atPath: beside) {
            return EvalData(try ConfigLoader.load(path: beside), origin: beside)
        }
        return EvalData(dataset: .fashionMNIST, root: ImageDataset.defaultFashionMNISTDirectory, kept: [],
                        origin: "the default (the model file names no data and has no config.yaml beside it)")
    }

    /// A split as the model sees it: the kept classes renumbered, and apart the images of
    /// the held-out classes (data.classes only). `classes`: the model's outputs.
    public func split(_ split: ImageDataset.Split, limit: Int, classes: Int, channels: Int,
               size: Int) throws -> (images: ImageDataset, heldOut: ImageDataset?) {
        switch dataset {
        case .fashionMNIST, .idx:
            let s = try ImageDataset.mnistLayout(directory: root, split: split, limit: limit, classes: classes,
                                                 keeping: kept)
            guard resize else { return (s.kept, s.heldOut) }
            return (try s.kept.resized(to: size), try s.heldOut?.resized(to: size))
        case .imageFolder:
            let names = try ImageFolderIndex.classNames(trainDirectory: root + "/train")
            var index = try ImageFolderIndex(directory: root + (split == .train ? "/train" : "/val"), classes: names)
            if limit > 0 { index = index.prefix(limit) }
            return (try ImageDataset.decoded(index, size: size, channels: channels), nil)
        case .fashionScenes, .coco, .voc:
            throw ToolError("\(origin): data.dataset \(dataset.rawValue) holds scenes, not classifier images")
        }
    }
}
