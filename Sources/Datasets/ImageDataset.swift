import Foundation

/// An in-memory image classification dataset: uint8 pixels [N, C, H, W] kept
/// compact, Int32 labels in 0..<classes.
public final class ImageDataset {
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classes: Int
    /// N*C*H*W bytes, sample-major.
    public let pixels: [UInt8]
    public let labels: [Int32]
    /// Where the data came from (for messages and reports).
    public let source: String

    public var sampleBytes: Int { channels * height * width }

    public init(pixels: [UInt8], labels: [Int32], channels: Int, height: Int, width: Int,
                classes: Int, source: String = "<memory>") throws {
        guard channels > 0, height > 0, width > 0, classes > 0 else {
            throw DataError(file: source, "invalid dataset geometry C=\(channels) H=\(height) W=\(width) classes=\(classes), expected positive values")
        }
        let per = channels * height * width
        guard pixels.count == labels.count * per else {
            throw DataError(file: source, "\(pixels.count) pixel bytes for \(labels.count) labels, expected \(labels.count * per) (\(channels)x\(height)x\(width) each)")
        }
        for (i, l) in labels.enumerated() where l < 0 || Int(l) >= classes {
            throw DataError(file: source, "label \(l) at index \(i) is out of range, expected 0..<\(classes)")
        }
        self.count = labels.count
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.pixels = pixels
        self.labels = labels
        self.source = source
    }

    /// Loads a pair of IDX files (images IDX3, labels IDX1; each raw or gzip).
    /// `limit` > 0 keeps the first `limit` examples.
    public static func loadIDX(images: String, labels: String, classes: Int = 10, limit: Int = 0) throws -> ImageDataset {
        let img = try IDX.readImages(path: images, limit: limit)
        let lab = try IDX.readLabels(path: labels, classes: classes, limit: limit)
        if lab.declaredCount != img.declaredCount {
            let ln = (labels as NSString).lastPathComponent, im = (images as NSString).lastPathComponent
            throw DataError(message: "labels count \(lab.declaredCount) does not match images count \(img.declaredCount) (\(ln) vs \(im))", file: labels)
        }
        return try ImageDataset(pixels: img.pixels, labels: lab.labels.map { Int32($0) },
                                channels: 1, height: img.rows, width: img.cols, classes: classes,
                                source: images)
    }

    public enum Split: String, Sendable {
        case train
        case test
        var prefix: String { self == .train ? "train" : "t10k" }
    }

    public static let defaultFashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// Finds `name.gz` or `name` in `directory`, or throws naming both.
    public static func resolve(_ name: String, in directory: String) throws -> String {
        let dir = URL(fileURLWithPath: directory)
        let gz = dir.appendingPathComponent(name + ".gz").path
        let raw = dir.appendingPathComponent(name).path
        if FileManager.default.fileExists(atPath: gz) { return gz }
        if FileManager.default.fileExists(atPath: raw) { return raw }
        throw DataError(file: gz, "missing file (also looked for \(raw))")
    }

    /// The MNIST / Fashion-MNIST directory layout: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
    public static func mnistLayout(directory: String = defaultFashionMNISTDirectory, split: Split,
                                   limit: Int = 0, classes: Int = 10) throws -> ImageDataset {
        let images = try resolve("\(split.prefix)-images-idx3-ubyte", in: directory)
        let labels = try resolve("\(split.prefix)-labels-idx1-ubyte", in: directory)
        return try loadIDX(images: images, labels: labels, classes: classes, limit: limit)
    }

    /// Fashion-MNIST (same layout as MNIST), default directory /usr/share/datasets/fashion-mnist.
    public static func fashionMNIST(directory: String = defaultFashionMNISTDirectory, split: Split,
                                    limit: Int = 0) throws -> ImageDataset {
        try mnistLayout(directory: directory, split: split, limit: limit, classes: 10)
    }
}

extension ImageDataset {
    /// Held-out classes: the images labelled with one of `kept`, relabelled by their
    /// position in `kept` (classes = kept.count), and the images of every other label
    /// (their labels unchanged). Order within each part is the data set's.
    public func splitting(keeping kept: [Int]) throws -> (kept: ImageDataset, heldOut: ImageDataset) {
        var newLabel = [Int32](repeating: -1, count: classes)
        for (i, c) in kept.enumerated() {
            guard c >= 0, c < classes else {
                throw DataError(file: source, "class \(c) to keep is out of range, expected 0..<\(classes)")
            }
            newLabel[c] = Int32(i)
        }
        var keptPixels: [UInt8] = [], keptLabels: [Int32] = [], otherPixels: [UInt8] = [], otherLabels: [Int32] = []
        let per = sampleBytes
        for i in 0..<count {
            let px = pixels[(i * per)..<((i + 1) * per)]
            let l = newLabel[Int(labels[i])]
            if l >= 0 {
                keptPixels += px; keptLabels.append(l)
            } else {
                otherPixels += px; otherLabels.append(labels[i])
            }
        }
        let name = "\(source) (classes \(kept.map(String.init).joined(separator: ",")))"
        return (try ImageDataset(pixels: keptPixels, labels: keptLabels, channels: channels, height: height,
                                 width: width, classes: max(kept.count, 1), source: name),
                try ImageDataset(pixels: otherPixels, labels: otherLabels, channels: channels, height: height,
                                 width: width, classes: classes, source: "\(source) (held-out classes)"))
    }
}

extension ImageDataset {
    /// An MNIST-layout split; with `kept` labels (data.classes) the images of those labels
    /// renumbered 0..<kept.count and, apart, the images of the other labels (`limit`
    /// counts images before the selection). Without, every image (labels < `classes`)
    /// and no held-out part.
    public static func mnistLayout(directory: String, split: Split, limit: Int, classes: Int,
                                   keeping kept: [Int]) throws -> (kept: ImageDataset, heldOut: ImageDataset?) {
        guard !kept.isEmpty else {
            return (try mnistLayout(directory: directory, split: split, limit: limit, classes: classes), nil)
        }
        // IDX labels are bytes: every label is below 256.
        let all = try mnistLayout(directory: directory, split: split, limit: limit, classes: 256)
        let parts = try all.splitting(keeping: kept)
        return (parts.kept, parts.heldOut)
    }
}
