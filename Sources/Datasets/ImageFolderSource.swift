// One sample of an image folder as the network sees it: decode, convert to the
// model's channels, resample a box to image_size x image_size, augment, normalise.
// Every step is a pure function of (seed, epoch, global sample index), so a sample's
// floats do not depend on the rank, worker thread or timing that produced it.
//
// Evaluation and the pad-crop training mode take the centred square of the image
// (resize the shorter side to image_size, crop the centre); pad-crop then applies
// the IDX path's Augmentation (zero-padded random crop, flip) with the same random
// choices, so an image folder holding the IDX images trains on the same floats.
// random-resized-crop takes torchvision's RandomResizedCrop box and the same flip.

import Foundation
import TensorEngine

public struct ImageFolderSettings: Sendable {
    public enum Crop: String, Sendable, CaseIterable {
        case padCrop = "pad-crop"
        case randomResizedCrop = "random-resized-crop"
    }
    public var imageSize: Int
    public var channels: Int
    public var normalization: Normalization
    public var crop: Crop = .padCrop
    /// Padding of the pad-crop mode (Augmentation.cropPadding).
    public var cropPadding: Int = 0
    /// Smallest area fraction of random-resized-crop.
    public var minScale: Double = 0.08
    public var horizontalFlip: Bool = false
    public var seed: UInt64 = 0
    /// Bad files become ignored samples (label -1, zero pixels) and a warning instead of an error.
    public var skipBad: Bool = false
    public var maxPixels: Int = ImageDecoder.defaultMaxPixels

    public init(imageSize: Int, channels: Int, normalization: Normalization) {
        self.imageSize = imageSize
        self.channels = channels
        self.normalization = normalization
    }

    var augmentation: Augmentation {
        Augmentation(cropPadding: crop == .padCrop ? cropPadding : 0, horizontalFlip: horizontalFlip)
    }

    static let cropStream: UInt64 = 0x5252_4352_4F50_2121 // "RRCROP!!"
}

/// The files that failed to decode under `skip_bad`: each warned about once, counted once.
public final class BadFileLog: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<String> = []
    private let warn: @Sendable (String) -> Void

    public init(warn: @escaping @Sendable (String) -> Void) { self.warn = warn }

    /// Distinct bad files met so far.
    public var count: Int { lock.lock(); defer { lock.unlock() }; return seen.count }

    func record(_ error: DataError) {
        let key = error.file ?? error.message
        lock.lock()
        let fresh = seen.insert(key).inserted
        lock.unlock()
        if fresh { warn("skipping bad image (data.skip_bad): \(error.message)") }
    }
}

/// Renders samples of one split; thread-safe (all mutable state is in `Scratch`).
public final class ImageFolderSource: @unchecked Sendable {
    public let index: ImageFolderIndex
    public let settings: ImageFolderSettings
    public let badFiles: BadFileLog?
    let luts: [Float]

    /// Per-thread buffers, reused from sample to sample.
    public struct Scratch {
        var file: [UInt8] = []
        var planar: [UInt8] = []
        var square: [UInt8] = []
        var resampler = ImageResampler()
        /// Mask file bytes and the mask resized to the output (AnnotatedSource).
        var maskFile: [UInt8] = []
        public init() {}
    }

    public init(index: ImageFolderIndex, settings: ImageFolderSettings, badFiles: BadFileLog? = nil) throws {
        guard settings.channels == 1 || settings.channels == 3 else {
            throw DataError(message: "image folders give 1 (grey) or 3 (RGB) channels, not \(settings.channels) (model.in_channels)")
        }
        guard settings.imageSize > 0 else { throw DataError(message: "image size \(settings.imageSize), expected > 0") }
        guard settings.cropPadding >= 0, settings.minScale > 0, settings.minScale <= 1 else {
            throw DataError(message: "crop padding \(settings.cropPadding) (expected >= 0) or random-resized-crop minimum scale \(settings.minScale) (expected in (0, 1])")
        }
        try settings.normalization.validate(channels: settings.channels)
        self.index = index
        self.settings = settings
        self.badFiles = badFiles
        self.luts = settings.normalization.lookupTables(channels: settings.channels).flatMap { $0 }
    }

    public var count: Int { index.count }
    public var sampleFloats: Int { settings.channels * settings.imageSize * settings.imageSize }

    /// The label of sample `i` (before any skip).
    public func label(_ i: Int) -> Int32 { index.labels[i] }

    /// Writes sample `i` as normalised floats [C, S, S] into `dst` and returns its label;
    /// -1 (ignored by the loss and the evaluation) for a bad file under skip_bad.
    /// Throws a DataError naming the file otherwise.
    public func render(_ i: Int, epoch: Int, augment: Bool, scratch: inout Scratch,
                       into dst: UnsafeMutablePointer<Float>) throws -> Int32 {
        let s = settings, n = s.imageSize
        let img: DecodedImage
        do {
            img = try ImageDecoder.decode(file: index.path(i), buffer: &scratch.file, maxPixels: s.maxPixels)
        } catch let e as DataError where s.skipBad {
            badFiles?.record(e)
            let zero = luts.withUnsafeBufferPointer { l in (0..<s.channels).map { l[$0 * 256] } }
            for c in 0..<s.channels { (dst + c * n * n).update(repeating: zero[c], count: n * n) }
            return -1
        }
        let planes = planarPixels(img, channels: s.channels, into: &scratch.planar)
        let useAug = augment && (s.horizontalFlip || s.crop == .randomResizedCrop || s.cropPadding > 0)
        let aug = s.augmentation
        var choice = useAug ? aug.choice(seed: s.seed, epoch: epoch, index: i) : nil
        var box = SourceBox.centreSquare(width: img.width, height: img.height)
        if useAug && s.crop == .randomResizedCrop {
            var rng = CounterRNG(seed: s.seed, stream: CounterRNG.mix(ImageFolderSettings.cropStream ^ UInt64(truncatingIfNeeded: epoch))
                                 ^ UInt64(truncatingIfNeeded: i))
            box = randomResizedCropBox(width: img.width, height: img.height, minScale: s.minScale, rng: &rng)
            choice = choice.map { Augmentation.Choice(top: 0, left: 0, flip: $0.flip) }
        }
        if scratch.square.count < s.channels * n * n { scratch.square = [UInt8](repeating: 0, count: s.channels * n * n) }
        scratch.planar.withUnsafeBufferPointer { src in
            scratch.square.withUnsafeMutableBufferPointer { sq in
                scratch.resampler.resample(src.baseAddress!, planes: planes, width: img.width, height: img.height,
                                           box: box, outSize: n, outChannels: s.channels, into: sq.baseAddress!)
            }
        }
        scratch.square.withUnsafeBufferPointer { sq in
            luts.withUnsafeBufferPointer { lut in
                renderSample(sq.baseAddress!, channels: s.channels, height: n, width: n, luts: lut.baseAddress!,
                             padding: aug.cropPadding, choice: choice, into: dst)
            }
        }
        return index.labels[i]
    }
}
