// The file lists of annotated image sets for the scene heads: a COCO instances
// JSON with its image folder (detection boxes) and the Pascal VOC segmentation
// layout (JPEGImages/, SegmentationClass/ index masks, ImageSets/Segmentation/
// SPLIT.txt). Only names, sizes and boxes are kept in memory, never pixels: the
// streaming loader decodes the images (and masks) while training.
//
// Classes: COCO category ids are renumbered 1...K in increasing id order (0 is
// the background, as the scene heads count classes); the validation file must use
// the training file's categories. VOC masks hold 0 (background), 1...K, and 255
// (ignored); any other value is an error naming the mask file.

import Foundation
import Layers

/// One image of a set: its file, its mask file (segmentation), the size the
/// annotations declare (0 when they declare none, as VOC), its boxes (detection).
public struct AnnotatedImage: Equatable, Sendable {
    public var path: String
    public var maskPath: String?
    public var width: Int
    public var height: Int
    public var boxes: [LabeledBox]   // in pixels of the image, class 1...K
}

public struct AnnotatedIndex: Sendable {
    public enum Task: String, Sendable { case detection, segmentation }
    public let task: Task
    /// Class names in class order (class k + 1 is names[k]).
    public let classes: [String]
    public private(set) var images: [AnnotatedImage]
    /// Where the list came from, for messages and the run's banner.
    public let source: String
    /// Crowd boxes left out (CenterNet has no crowd regions).
    public let crowdSkipped: Int

    public var count: Int { images.count }

    /// The first `n` images (data.train_limit / test_limit).
    public func prefix(_ n: Int) -> AnnotatedIndex {
        var copy = self
        copy.images = Array(images.prefix(n))
        return copy
    }

    /// A COCO instances JSON whose `file_name`s are relative to `imageRoot`.
    /// `categories`: the training file's, to check a validation file against
    /// (nil = this file's own, sorted by id).
    public static func coco(annotations: String, imageRoot: String,
                            categories: [CocoCategory]? = nil) throws -> AnnotatedIndex {
        let coco = try CocoInstances.read(path: annotations)
        let cats = categories ?? coco.categories.sorted { $0.id < $1.id }
        guard !cats.isEmpty else { throw DataError(file: annotations, "no categories") }
        var classOf: [Int: Int] = [:]
        for (k, c) in cats.enumerated() { classOf[c.id] = k + 1 }
        if categories != nil, let stray = coco.categories.first(where: { classOf[$0.id] == nil }) {
            throw DataError(file: annotations, "category id \(stray.id) (\(stray.name)) is not among the training file's categories")
        }
        var boxes: [Int: [LabeledBox]] = [:]
        var crowd = 0
        for a in coco.annotations {
            if a.iscrowd { crowd += 1; continue }
            boxes[a.imageId, default: []].append(LabeledBox(classId: classOf[a.categoryId]!, x: a.bbox[0], y: a.bbox[1],
                                                              w: a.bbox[2], h: a.bbox[3]))
        }
        // Sample order: image id (the file's order may differ between writers).
        let images = coco.images.sorted { $0.id < $1.id }.map { im in
            AnnotatedImage(path: imageRoot + "/" + im.fileName, maskPath: nil, width: im.width, height: im.height,
                           boxes: boxes[im.id] ?? [])
        }
        guard !images.isEmpty else { throw DataError(file: annotations, "no images") }
        return AnnotatedIndex(task: .detection, classes: cats.map(\.name), images: images,
                              source: annotations, crowdSkipped: crowd)
    }

    /// ROOT/ImageSets/Segmentation/SPLIT.txt: one image id a line; the image is
    /// ROOT/JPEGImages/ID.jpg (or ID.png), its mask ROOT/SegmentationClass/ID.png.
    public static func voc(root: String, split: String, classes: Int) throws -> AnnotatedIndex {
        let list = root + "/ImageSets/Segmentation/" + split + ".txt"
        guard let data = FileManager.default.contents(atPath: list) else {
            throw DataError(file: list, "cannot read the image list (expected the VOC layout ROOT/ImageSets/Segmentation/{train,val}.txt)")
        }
        var images: [AnnotatedImage] = []
        for (n, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let id = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if id.isEmpty { continue }
            if id.contains("/") || id.contains(" ") {
                throw DataError(file: list, "line \(n + 1): \"\(id)\" is not an image id (a file name without folder or extension)")
            }
            let jpg = root + "/JPEGImages/" + id + ".jpg", png = root + "/JPEGImages/" + id + ".png"
            let image = FileManager.default.fileExists(atPath: jpg) || !FileManager.default.fileExists(atPath: png) ? jpg : png
            images.append(AnnotatedImage(path: image, maskPath: root + "/SegmentationClass/" + id + ".png",
                                         width: 0, height: 0, boxes: []))
        }
        guard !images.isEmpty else { throw DataError(file: list, "no image ids") }
        return AnnotatedIndex(task: .segmentation, classes: (1...max(classes, 1)).map { "class \($0)" }, images: images,
                              source: list, crowdSkipped: 0)
    }

    /// The training and validation sets of a COCO pair (validation checked against training's categories).
    public static func cocoPair(trainAnnotations: String, trainImages: String, valAnnotations: String,
                                valImages: String) throws -> (train: AnnotatedIndex, val: AnnotatedIndex) {
        let train = try coco(annotations: trainAnnotations, imageRoot: trainImages)
        let cats = try CocoInstances.read(path: trainAnnotations).categories.sorted { $0.id < $1.id }
        return (train, try coco(annotations: valAnnotations, imageRoot: valImages, categories: cats))
    }
}
