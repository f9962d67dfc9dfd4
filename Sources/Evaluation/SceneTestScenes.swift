// The test scenes a scene model is scored on: composed from the Fashion-MNIST
// test split as the trainer composes them, or read from files written by
// `gdqr scenes write` (instances.json, PGM images and masks).

import Foundation
import Datasets

public struct EvaluationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ s: String) { description = s }
}

/// Test scenes: pixels [count][channels][size][size] and class masks
/// [count][size][size], the COCO truth (one image id per scene), where they came from.
/// Composed scenes and scene files are grey; COCO / VOC images keep the run's channels.
public struct SceneTestScenes {
    public let size: Int
    public var channels = 1
    public var pixels: [UInt8] = []
    public var masks: [UInt8]?
    public var truth: CocoInstances
    public let source: String
    public var count: Int { truth.images.count }

    /// The scenes of a composed set (image id = index + 1).
    public init(_ set: SceneSet, source: String) {
        size = set.images.height; pixels = set.images.pixels; masks = set.masks; truth = set.cocoTruth(); self.source = source
    }

    init(size: Int, masks: [UInt8]?, truth: CocoInstances, source: String) {
        self.size = size; self.masks = masks; self.truth = truth; self.source = source
    }

    /// Scenes 0 ..< count of the test split (image id = index + 1, as SceneFiles writes them).
    public static func compose(data: String, settings: SceneSettings, count: Int) throws -> SceneTestScenes {
        var s = settings
        s.testScenes = count
        let composer = try SceneComposer(source: try ImageDataset.fashionMNIST(directory: data, split: .test), split: .test, settings: s)
        return SceneTestScenes(try SceneSet(composer: composer, count: count),
                               source: "\(count) composed test scenes (seed \(s.seed), \(s.size)x\(s.size))")
    }

    /// Scenes written as files (instances.json, PGM images and masks), e.g. by `gdqr scenes write`.
    public static func read(directory: String, limit: Int) throws -> SceneTestScenes {
        var loaded = try SceneFiles.read(directory: directory)
        if limit > 0 { loaded = Array(loaded.prefix(limit)) }
        guard let first = loaded.first else { throw EvaluationError("\(directory): no scenes in instances.json") }
        let size = first.image.width
        var t = SceneTestScenes(size: size, masks: loaded.allSatisfy { $0.mask != nil } ? [] : nil,
                                truth: try CocoInstances.read(path: (directory as NSString).appendingPathComponent("instances.json")),
                                source: "\(loaded.count) scenes from \(directory)")
        t.truth.images = loaded.map(\.image)
        let ids = Set(t.truth.images.map(\.id))
        t.truth.annotations = t.truth.annotations.filter { ids.contains($0.imageId) }
        for l in loaded {
            guard l.image.width == size, l.image.height == size else {
                throw EvaluationError("\(directory): image \(l.image.id) is \(l.image.width)x\(l.image.height), the first \(size)x\(size)")
            }
            t.pixels += l.pixels
            if let m = l.mask { t.masks? += m }
        }
        return t
    }
}

extension SceneTestScenes {
    /// An annotated set (COCO or VOC files) as the network sees it in evaluation:
    /// resized, unflipped pixels in the run's channels (grey or RGB), masks (255 =
    /// ignored) and boxes in the S x S frame.
    public static func render(_ src: AnnotatedSource) throws -> SceneTestScenes {
        let px = src.imageSize * src.imageSize, seg = src.targetBytes > 0, per = src.channels * px
        var pixels = [UInt8](repeating: 0, count: src.count * per)
        var masks = [UInt8](repeating: 0, count: seg ? src.count * px : 0)
        var scratch = ImageFolderSource.Scratch()
        try pixels.withUnsafeMutableBufferPointer { p in
            try masks.withUnsafeMutableBufferPointer { m in
                for i in 0..<src.count {
                    try src.renderBytes(i, epoch: 0, augment: false, scratch: &scratch, pixels: p.baseAddress! + i * per,
                                        mask: seg ? m.baseAddress! + i * px : nil)
                }
            }
        }
        var t = SceneTestScenes(size: src.imageSize, masks: seg ? masks : nil, truth: src.cocoTruth(),
                                source: "\(src.count) images of \(src.index.source)")
        t.channels = src.channels
        t.pixels = pixels
        return t
    }
}
