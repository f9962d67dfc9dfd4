import Foundation
import XCTest
import Datasets

/// A temporary directory removed at the end of the test.
final class TempDir {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gdqr-datasets-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) -> String {
        let path = url.appendingPathComponent(name).path
        let data = gzip ? try! Gzip.compress(bytes) : bytes
        FileManager.default.createFile(atPath: path, contents: Data(data))
        return path
    }
}

func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

/// Deterministic small images: pixel = (i * 31 + p * 7) & 255.
func makeImages(_ n: Int, _ h: Int, _ w: Int) -> [UInt8] {
    (0..<(n * h * w)).map { UInt8(truncatingIfNeeded: ($0 / (h * w)) * 31 + ($0 % (h * w)) * 7) }
}

func assertThrows(_ message: [String], file: StaticString = #filePath, line: UInt = #line,
                  _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error containing \(message)", file: file, line: line)
    } catch {
        let text = "\(error)"
        for m in message {
            XCTAssertTrue(text.contains(m), "error '\(text)' does not contain '\(m)'", file: file, line: line)
        }
    }
}

final class IDXTests: XCTestCase {
    func testRoundTripRawAndGzip() throws {
        let dir = TempDir()
        let pixels = makeImages(7, 5, 4)
        let labels: [UInt8] = [0, 1, 2, 3, 4, 5, 9]
        for gz in [false, true] {
            let ip = dir.write("img\(gz)", IDX.encodeImages(pixels, count: 7, rows: 5, cols: 4), gzip: gz)
            let lp = dir.write("lab\(gz)", IDX.encodeLabels(labels), gzip: gz)
            let d = try ImageDataset.loadIDX(images: ip, labels: lp, classes: 10)
            XCTAssertEqual(d.count, 7)
            XCTAssertEqual([d.channels, d.height, d.width], [1, 5, 4])
            XCTAssertEqual(d.pixels, pixels)
            XCTAssertEqual(d.labels, labels.map { Int32($0) })
            let lim = try ImageDataset.loadIDX(images: ip, labels: lp, classes: 10, limit: 3)
            XCTAssertEqual(lim.count, 3)
            XCTAssertEqual(lim.pixels, Array(pixels[0..<60]))
            XCTAssertEqual(lim.labels, [0, 1, 2])
        }
    }

    func testGzipDetectedByMagicNotName() throws {
        let dir = TempDir()
        let pixels = makeImages(2, 3, 3)
        // gzip content under a raw name, raw content under a .gz name
        let a = dir.write("plain-name", IDX.encodeImages(pixels, count: 2, rows: 3, cols: 3), gzip: true)
        let b = dir.write("looks.gz", IDX.encodeImages(pixels, count: 2, rows: 3, cols: 3), gzip: false)
        XCTAssertEqual(try IDX.readImages(path: a).pixels, pixels)
        XCTAssertEqual(try IDX.readImages(path: b).pixels, pixels)
    }

