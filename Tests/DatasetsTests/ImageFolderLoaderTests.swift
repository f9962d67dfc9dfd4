import Foundation
import XCTest
import TensorEngine
@testable import Datasets

// The image-folder index and the streaming loaders on folders the tests write
// (PNG through PNGWriter, JPEG fixtures from Tests/fixtures/images): classes, sample
// order, stray and empty folders, the same floats as the in-memory IDX path for the
// same pixels, the same bits for any worker count and prefetch depth, rank shards,
// and bad files (an error naming the file, or skipped under skip_bad).
final class ImageFolderLoaderTests: TemporaryFolderTestCase {
    func png(_ pixels: [UInt8], _ w: Int, _ h: Int, _ c: Int) throws -> [UInt8] {
        try PNGWriter.encode(pixels, width: w, height: h, channels: c)
    }

    /// Deterministic pixels.
    func pixels(_ n: Int, seed: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: ($0 * 131 + seed * 7919) ^ ($0 >> 3)) } }

    /// A mixed folder: grey and RGB PNGs of odd sizes, two JPEG fixtures, an empty class,
    /// a stray text file, a hidden file and a nested folder.
    func writeMixedFolder() throws {
        let jpgs = ImageFolderDecodeTests.fixtures
        try write("train/dog/b.png", png(pixels(9 * 7, seed: 1), 9, 7, 1))
        try write("train/dog/nested/a.png", png(pixels(5 * 11 * 3, seed: 2), 5, 11, 3))
        try write("train/dog/notes.txt", Array("not an image".utf8))
        try write("train/dog/.hidden.png", [1, 2, 3])
        try write("train/ant/b.png", png(pixels(13 * 13 * 3, seed: 3), 13, 13, 3))
        try write("train/ant/c.JPG", [UInt8](Data(contentsOf: URL(fileURLWithPath: jpgs + "/rgb-13x11-q90.jpg"))))
        try write("train/ant/d.jpeg", [UInt8](Data(contentsOf: URL(fileURLWithPath: jpgs + "/gray-10x7.jpg"))))
        try FileManager.default.createDirectory(atPath: root + "/train/cat", withIntermediateDirectories: true)
        try write("val/ant/x.png", png(pixels(8 * 8, seed: 4), 8, 8, 1))
        try write("val/dog/y.png", png(pixels(6 * 10 * 3, seed: 5), 6, 10, 3))
    }

    func testIndexClassesOrderAndStrayFiles() throws {
        try writeMixedFolder()
        let (train, val) = try ImageFolderIndex.load(root: root)
        XCTAssertEqual(train.classes, ["ant", "cat", "dog"])
        // By path below the class folder, then class: b.png (ant) before b.png (dog).
        XCTAssertEqual(train.files, ["ant/b.png", "dog/b.png", "ant/c.JPG", "ant/d.jpeg", "dog/nested/a.png"])
        XCTAssertEqual(train.labels, [0, 2, 0, 0, 2])
        XCTAssertEqual(train.ignoredCount, 1)
        XCTAssertEqual(train.ignoredExamples, ["dog/notes.txt"])
        XCTAssertEqual(train.emptyClasses, ["cat"])
        XCTAssertEqual(val.files, ["ant/x.png", "dog/y.png"])
        XCTAssertEqual(val.labels, [0, 2])
        XCTAssertEqual(val.emptyClasses, ["cat"])
    }

    func testLayoutErrorsNameTheFolder() throws {
        XCTAssertThrowsError(try ImageFolderIndex.load(root: root)) { e in
            XCTAssertEqual("\(e)", root + "/train: missing folder (expected the ImageFolder layout ROOT/{train,val}/CLASS/IMAGE)")
        }
        try write("train/a/x.png", png([1], 1, 1, 1))
        try write("val/b/y.png", png([1], 1, 1, 1))
        XCTAssertThrowsError(try ImageFolderIndex.load(root: root)) { e in
            XCTAssertEqual("\(e)", root + "/val/b: class folder not among the training classes (1 folders of the train split)")
        }
    }

    func settings(size: Int, channels: Int) -> ImageFolderSettings {
        var s = ImageFolderSettings(imageSize: size, channels: channels, normalization: .identity)
        s.seed = 11
        return s
    }

    /// Every sample of the mixed folder, at 6x6 grey and RGB, equals an independent
    /// computation: decode, centre square, PIL-style resample (tested against Pillow in
    /// ImageFolderDecodeTests), p / 255. Checks the plumbing: channels, boxes, labels.
    func testEvalRenderMatchesDirectComputation() throws {
        try writeMixedFolder()
        let (train, _) = try ImageFolderIndex.load(root: root)
        for channels in [1, 3] {
            let src = try ImageFolderSource(index: train, settings: settings(size: 6, channels: channels))
            var scratch = ImageFolderSource.Scratch()
            var out = [Float](repeating: .nan, count: src.sampleFloats)
            for i in 0..<train.count {
                let label = try out.withUnsafeMutableBufferPointer {
                    try src.render(i, epoch: 0, augment: false, scratch: &scratch, into: $0.baseAddress!)
                }
                XCTAssertEqual(label, train.labels[i])
                var buffer: [UInt8] = []
                let img = try ImageDecoder.decode(file: train.path(i), buffer: &buffer)
                var planes: [UInt8] = []
                let np = planarPixels(img, channels: channels, into: &planes)
                var sq = [UInt8](repeating: 0, count: channels * 36)
                var rs = ImageResampler()
                planes.withUnsafeBufferPointer { p in
                    sq.withUnsafeMutableBufferPointer { o in
                        rs.resample(p.baseAddress!, planes: np, width: img.width, height: img.height,
                                    box: .centreSquare(width: img.width, height: img.height), outSize: 6,
                                    outChannels: channels, into: o.baseAddress!)
                    }
                }
                XCTAssertEqual(out, sq.map { Float($0) / 255 }, "\(train.files[i]) channels \(channels)")
                XCTAssertFalse(out.contains { $0.isNaN })
            }
        }
    }

    /// A folder holding an IDX-like set's pixels (same size as the model input, files
    /// named by index) trains on exactly the floats of BatchLoader over the in-memory
    /// set with the same seed, padding and flip; for 1 and 3 workers, prefetch 1 and 3,
    /// and the evaluation batches too.
    func testSameFloatsAsInMemoryLoaderForAnyWorkerCount() throws {
        let n = 37, side = 10, classes = 3
        var all: [UInt8] = [], labels: [Int32] = []
        for i in 0..<n {
            let p = pixels(side * side, seed: 100 + i)
            all += p
            labels.append(Int32((i * 7) % classes))
            try write("train/class\(labels[i])/\(String(format: "%05d", i)).png", png(p, side, side, 1))
        }
        for i in 0..<9 {
            try write("val/class\(labels[i])/\(String(format: "%05d", i)).png", png(Array(all[(i * 100)..<(i * 100 + 100)]), side, side, 1))
        }
        let memory = try ImageDataset(pixels: all, labels: labels, channels: 1, height: side, width: side, classes: classes)
        let norm = Normalization(mean: 0.3, std: 0.7)
        let (trainIdx, valIdx) = try ImageFolderIndex.load(root: root)
        XCTAssertEqual(trainIdx.labels, labels)
        var s = ImageFolderSettings(imageSize: side, channels: 1, normalization: norm)
        s.cropPadding = 2; s.horizontalFlip = true; s.seed = 5
        let src = try ImageFolderSource(index: trainIdx, settings: s)
        let reference = try BatchLoader(dataset: memory, globalBatchSize: 8, seed: 5,
                                        augmentation: Augmentation(cropPadding: 2, horizontalFlip: true), normalization: norm)
        var expected: [[Float]] = []
        for epoch in 0..<2 {
            reference.startEpoch(epoch)
            while let b = reference.next() {
                expected.append(Array(UnsafeBufferPointer(start: b.images.data, count: b.images.count)))
            }
        }
        XCTAssertEqual(expected.count, 10)
        for (workers, prefetch) in [(1, 1), (3, 3), (2, 1)] {
            let loader = try StreamingLoader(source: src, globalBatchSize: 8, augment: true, workers: workers, prefetch: prefetch)
            var got: [[Float]] = []
            for epoch in 0..<2 {
                loader.startEpoch(epoch)
                while let b = try loader.next() {
                    got.append(Array(UnsafeBufferPointer(start: b.images.data, count: b.images.count)))
                    XCTAssertEqual(Array(b.labels), b.indices.map { labels[$0] })
                }
            }
            XCTAssertEqual(got.count, expected.count)
            for (k, (g, e)) in zip(got, expected).enumerated() {
                XCTAssertTrue(g == e, "workers \(workers) prefetch \(prefetch): batch \(k) differs from BatchLoader")
            }
        }
        // Evaluation: 9 images in batches of 4 (4, 4, 1), no augmentation.
        let valSrc = try ImageFolderSource(index: valIdx, settings: s)
        let memVal = try ImageDataset(pixels: Array(all.prefix(900)), labels: Array(labels.prefix(9)), channels: 1,
                                      height: side, width: side, classes: classes)
        let ref = try EvalBatches(dataset: memVal, batchSize: 4, normalization: norm)
        let ev = try StreamingEvalBatches(source: valSrc, batchSize: 4, workers: 2, prefetch: 1)
        for pass in 0..<2 {
            ref.reset(); ev.reset()
            var batches = 0
            while let r = ref.next() {
                let g = try XCTUnwrap(try ev.next(), "pass \(pass)")
                XCTAssertEqual(g.count, r.count)
                XCTAssertEqual(Array(g.labels), Array(r.labels))
                XCTAssertTrue(Array(UnsafeBufferPointer(start: g.images.data, count: g.images.count))
                              == Array(UnsafeBufferPointer(start: r.images.data, count: r.images.count)))
                batches += 1
            }
            XCTAssertNil(try ev.next())
            XCTAssertEqual(batches, 3)
        }
    }

    /// Each rank's slice of a global batch: the union over 2 ranks is the 1-rank batch,
    /// including random-resized crops of RGB images of odd sizes.
    func testRankShardsUnionToTheGlobalBatch() throws {
        for i in 0..<12 {
            let w = 7 + i % 5, h = 9 + i % 3
            try write("train/c\(i % 2)/\(i).png", png(pixels(w * h * 3, seed: i), w, h, 3))
        }
        try write("val/c0/v.png", png(pixels(12, seed: 1), 2, 2, 3))
        let (idx, _) = try ImageFolderIndex.load(root: root)
        var s = settings(size: 8, channels: 3)
        s.crop = .randomResizedCrop; s.horizontalFlip = true; s.minScale = 0.3
        let src = try ImageFolderSource(index: idx, settings: s)
        func batches(rank: Int, world: Int) throws -> [[Float]] {
            let l = try StreamingLoader(source: src, globalBatchSize: 4, rank: rank, worldSize: world, augment: true,
                                        workers: 2, prefetch: 2)
            l.startEpoch(1)
            var out: [[Float]] = []
            while let b = try l.next() { out.append(Array(UnsafeBufferPointer(start: b.images.data, count: b.images.count))) }
            return out
        }
        let one = try batches(rank: 0, world: 1), r0 = try batches(rank: 0, world: 2), r1 = try batches(rank: 1, world: 2)
        XCTAssertEqual(one.count, 3)
        for k in 0..<3 { XCTAssertTrue(one[k] == r0[k] + r1[k], "step \(k)") }
        XCTAssertFalse(one.joined().contains { $0.isNaN || $0 < 0 || $0 > 1 })
        // Augmentation is on: epoch 1's crops differ from the evaluation's centre squares.
        var plain = [Float](repeating: 0, count: src.sampleFloats)
        var scratch = ImageFolderSource.Scratch()
        let first = try Sampler(count: 12, globalBatchSize: 4, seed: 11).indices(epoch: 1, step: 0)[0]
        _ = try plain.withUnsafeMutableBufferPointer { try src.render(first, epoch: 1, augment: false, scratch: &scratch, into: $0.baseAddress!) }
        XCTAssertNotEqual(Array(one[0].prefix(src.sampleFloats)), plain)
    }

    /// A corrupt file stops the epoch with a DataError naming it; under skip_bad it
    /// becomes an ignored sample (label -1, zero pixels after normalisation), warned
    /// about once and counted once however often it is read.
    func testCorruptFileErrorOrSkip() throws {
        for i in 0..<6 { try write("train/k\(i % 2)/\(i).png", png(pixels(16, seed: i), 4, 4, 1)) }
        try write("train/k1/3.png", Array(try png(pixels(16, seed: 3), 4, 4, 1).prefix(40)))   // truncated
        try write("val/k0/v.png", png(pixels(16, seed: 9), 4, 4, 1))
        let (idx, _) = try ImageFolderIndex.load(root: root)
        let bad = root + "/train/k1/3.png"
        let strict = try ImageFolderSource(index: idx, settings: settings(size: 4, channels: 1))
        let loader = try StreamingLoader(source: strict, globalBatchSize: 6, augment: false, shuffle: false, workers: 2, prefetch: 1)
        loader.startEpoch(0)
        XCTAssertThrowsError(try loader.next()) { e in
            XCTAssertEqual("\(e)", bad + ": cannot decode PNG: truncated file (the data ends before the image does)")
        }
        XCTAssertNil(try loader.next(), "the epoch stops at the error")

        var s = settings(size: 4, channels: 1)
        s.skipBad = true
        s.normalization = Normalization(mean: 0.5, std: 0.25)
        let warnings = WarningSink()
        let log = BadFileLog(warn: { warnings.add($0) })
        let lenient = try ImageFolderSource(index: idx, settings: s, badFiles: log)
        let l2 = try StreamingLoader(source: lenient, globalBatchSize: 6, augment: false, shuffle: false, workers: 3, prefetch: 2)
        for epoch in 0..<3 {
            l2.startEpoch(epoch)
            let b = try XCTUnwrap(try l2.next())
            let pos = b.indices.firstIndex(of: idx.files.firstIndex(of: "k1/3.png")!)!
            XCTAssertEqual(b.labels[pos], -1)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: b.images.data + pos * 16, count: 16)),
                           [Float](repeating: -2, count: 16))   // (0 - 0.5) / 0.25
            XCTAssertEqual(b.labels.filter { $0 >= 0 }.count, 5)
            XCTAssertNil(try l2.next())
        }
        XCTAssertEqual(log.count, 1)
        XCTAssertEqual(warnings.all, ["skipping bad image (data.skip_bad): " + bad
                                      + ": cannot decode PNG: truncated file (the data ends before the image does)"])
    }
}

final class WarningSink: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
