// Composed scenes written in the layouts outside tools read, so that the COCO and
// VOC readers (AnnotatedIndex) can be checked against the built-in scene path on
// the same pixels:
//
//   COCO:  ROOT/SPLIT/NNNNNN.png and ROOT/annotations/instances_SPLIT.json
//          (as COCO 2017's train2017/ and annotations/instances_train2017.json)
//   VOC:   ROOT/JPEGImages/SPLIT-NNNNNN.png, ROOT/SegmentationClass/SPLIT-NNNNNN.png
//          (8-bit grey index masks: 0 background, 1...10 the Fashion-MNIST classes)
//          and ROOT/ImageSets/Segmentation/SPLIT.txt
//
// Images are PNG (lossless: the readers then see the scene's exact bytes); the
// VOC reader takes JPEGImages/ID.png when there is no ID.jpg. NNNNNN = scene
// index + 1, the image id of the COCO file, listed in scene order.

import Foundation

public enum SceneLayouts {
    public enum Layout: String, CaseIterable, Sendable { case coco, voc }

    static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw DataError(file: path, "cannot create directory: \(error.localizedDescription)")
        }
    }

    static func writeBytes(_ bytes: [UInt8], to path: String) throws {
        do { try Data(bytes).write(to: URL(fileURLWithPath: path)) } catch {
            throw DataError(file: path, "cannot write: \(error.localizedDescription)")
        }
    }

    static func writeText(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw DataError(file: path, "cannot write: \(error.localizedDescription)")
        }
    }

    /// Writes `scenes` (scene indices firstIndex...) as split `split` of a COCO
    /// layout under `root`; returns the instances written.
    @discardableResult
    public static func writeCOCO(_ scenes: [Scene], firstIndex: Int = 0, root: String, split: String) throws -> CocoInstances {
        try makeDirectory(root + "/" + split)
        try makeDirectory(root + "/annotations")
        var coco = CocoInstances(images: [], annotations: [], categories: FashionMNISTClasses.categories)
        for (k, sc) in scenes.enumerated() {
            let id = firstIndex + k + 1, name = String(format: "%06d.png", id)
            try writeBytes(try PNGWriter.encode(sc.image, width: sc.width, height: sc.height, channels: 1),
                           to: root + "/" + split + "/" + name)
            coco.images.append(CocoImage(id: id, fileName: name, width: sc.width, height: sc.height, maskFileName: nil))
            for o in sc.objects { coco.annotations.append(CocoAnnotation(object: o, id: coco.annotations.count + 1, imageId: id)) }
        }
        try writeText(coco.json(), to: root + "/annotations/instances_\(split).json")
        return coco
    }

    /// Writes `scenes` as split `split` of a VOC segmentation layout under `root`;
    /// returns the image ids written.
    @discardableResult
    public static func writeVOC(_ scenes: [Scene], firstIndex: Int = 0, root: String, split: String) throws -> [String] {
        for sub in ["JPEGImages", "SegmentationClass", "ImageSets/Segmentation"] { try makeDirectory(root + "/" + sub) }
        var ids: [String] = []
        for (k, sc) in scenes.enumerated() {
            let id = split + "-" + String(format: "%06d", firstIndex + k + 1)
            try writeBytes(try PNGWriter.encode(sc.image, width: sc.width, height: sc.height, channels: 1),
                           to: root + "/JPEGImages/" + id + ".png")
            try writeBytes(try PNGWriter.encode(sc.mask, width: sc.width, height: sc.height, channels: 1),
                           to: root + "/SegmentationClass/" + id + ".png")
            ids.append(id)
        }
        try writeText(ids.map { $0 + "\n" }.joined(), to: root + "/ImageSets/Segmentation/\(split).txt")
        return ids
    }
}