    func testGzipInteroperatesWithSystemGzip() throws {
        guard FileManager.default.fileExists(atPath: "/bin/gzip") || FileManager.default.fileExists(atPath: "/usr/bin/gzip") else {
            throw XCTSkip("no gzip binary")
        }
        let dir = TempDir()
        let bytes = IDX.encodeLabels([1, 2, 3])
        let path = dir.write("x.gz", bytes, gzip: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "gzip -t '\(path)' && gzip -dc '\(path)' > '\(path).out' && gzip -c '\(path).out' > '\(path).2'"]
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".out"))), bytes)
        // and the reader reads what the system gzip wrote
        XCTAssertEqual(try IDX.readLabels(path: path + ".2", classes: 10).labels, [1, 2, 3])
    }

    func testBadMagic() {
        let dir = TempDir()
        var bytes = IDX.encodeImages(makeImages(1, 2, 2), count: 1, rows: 2, cols: 2)
        bytes[3] = 0x02
        let p = dir.write("train-images-idx3-ubyte.gz", bytes, gzip: true)
        assertThrows(["train-images-idx3-ubyte.gz", "bad magic 0x00000802, expected 0x00000803 (images)"]) {
            _ = try IDX.readImages(path: p)
        }
        let l = dir.write("labels-file", be32(0x0000_0803) + be32(1) + [0])
        assertThrows(["labels-file", "bad magic 0x00000803, expected 0x00000801 (labels)"]) {
            _ = try IDX.readLabels(path: l, classes: 10)
        }
        let t = dir.write("text-file", Array("hello world, not idx".utf8))
        assertThrows(["text-file", "bad magic", "not an IDX file"]) { _ = try IDX.readImages(path: t) }
        let f = dir.write("float-file", be32(0x0000_0d03) + be32(1) + be32(1) + be32(1) + [0, 0, 0, 0])
        assertThrows(["float-file", "element type 0x0d is not unsigned byte"]) { _ = try IDX.readImages(path: f) }
    }

    func testTruncatedHeader() {
        let dir = TempDir()
        let p = dir.write("short-header", be32(0x0000_0803) + be32(10) + [0, 0])
        assertThrows(["short-header", "truncated header: 10 bytes, expected 16"]) { _ = try IDX.readImages(path: p) }
        let e = dir.write("empty", [])
        assertThrows(["empty", "truncated header: 0 bytes"]) { _ = try IDX.readLabels(path: e, classes: 10) }
        let g = dir.write("short-header.gz", [0, 0, 8, 1, 0], gzip: true)
        assertThrows(["short-header.gz", "truncated header: 5 bytes, expected 8"]) { _ = try IDX.readLabels(path: g, classes: 10) }
    }

    func testTruncatedPixels() {
        let dir = TempDir()
        var bytes = IDX.encodeImages(makeImages(10, 4, 4), count: 10, rows: 4, cols: 4)
        bytes.removeLast(5)
        let p = dir.write("trunc-raw", bytes)
        assertThrows(["trunc-raw", "truncated at byte 171, expected 160 bytes of pixels"]) { _ = try IDX.readImages(path: p) }
        let g = dir.write("trunc.gz", bytes, gzip: true)
        assertThrows(["trunc.gz", "truncated at byte 171, expected 160 bytes of pixels"]) { _ = try IDX.readImages(path: g) }
        // A gzip file cut short (stream truncated, no trailer).
        let full = try! Gzip.compress(IDX.encodeImages(makeImages(10, 4, 4), count: 10, rows: 4, cols: 4), level: 0)
        let c = dir.write("cut.gz", Array(full[0..<(full.count - 30)]))
        assertThrows(["cut.gz", "truncated at byte", "gzip stream ends early"]) { _ = try IDX.readImages(path: c) }
        // Only the trailer missing: all data present but the stream does not end.
        let t = dir.write("notrailer.gz", Array(full[0..<(full.count - 8)]))
        assertThrows(["notrailer.gz", "gzip stream truncated"]) { _ = try IDX.readImages(path: t) }
        let labels = dir.write("trunc-labels", be32(0x0000_0801) + be32(5) + [1, 2])
        assertThrows(["trunc-labels", "truncated at byte 10, expected 5 bytes of labels"]) { _ = try IDX.readLabels(path: labels, classes: 10) }
    }

    func testTrailingBytes() {
        let dir = TempDir()
        let p = dir.write("trailing", IDX.encodeLabels([1, 2]) + [7, 7, 7])
        assertThrows(["trailing", "3 unexpected trailing bytes at byte 10"]) { _ = try IDX.readLabels(path: p, classes: 10) }
    }

    func testDimensionMismatch() {
        let dir = TempDir()
        // A labels file (1 dimension) where images (3 dimensions) are expected.
        let p = dir.write("dims", IDX.encodeLabels([1, 2, 3, 4, 5, 6, 7, 8]))
        assertThrows(["dims", "bad magic 0x00000801, expected 0x00000803 (images)", "1 dimensions, expected 3"]) {
            _ = try IDX.readImages(path: p)
        }
        // Images with 4 dimensions.
        let q = dir.write("dims4", be32(0x0000_0804) + be32(1) + be32(1) + be32(1) + be32(1) + [0])
        assertThrows(["dims4", "4 dimensions, expected 3"]) { _ = try IDX.readImages(path: q) }
        // Zero-size images.
        let z = dir.write("zero", be32(0x0000_0803) + be32(1) + be32(0) + be32(28))
        assertThrows(["zero", "image size 0x28 is empty"]) { _ = try IDX.readImages(path: z) }
    }

    func testCountMismatch() {
        let dir = TempDir()
        let ip = dir.write("train-images-idx3-ubyte.gz", IDX.encodeImages(makeImages(4, 2, 2), count: 4, rows: 2, cols: 2), gzip: true)
        let lp = dir.write("train-labels-idx1-ubyte.gz", IDX.encodeLabels([1, 2, 3]), gzip: true)
        assertThrows(["labels count 3 does not match images count 4 (train-labels-idx1-ubyte.gz vs train-images-idx3-ubyte.gz)"]) {
            _ = try ImageDataset.loadIDX(images: ip, labels: lp)
        }
        // also when only a prefix is loaded
        assertThrows(["labels count 3 does not match images count 4"]) {
            _ = try ImageDataset.loadIDX(images: ip, labels: lp, limit: 2)
        }
    }

    func testLabelOutOfRange() {
        let dir = TempDir()
        let lp = dir.write("labels.gz", IDX.encodeLabels([1, 2, 12, 3]), gzip: true)
        assertThrows(["labels.gz", "label 12 at index 2 (byte 10) is out of range", "0..<10"]) {
            _ = try IDX.readLabels(path: lp, classes: 10)
        }
        XCTAssertNoThrow(try IDX.readLabels(path: lp, classes: 13))
    }

    func testHugeHeaderInSmallFile() {
        let dir = TempDir()
        // 10^12 pixels claimed: 1,000,000 images of 1000x1000 in a ~1 KB file.
        let header = be32(0x0000_0803) + be32(1_000_000) + be32(1000) + be32(1000)
        let body = [UInt8](repeating: 3, count: 1000)
        let raw = dir.write("huge-raw", header + body)
        assertThrows(["huge-raw", "truncated at byte 1016, expected 1000000000000 bytes of pixels"]) { _ = try IDX.readImages(path: raw) }
        let gz = dir.write("huge.gz", header + body, gzip: true)
        assertThrows(["huge.gz", "header claims 1000000 images of 1000x1000", "can hold at most"]) { _ = try IDX.readImages(path: gz) }
        // Dimensions whose product overflows.
        let ov = dir.write("overflow", be32(0x0000_0803) + be32(0xffff_ffff) + be32(0xffff_ffff) + be32(0xffff_ffff))
        assertThrows(["overflow", "overflows"]) { _ = try IDX.readImages(path: ov) }
        let lab = dir.write("huge-labels", be32(0x0000_0801) + be32(4_000_000_000) + [1, 2])
        assertThrows(["huge-labels", "truncated at byte 10, expected 4000000000 bytes of labels"]) { _ = try IDX.readLabels(path: lab, classes: 10) }
        let labgz = dir.write("huge-labels.gz", be32(0x0000_0801) + be32(4_000_000_000) + [1, 2], gzip: true)
        assertThrows(["huge-labels.gz", "header claims 4000000000 labels", "can hold at most"]) { _ = try IDX.readLabels(path: labgz, classes: 10) }
    }

    func testCorruptGzip() {
        let dir = TempDir()
        var gz = try! Gzip.compress(IDX.encodeImages(makeImages(50, 8, 8), count: 50, rows: 8, cols: 8))
        for i in 12..<min(40, gz.count - 8) { gz[i] ^= 0x5a }
        let p = dir.write("corrupt.gz", gz)
        assertThrows(["corrupt.gz", "corrupt gzip stream"]) { _ = try IDX.readImages(path: p) }
        // Damaged CRC trailer: the data decodes but the checksum fails.
        var crc = try! Gzip.compress(IDX.encodeLabels([1, 2, 3, 4]))
        crc[crc.count - 6] ^= 0xff
        let q = dir.write("crc.gz", crc)
        assertThrows(["crc.gz", "corrupt gzip stream", "incorrect data check"]) { _ = try IDX.readLabels(path: q, classes: 10) }
    }

    func testMissingFile() {
        let dir = TempDir()
        let p = dir.url.appendingPathComponent("nope-images").path
        assertThrows([p, "missing file"]) { _ = try IDX.readImages(path: p) }
        assertThrows(["train-images-idx3-ubyte.gz", "missing file", "train-images-idx3-ubyte)"]) {
            _ = try ImageDataset.fashionMNIST(directory: dir.url.path, split: .train)
        }
    }

    func testMNISTLayoutAcceptsRawNames() throws {
        let dir = TempDir()
        _ = dir.write("t10k-images-idx3-ubyte", IDX.encodeImages(makeImages(3, 28, 28), count: 3, rows: 28, cols: 28))
        _ = dir.write("t10k-labels-idx1-ubyte.gz", IDX.encodeLabels([4, 5, 6]), gzip: true)
        let d = try ImageDataset.fashionMNIST(directory: dir.url.path, split: .test)
        XCTAssertEqual(d.count, 3)
        XCTAssertEqual(d.labels, [4, 5, 6])
        let one = try ImageDataset.fashionMNIST(directory: dir.url.path, split: .test, limit: 1)
        XCTAssertEqual(one.count, 1)
    }

    func testRealFashionMNIST() throws {
        let dir = ImageDataset.defaultFashionMNISTDirectory
        guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("\(dir) not present") }
        let train = try ImageDataset.fashionMNIST(split: .train)
        XCTAssertEqual(train.count, 60000)
        XCTAssertEqual([train.channels, train.height, train.width], [1, 28, 28])
        XCTAssertEqual(Set(train.labels), Set(0..<10))
        XCTAssertEqual(train.pixels.count, 60000 * 784)
        // the mean pixel matches the published normalisation constant
        var sum = 0
        for p in train.pixels { sum += Int(p) }
        XCTAssertEqual(Double(sum) / Double(train.pixels.count) / 255, 0.2860, accuracy: 0.001)
        let test = try ImageDataset.fashionMNIST(split: .test, limit: 100)
        XCTAssertEqual(test.count, 100)
    }
}
