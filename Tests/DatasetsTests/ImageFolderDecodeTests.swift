import Foundation
import XCTest
@testable import Datasets

// The PNG / JPEG decoders and the resampler against Pillow: Tests/fixtures/images holds
// small files written by Tests/fixtures/make_image_fixtures.py and pixels.json, the
// pixels Pillow 13.0 (libjpeg-turbo 3.2) decodes from them and its antialiased
// bilinear resizes of a few boxes. Bad files must give a DataError naming the file.
final class ImageFolderDecodeTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/images").path

    struct Reference: Decodable {
        struct File: Decodable {
            let width: Int, height: Int, channels: Int
            let pixels: [Int]
            let luma: [Int]?
        }
        struct Resize: Decodable {
            let file: String, plane: Int, box: [Double], size: Int, pixels: [Int]
        }
        let files: [String: File]
        let resize: [Resize]
    }

    static func reference() throws -> Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/pixels.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    func decode(_ name: String) throws -> DecodedImage {
        var buffer: [UInt8] = []
        return try ImageDecoder.decode(file: Self.fixtures + "/" + name, buffer: &buffer)
    }

    /// PNG: every colour type Pillow wrote (RGB, grey, RGBA and grey+alpha with the
    /// alpha dropped, palette, 1-bit) decodes to exactly Pillow's convert("L"/"RGB") bytes.
    func testPNGMatchesPillowExactly() throws {
        let ref = try Self.reference()
        let pngs = ref.files.keys.filter { $0.hasSuffix(".png") }.sorted()
        XCTAssertEqual(pngs.count, 6)
        for name in pngs {
            let r = ref.files[name]!, img = try decode(name)
            XCTAssertEqual([img.width, img.height, img.channels], [r.width, r.height, r.channels], name)
            XCTAssertEqual(img.bytes.map(Int.init), r.pixels, name)
        }
    }

    /// JPEG: libjpeg-turbo through the shim against Pillow's libjpeg-turbo 3.2, both
    /// with the islow DCT and fancy upsampling. Measured: identical bytes (largest
    /// difference 0) for 4:2:0, 4:4:4 and grey; the assertion allows none.
    func testJPEGMatchesPillow() throws {
        let ref = try Self.reference()
        for name in ["rgb-13x11-q90.jpg", "gray-10x7.jpg", "rgb-32x24-q75-444.jpg"] {
            let r = ref.files[name]!, img = try decode(name)
            XCTAssertEqual([img.width, img.height, img.channels], [r.width, r.height, r.channels], name)
            let diff = zip(img.bytes, r.pixels).map { abs(Int($0) - $1) }.max() ?? -1
            XCTAssertEqual(diff, 0, "\(name): largest pixel difference to Pillow")
        }
    }

    /// RGB to grey follows PIL's convert("L") (ITU-R 601 weights in 16-bit fixed point).
    func testGreyConversionMatchesPillow() throws {
        let ref = try Self.reference()
        for name in ["rgb-7x5.png", "rgb-13x11-q90.jpg"] {
            let img = try decode(name)
            var planes: [UInt8] = []
            XCTAssertEqual(planarPixels(img, channels: 1, into: &planes), 1)
            XCTAssertEqual(Array(planes.prefix(img.width * img.height)).map(Int.init), ref.files[name]!.luma!, name)
        }
    }

    /// The resampler against PIL's Image.resize(box=) with BILINEAR: PIL rounds its
    /// horizontal pass to 8 bits, we keep it in Float, so values may differ by one
    /// level. Measured largest difference: 1 (on the fractional box); allowed: 1.
    func testResampleMatchesPillowWithinOneLevel() throws {
        let ref = try Self.reference()
        var worst = 0
        for r in ref.resize {
            let img = try decode(r.file)
            var planes: [UInt8] = []
            _ = planarPixels(img, channels: 3, into: &planes)
            let plane = Array(planes[(r.plane * img.width * img.height)..<((r.plane + 1) * img.width * img.height)])
            var out = [UInt8](repeating: 0, count: r.size * r.size)
            var rs = ImageResampler()
            let box = SourceBox(x: r.box[0], y: r.box[1], width: r.box[2] - r.box[0], height: r.box[3] - r.box[1])
            plane.withUnsafeBufferPointer { p in
                out.withUnsafeMutableBufferPointer { o in
                    rs.resample(p.baseAddress!, planes: 1, width: img.width, height: img.height, box: box,
                                outSize: r.size, outChannels: 1, into: o.baseAddress!)
                }
            }
            let d = zip(out, r.pixels).map { abs(Int($0) - $1) }.max()!
            XCTAssertLessThanOrEqual(d, 1, "\(r.file) box \(r.box) -> \(r.size)")
            worst = max(worst, d)
        }
        // A resampler that ignored the box or the filter would be far off; make sure the
        // references are not trivially equal to a plain crop.
        XCTAssertLessThanOrEqual(worst, 1)
    }

    /// A pixel-aligned box of the output's size is copied exactly (the IDX-equivalent path).
    func testAlignedBoxIsACopy() {
        let w = 9, h = 7, src = (0..<(w * h)).map { UInt8(($0 * 37) & 255) }
        var out = [UInt8](repeating: 0, count: 3 * 5 * 5)
        var rs = ImageResampler()
        src.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                rs.resample(p.baseAddress!, planes: 1, width: w, height: h, box: SourceBox(x: 3, y: 1, width: 5, height: 5),
                            outSize: 5, outChannels: 3, into: o.baseAddress!)
            }
        }
        for c in 0..<3 {
            for y in 0..<5 {
                for x in 0..<5 { XCTAssertEqual(out[c * 25 + y * 5 + x], src[(y + 1) * w + x + 3]) }
            }
        }
    }

    // MARK: Bad files: an error naming the file, never a crash

    func assertDecodeError(_ bytes: [UInt8], name: String, contains text: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        let path = NSTemporaryDirectory() + "gdqr-decode-\(ProcessInfo.processInfo.processIdentifier)-" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var buffer: [UInt8] = []
        XCTAssertThrowsError(try ImageDecoder.decode(file: path, buffer: &buffer), file: file, line: line) { e in
            let m = (e as? DataError)?.message ?? "\(e)"
            XCTAssertTrue(m.hasPrefix(path + ": "), "message does not start with the file: \(m)", file: file, line: line)
            XCTAssertTrue(m.contains(text), "message lacks '\(text)': \(m)", file: file, line: line)
        }
    }

    func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/" + name)))
    }

    func testTruncatedAndCorruptFiles() throws {
        let png = try fixtureBytes("rgb-7x5.png"), jpg = try fixtureBytes("rgb-13x11-q90.jpg")
        assertDecodeError(Array(png.prefix(60)), name: "cut.png", contains: "truncated file")
        assertDecodeError(Array(png.prefix(8)), name: "sig-only.png", contains: "cannot decode PNG")
        var crc = png
        crc[20] ^= 0xFF   // inside IHDR: its CRC no longer matches
        assertDecodeError(crc, name: "crc.png", contains: "cannot decode PNG: IHDR: CRC error")
        // Cut inside the header (no scan), and inside the entropy-coded scan: libjpeg's
        // warning for the latter (it would pad with grey) is an error here.
        assertDecodeError(Array(jpg.prefix(jpg.count / 2)), name: "cut.jpg", contains: "cannot decode JPEG: Invalid JPEG file structure: missing SOS marker")
        assertDecodeError(Array(jpg.prefix(jpg.count - 80)), name: "cut-scan.jpg", contains: "cannot decode JPEG: corrupt JPEG data: Premature end of JPEG file")
        var bad = jpg
        for i in 4..<40 { bad[i] = 0x11 }   // the markers after SOI become garbage
        assertDecodeError(bad, name: "garbage.jpg", contains: "cannot decode JPEG")
        assertDecodeError([], name: "empty.png", contains: "unsupported image format: an empty file")
    }

    func testMislabelledAndUnsupportedFiles() throws {
        let png = try fixtureBytes("gray-5x9.png"), jpg = try fixtureBytes("gray-10x7.jpg")
        assertDecodeError(jpg, name: "photo.png", contains: "mislabelled image: the extension says PNG but the data is JPEG")
        assertDecodeError(png, name: "photo.jpeg", contains: "mislabelled image: the extension says JPEG but the data is PNG")
        assertDecodeError(Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0], name: "anim.png", contains: "unsupported image format: GIF")
        assertDecodeError(Array("hello, world".utf8), name: "notes.jpg", contains: "unrecognised data (first bytes 68 65 6C 6C)")
        // A declared size above the limit is refused before the pixels are allocated.
        var buffer: [UInt8] = []
        XCTAssertThrowsError(try ImageDecoder.decode(file: Self.fixtures + "/rgb-32x24-q75-444.jpg", buffer: &buffer,
                                                     maxPixels: 100)) { e in
            XCTAssertTrue("\(e)".contains("image of 32 x 24 pixels exceeds the limit of 100 pixels"), "\(e)")
        }
        XCTAssertThrowsError(try ImageDecoder.decode(file: Self.fixtures + "/gray-5x9.png", buffer: &buffer, maxPixels: 44)) { e in
            XCTAssertTrue("\(e)".contains("image of 5 x 9 pixels exceeds the limit of 44 pixels"), "\(e)")
        }
        XCTAssertThrowsError(try ImageDecoder.decode(file: Self.fixtures + "/missing.png", buffer: &buffer)) { e in
            XCTAssertTrue("\(e)".contains("missing.png: cannot open: No such file or directory"), "\(e)")
        }
    }
}
