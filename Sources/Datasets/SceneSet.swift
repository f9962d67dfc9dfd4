import Foundation

// The scenes of one split, rendered once into memory for training: the grey
// images as an ImageDataset (so the sharded sampler, the prefetching loader and
// the evaluation batches serve them like any images, by global scene index),
// beside each scene's class mask and visible objects. Every rank renders the
// same scenes (the composer is a pure function of seed, split and index) and
// reads the targets of the indices its batches carry.

public final class SceneSet {
    public let split: ImageDataset.Split
    /// Canvas width and height.
    public let size: Int
    /// The scene images [count, 1, size, size]; the label is the number of visible objects (capped at 255).
    public let images: ImageDataset
    /// Class masks [count, size, size], 0 = background.
    public let masks: [UInt8]
    /// Visible objects of each scene, in painting order.
    public let objects: [[SceneObject]]

    public var count: Int { images.count }

    /// Renders scenes 0..<count of the composer's split (count <= its scene count).
    public init(composer: SceneComposer, count: Int) throws {
        guard count >= 1, count <= composer.count else {
            throw DataError(message: "scenes: \(count) \(composer.split.rawValue) scenes requested, the composer has \(composer.count)")
        }
        let size = composer.settings.size, px = size * size
        var pixels = [UInt8](repeating: 0, count: count * px), masks = pixels
        var objects: [[SceneObject]] = []
        var labels: [Int32] = []
        objects.reserveCapacity(count)
        for i in 0..<count {
            let s = composer.scene(i)
            pixels.replaceSubrange(i * px..<(i + 1) * px, with: s.image)
            masks.replaceSubrange(i * px..<(i + 1) * px, with: s.mask)
            objects.append(s.objects)
            labels.append(Int32(min(s.objects.count, 255)))
        }
        self.split = composer.split
        self.size = size
        self.masks = masks
        self.objects = objects
        images = try ImageDataset(pixels: pixels, labels: labels, channels: 1, height: size, width: size, classes: 256,
                                  source: "fashion-scenes \(composer.split.rawValue) (seed \(composer.settings.seed), from \(composer.source.source))")
    }

    /// The class mask of scene `index`.
    public func mask(_ index: Int) -> ArraySlice<UInt8> { masks[index * size * size..<(index + 1) * size * size] }

    /// COCO-style ground truth of scenes `range` (image id = scene index + 1, as
    /// SceneFiles writes them), for DetectionMetrics.
    public func cocoTruth(_ range: Range<Int>? = nil) -> CocoInstances {
        let r = range ?? 0..<count
        var coco = CocoInstances(images: [], annotations: [], categories: FashionMNISTClasses.categories)
        for i in r {
            coco.images.append(CocoImage(id: i + 1, fileName: String(format: "images/%06d.pgm", i + 1), width: size,
                                         height: size, maskFileName: nil))
            for o in objects[i] { coco.annotations.append(CocoAnnotation(object: o, id: coco.annotations.count + 1, imageId: i + 1)) }
        }
        return coco
    }
}
