// `gdqr infer`'s work: the class the integer engine predicts for each image of an IDX
// file, an image file (PNG/JPEG) or a folder of them (its subfolders included, sorted
// paths). Image files are decoded as the image-folder evaluation decodes them (centre
// square, resampled to the model's size and channels), a batch at a time, so a large
// folder needs no more memory than a small one.

import Foundation
import TensorEngine
import IntegerInference
import Datasets
import Evaluation

public struct Prediction {
    public let model: IntegerModel
    /// The model's class names (an image-folder model records its folders' names), else nil.
    public let classNames: [String]?
    let engine: IntegerEngine
    let batch: Int

    public init(_ m: IntegerModel, path: String, threads: Int, batch: Int = 128) throws {
        guard m.task == .classification else {
            throw ToolError("\(path): a \(m.task.rawValue) model; infer prints the classes of a classifier (gdqr eval scores scene models)")
        }
        model = m
        self.batch = max(1, batch)
        classNames = m.info["class_names"].flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
            .flatMap { $0.count == m.classes ? $0 : nil }
        engine = try IntegerEngine(m, maxBatch: self.batch, threads: max(1, threads))
    }

    /// What `gdqr infer` reads: image files (decoded a batch at a time) or an IDX file's images.
    public enum Images {
        case files([String])
        case idx(IDX.Images)
    }

    /// Lists or reads `input` once: a PNG/JPEG file, a folder of them, or an IDX file.
    public func images(_ input: String) throws -> Images {
        if let files = try imageFiles(input) { return .files(files) }
        return .idx(try idxImages(input))
    }

    /// What `images` holds, for a line on standard error.
    public func describe(_ images: Images, from input: String) -> String {
        let x = model.input
        switch images {
        case .files(let files): return "\(files.count) image files from \(input), each as \(x.channels)x\(x.height)x\(x.width)"
        case .idx(let idx): return "\(idx.count) images \(idx.rows)x\(idx.cols) from \(input)"
        }
    }

    /// Calls `each(index, file, class)` for every image in order (`file` is nil for the
    /// images of an IDX file).
    public func predict(_ images: Images, source: String, _ each: (Int, String?, Int) -> Void) throws {
        let x = model.input
        switch images {
        case .files(let files):
            var first = 0
            while first < files.count {
                let paths = Array(files[first..<min(first + batch, files.count)])
                let d = try ImageDataset.decodedImages(paths: paths, labels: [Int32](repeating: 0, count: paths.count), classes: 1,
                                                       size: x.height, channels: x.channels, source: source)
                classify(d.pixels, count: paths.count) { i, c in each(first + i, paths[i], c) }
                first += paths.count
            }
        case .idx(let idx):
            classify(idx.pixels, count: idx.count) { i, c in each(i, nil, c) }
        }
    }

    /// The image files `input` names (a PNG/JPEG file or a folder), nil for an IDX file.
    func imageFiles(_ input: String) throws -> [String]? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir) else {
            throw ToolError("\(input): no such file or folder")
        }
        if isDir.boolValue {
            guard model.input.height == model.input.width else {
                throw ToolError("\(input): image files are resampled to a square, the model takes \(model.input.height)x\(model.input.width)")
            }
            return try ImageDataset.imageFilePaths(directory: input)
        }
        return ImageFolderIndex.extensions.contains((input as NSString).pathExtension.lowercased()) ? [input] : nil
    }

    func idxImages(_ input: String) throws -> IDX.Images {
        let idx = try IDX.readImages(path: input)
        let x = model.input
        guard x.channels == 1, idx.rows == x.height, idx.cols == x.width else {
            throw ToolError("\(input): images 1x\(idx.rows)x\(idx.cols) (IDX images are grey), the model takes \(x.channels)x\(x.height)x\(x.width)")
        }
        return idx
    }

    /// The engine over `count` images of `pixels`, a batch at a time: `each(i, class)`.
    func classify(_ pixels: [UInt8], count: Int, _ each: (Int, Int) -> Void) {
        let per = model.input.count, classes = model.classes
        pixels.withUnsafeBufferPointer { px in
            var i = 0
            while i < count {
                let n = min(batch, count - i)
                let logits = engine.run(px.baseAddress! + i * per, batch: n)
                for s in 0..<n { each(i + s, argmax(logits + s * classes, classes)) }
                i += n
            }
        }
    }
}
