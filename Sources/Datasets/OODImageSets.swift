// Out-of-distribution image sets for `gdqr eval --ood`: transforms of an
// in-distribution test set (noise with its pixel statistics, uniform noise, the
// negative, a Gaussian blur), and a folder of PNG/JPEG images resized as the
// image-folder evaluation does (shorter side, centre crop). All as uint8 pixels,
// the integer engine's input; labels are kept (the transforms) or 0 (a folder).

import Foundation
import TensorEngine

public enum OODTransform: String, CaseIterable, Sendable {
    /// Independent per-pixel normal noise with the test set's pixel mean and standard deviation.
    case gaussianNoise = "gaussian-noise"
    /// Independent per-pixel uniform noise over 0...255.
    case uniformNoise = "uniform-noise"
    /// 255 - p: a negative image.
    case inverted
    /// A Gaussian blur of standard deviation `blurSigma` pixels (clamped edges).
    case blurred

    public static let blurSigma = 2.0
    /// The random stream of the noise sets (a fixed seed: every model sees the same noise).
    static let seed: UInt64 = 0x00D0_0D5E
}

extension ImageDataset {
    /// The transformed copy of this set (same count, shape and labels).
    public func transformed(_ t: OODTransform) throws -> ImageDataset {
        var out = [UInt8](repeating: 0, count: pixels.count)
        switch t {
        case .inverted:
            for i in 0..<pixels.count { out[i] = 255 - pixels[i] }
        case .uniformNoise:
            for i in 0..<pixels.count {
                out[i] = UInt8(CounterRNG.value(seed: OODTransform.seed, stream: 1, counter: UInt64(i)) >> 56)
            }
        case .gaussianNoise:
            var sum = 0.0, sq = 0.0
            for p in pixels { sum += Double(p); sq += Double(p) * Double(p) }
            let n = Double(max(pixels.count, 1)), mean = sum / n
            let std = max(sq / n - mean * mean, 0).squareRoot()
            var rng = CounterRNG(seed: OODTransform.seed, stream: 2)
            for i in 0..<pixels.count {
                out[i] = UInt8(min(max((mean + std * Double(rng.nextNormal())).rounded(), 0), 255))
            }
        case .blurred:
            blur(into: &out, sigma: OODTransform.blurSigma)
        }
        return try ImageDataset(pixels: out, labels: labels, channels: channels, height: height, width: width,
                                classes: classes, source: "\(source) (\(t.rawValue))")
    }

    /// Separable Gaussian blur of every plane, radius ceil(3 sigma), edge pixels repeated, rounded.
    func blur(into out: inout [UInt8], sigma: Double) {
        let r = Int((3 * sigma).rounded(.up))
        var w = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = w.reduce(0, +)
        w = w.map { $0 / total }
        var row = [Double](repeating: 0, count: height * width)
        for plane in 0..<(count * channels) {
            let base = plane * height * width
            for y in 0..<height {
                for x in 0..<width {
                    var s = 0.0
                    for k in -r...r { s += w[k + r] * Double(pixels[base + y * width + min(max(x + k, 0), width - 1)]) }
                    row[y * width + x] = s
                }
            }
            for y in 0..<height {
                for x in 0..<width {
                    var s = 0.0
                    for k in -r...r { s += w[k + r] * row[min(max(y + k, 0), height - 1) * width + x] }
                    out[base + y * width + x] = UInt8(min(max(s.rounded(), 0), 255))
                }
            }
        }
    }

    /// Every PNG/JPEG file in `directory` and its subfolders (sorted paths), decoded as
    /// `decodedImages` does. Labels are 0 (an out-of-distribution set has no classes of the model).
    public static func imageFiles(directory: String, size: Int, channels: Int) throws -> ImageDataset {
        let paths = try imageFilePaths(directory: directory)
        return try decodedImages(paths: paths, labels: [Int32](repeating: 0, count: paths.count),
                                 classes: 1, size: size, channels: channels, source: directory)
    }

    /// The PNG and JPEG files of a folder and its subfolders, in byte order of their paths.
    public static func imageFilePaths(directory: String) throws -> [String] {
        guard let walk = FileManager.default.enumerator(atPath: directory) else {
            throw DataError(file: directory, "missing folder: expected PNG or JPEG images in it or its subfolders")
        }
        let files = walk.compactMap { $0 as? String }
            .filter { ImageFolderIndex.extensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        guard !files.isEmpty else {
            throw DataError(file: directory, "no .png, .jpg or .jpeg files in the folder or its subfolders")
        }
        return files.map { directory + "/" + $0 }
    }

    /// An image folder split's files with their labels, decoded as `decodedImages` does
    /// (what `gdqr eval` and a run's parity report score an image-folder model on).
    public static func decoded(_ index: ImageFolderIndex, size: Int, channels: Int) throws -> ImageDataset {
        try decodedImages(paths: (0..<index.count).map(index.path), labels: index.labels, classes: index.classes.count,
                          size: size, channels: channels, source: index.directory)
    }

    /// Image files as `channels` planes of size x size: the centre square resampled as the
    /// image-folder evaluation does (grey from RGB with PIL's weights, grey repeated for RGB).
    public static func decodedImages(paths: [String], labels: [Int32], classes: Int, size: Int, channels: Int,
                                     source: String) throws -> ImageDataset {
        let per = channels * size * size
        var pixels = [UInt8](repeating: 0, count: paths.count * per)
        var buffer: [UInt8] = [], planar: [UInt8] = []
        var resampler = ImageResampler()
        for (i, path) in paths.enumerated() {
            let img = try ImageDecoder.decode(file: path, buffer: &buffer)
            let planes = planarPixels(img, channels: channels, into: &planar)
            planar.withUnsafeBufferPointer { src in
                pixels.withUnsafeMutableBufferPointer { dst in
                    resampler.resample(src.baseAddress!, planes: planes, width: img.width, height: img.height,
                                       box: .centreSquare(width: img.width, height: img.height), outSize: size,
                                       outChannels: channels, into: dst.baseAddress! + i * per)
                }
            }
        }
        return try ImageDataset(pixels: pixels, labels: labels, channels: channels, height: size, width: size,
                                classes: classes, source: source)
    }
}
