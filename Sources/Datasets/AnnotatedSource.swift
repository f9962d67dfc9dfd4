// One sample of an annotated set (COCO boxes or VOC masks) as the scene network
// sees it: decode, convert to the model's channels, resize to image_size x
// image_size, flip horizontally when augmenting, normalise. The S x S frame shows
// a square of the source (`frame`): letterboxed, the side max(W, H) centred on the
// image, so the aspect ratio is kept and the bands outside the image are black (and
// 255, ignored, in the mask); stretched, the whole image with each axis scaled on
// its own. A square image gives the same pixels either way. The mask is resized by
// nearest neighbour (source pixel floor(frame.x + (x + 0.5) * frame.width / S), in
// integers), so it keeps its exact values, 255 included, and is flipped with the image. The boxes and masks go
// through the same transform as the pixels; the flip is a pure function of
// (seed, epoch, global index), so the targets can be recomputed from the index.

import Foundation
import TensorEngine
import Layers

/// A decoded-while-training set the streaming loader can serve: pixels [C, S, S]
/// as floats and, for segmentation, a mask of S x S bytes per sample.
public protocol StreamedSource: AnyObject, Sendable {
    var count: Int { get }
    var channels: Int { get }
    var imageSize: Int { get }
    /// Bytes of target written beside each sample's pixels (a mask), 0 for none.
    var targetBytes: Int { get }
    /// Writes sample `i` into `dst` (and its target into `target`); returns its
    /// label, -1 for a bad file skipped under skip_bad.
    func render(_ i: Int, epoch: Int, augment: Bool, scratch: inout ImageFolderSource.Scratch,
                into dst: UnsafeMutablePointer<Float>, target: UnsafeMutablePointer<UInt8>?) throws -> Int32
}

extension ImageFolderSource: StreamedSource {
    public var channels: Int { settings.channels }
    public var imageSize: Int { settings.imageSize }
    public var targetBytes: Int { 0 }
    public func render(_ i: Int, epoch: Int, augment: Bool, scratch: inout ImageFolderSource.Scratch,
                       into dst: UnsafeMutablePointer<Float>, target: UnsafeMutablePointer<UInt8>?) throws -> Int32 {
        try render(i, epoch: epoch, augment: augment, scratch: &scratch, into: dst)
    }
}

public struct AnnotatedSettings: Sendable {
    public var imageSize: Int
    public var channels: Int
    public var normalization: Normalization
    /// Largest valid mask class (the scene head's num_classes; 0 is the background).
    public var classes: Int
    public var horizontalFlip = false
    public var seed: UInt64 = 0
    /// Bad files become ignored samples (no boxes, mask all 255) and a warning instead of an error.
    public var skipBad = false
    public var maxPixels = ImageDecoder.defaultMaxPixels
    /// Keep the aspect ratio (AnnotatedSource.frame).
    public var letterbox = false

    public init(imageSize: Int, channels: Int, normalization: Normalization, classes: Int) {
        self.imageSize = imageSize; self.channels = channels; self.normalization = normalization; self.classes = classes
    }
}

/// Renders samples of one annotated split; thread-safe (mutable state is in the scratch).
public final class AnnotatedSource: StreamedSource, @unchecked Sendable {
    public let index: AnnotatedIndex
    public let settings: AnnotatedSettings
    public let badFiles: BadFileLog?
    let luts: [Float]
    /// The mask value of pixels that count in neither the loss nor the metrics.
    public static let ignore: UInt8 = 255

    public init(index: AnnotatedIndex, settings: AnnotatedSettings, badFiles: BadFileLog? = nil) throws {
        guard settings.channels == 1 || settings.channels == 3 else {
            throw DataError(message: "annotated images give 1 (grey) or 3 (RGB) channels, not \(settings.channels) (model.in_channels)")
        }
        guard settings.imageSize > 0 else { throw DataError(message: "image size \(settings.imageSize), expected > 0") }
        guard settings.classes >= 1, settings.classes < Int(Self.ignore) else {
            throw DataError(message: "\(settings.classes) classes, expected 1...254 (mask bytes; 255 is ignored)")
        }
        try settings.normalization.validate(channels: settings.channels)
        self.index = index
        self.settings = settings
        self.badFiles = badFiles
        luts = settings.normalization.lookupTables(channels: settings.channels).flatMap { $0 }
    }

    public var count: Int { index.count }
    public var channels: Int { settings.channels }
    public var imageSize: Int { settings.imageSize }
    public var targetBytes: Int { index.task == .segmentation ? settings.imageSize * settings.imageSize : 0 }

    /// Whether sample `i` is flipped in `epoch`: the image-folder and IDX paths' draw.
    public func flipped(_ i: Int, epoch: Int, augment: Bool) -> Bool {
        guard augment && settings.horizontalFlip else { return false }
        return Augmentation(cropPadding: 0, horizontalFlip: true).choice(seed: settings.seed, epoch: epoch, index: i).flip
    }

    /// The square of a width x height image that the S x S input shows, in integer
    /// pixels: its side along x and y (max(W, H) for both when letterboxed, else W and
    /// H) and where it starts, (W - side) / 2 (a half pixel when the difference is odd).
    public func frame(width: Int, height: Int) -> (width: Int, height: Int, box: SourceBox) {
        let fw = settings.letterbox ? max(width, height) : width, fh = settings.letterbox ? max(width, height) : height
        return (fw, fh, SourceBox(x: Double(width - fw) / 2, y: Double(height - fh) / 2, width: Double(fw), height: Double(fh)))
    }

    /// The boxes of sample `i` in the network's S x S frame: moved to the frame's
    /// origin, scaled by S / its side, mirrored (x -> S - x - w) when the sample is flipped.
    public func boxes(_ i: Int, epoch: Int, augment: Bool) -> [LabeledBox] {
        let im = index.images[i], s = Double(settings.imageSize)
        guard im.width > 0, im.height > 0 else { return [] }
        let f = frame(width: im.width, height: im.height).box
        let fx = s / f.width, fy = s / f.height, flip = flipped(i, epoch: epoch, augment: augment)
        return im.boxes.map { b in
            let w = b.w * fx, x = (b.x - f.x) * fx
            return LabeledBox(classId: b.classId, x: flip ? s - x - w : x, y: (b.y - f.y) * fy, w: w, h: b.h * fy)
        }
    }

    /// Sample `i` as bytes: `pixels` [C, S, S] resized and flipped, and its mask into
    /// `mask` (segmentation). Throws a DataError naming the bad file.
    public func renderBytes(_ i: Int, epoch: Int, augment: Bool, scratch: inout ImageFolderSource.Scratch,
                            pixels: UnsafeMutablePointer<UInt8>, mask: UnsafeMutablePointer<UInt8>?) throws {
        let s = settings, n = s.imageSize, im = index.images[i]
        let img = try ImageDecoder.decode(file: im.path, buffer: &scratch.file, maxPixels: s.maxPixels)
        if im.width > 0 && (img.width != im.width || img.height != im.height) {
            throw DataError(file: im.path, "image is \(img.width)x\(img.height), \(index.source) says \(im.width)x\(im.height)")
        }
        let planes = planarPixels(img, channels: s.channels, into: &scratch.planar)
        scratch.planar.withUnsafeBufferPointer { src in
            scratch.resampler.resample(src.baseAddress!, planes: planes, width: img.width, height: img.height,
                                       box: frame(width: img.width, height: img.height).box,
                                       outSize: n, outChannels: s.channels, into: pixels)
        }
        let flip = flipped(i, epoch: epoch, augment: augment)
        if flip {
            for row in 0..<(s.channels * n) { mirror(pixels + row * n, n) }
        }
        guard let mask, let maskPath = im.maskPath else { return }
        let m = try ImageDecoder.decode(file: maskPath, buffer: &scratch.maskFile, maxPixels: s.maxPixels, paletteIndices: true)
        guard m.channels == 1 else {
            throw DataError(file: maskPath, "mask has \(m.channels) channels, expected a single-channel index PNG (grey or palette: class ids, 255 = ignore)")
        }
        guard m.width == img.width, m.height == img.height else {
            throw DataError(file: maskPath, "mask is \(m.width)x\(m.height), its image \(im.path) is \(img.width)x\(img.height)")
        }
        let f = frame(width: m.width, height: m.height)
        try nearestMask(m.pixels, width: m.width, height: m.height, frameWidth: f.width, frameHeight: f.height, size: n,
                        classes: s.classes, into: mask, name: maskPath)
        if flip {
            for row in 0..<n { mirror(mask + row * n, n) }
        }
    }

    public func render(_ i: Int, epoch: Int, augment: Bool, scratch: inout ImageFolderSource.Scratch,
                       into dst: UnsafeMutablePointer<Float>, target: UnsafeMutablePointer<UInt8>?) throws -> Int32 {
        let s = settings, n = s.imageSize
        // The square buffer leaves the scratch while renderBytes uses the rest of it.
        var square: [UInt8] = []
        swap(&square, &scratch.square)
        defer { swap(&square, &scratch.square) }
        if square.count < s.channels * n * n { square = [UInt8](repeating: 0, count: s.channels * n * n) }
        do {
            try square.withUnsafeMutableBufferPointer { sq in
                try renderBytes(i, epoch: epoch, augment: augment, scratch: &scratch, pixels: sq.baseAddress!,
                                mask: targetBytes > 0 ? target : nil)
            }
        } catch let e as DataError where s.skipBad {
            badFiles?.record(e)
            for c in 0..<s.channels { (dst + c * n * n).update(repeating: luts[c * 256], count: n * n) }
            if targetBytes > 0, let target { target.update(repeating: Self.ignore, count: n * n) }
            return -1
        }
        square.withUnsafeBufferPointer { sq in
            luts.withUnsafeBufferPointer { lut in
                renderSample(sq.baseAddress!, channels: s.channels, height: n, width: n, luts: lut.baseAddress!,
                             padding: 0, choice: nil, into: dst)
            }
        }
        return 0
    }
}

@inline(__always)
private func mirror(_ row: UnsafeMutablePointer<UInt8>, _ n: Int) {
    var a = 0, b = n - 1
    while a < b { (row[a], row[b]) = (row[b], row[a]); a += 1; b -= 1 }
}

/// Nearest-neighbour resize of a class mask to size x size: output pixel (x, y)
/// takes source pixel (floor((x + 0.5) W / S), floor((y + 0.5) H / S)). Values
/// above `classes` other than 255 are an error naming the file and the pixel.
func nearestMask(_ src: UnsafePointer<UInt8>, width: Int, height: Int, frameWidth fw: Int, frameHeight fh: Int,
                 size: Int, classes: Int, into dst: UnsafeMutablePointer<UInt8>, name: String) throws {
    for y in 0..<height {
        for x in 0..<width {
            let v = src[y * width + x]
            if Int(v) > classes && v != AnnotatedSource.ignore {
                throw DataError(file: name, "mask value \(v) at (\(x), \(y)) is not a class (0...\(classes)) or 255 (ignored)")
            }
        }
    }
    // Source coordinate of output pixel x: (W - fw) / 2 + (x + 0.5) * fw / S, times 2S
    // to stay in integers; floored (a negative numerator is outside: ignored).
    @inline(__always) func source(_ o: Int, _ inSize: Int, _ f: Int) -> Int? {
        let num = (2 * o + 1) * f + (inSize - f) * size
        guard num >= 0 else { return nil }
        let v = num / (2 * size)
        return v < inSize ? v : nil
    }
    for y in 0..<size {
        let sy = source(y, height, fh)
        for x in 0..<size {
            if let sy, let sx = source(x, width, fw) {
                dst[y * size + x] = src[sy * width + sx]
            } else {
                dst[y * size + x] = AnnotatedSource.ignore
            }
        }
    }
}

extension AnnotatedSource {
    /// The split's boxes, unflipped, in the network's S x S frame as COCO truth:
    /// image id = sample index + 1, categories 1...K with the set's class names.
    public func cocoTruth() -> CocoInstances {
        var coco = CocoInstances(images: [], annotations: [], categories: index.classes.enumerated().map {
            CocoCategory(id: $0.offset + 1, name: $0.element)
        })
        let s = settings.imageSize
        for i in 0..<count {
            coco.images.append(CocoImage(id: i + 1, fileName: index.images[i].path, width: s, height: s, maskFileName: nil))
            for b in boxes(i, epoch: 0, augment: false) {
                coco.annotations.append(CocoAnnotation(id: coco.annotations.count + 1, imageId: i + 1, categoryId: b.classId,
                                                       bbox: [b.x, b.y, b.w, b.h], area: b.w * b.h, iscrowd: false))
            }
        }
        return coco
    }
}
