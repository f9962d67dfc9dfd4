// PNG and JPEG files to 8-bit pixels, through libpng and libjpeg-turbo (the C shims
// in Sources/CPNG and Sources/CJPEG hold the setjmp error handling). The format is
// taken from the file's first bytes and must agree with its extension, so a
// mislabelled file is reported rather than silently decoded as something else.
// Every failure is a DataError naming the file; nothing here exits or traps.

import Foundation
import CPNG
import CJPEG

/// Decoded pixels: `height` rows of `width` pixels, `channels` (1 grey, 3 RGB)
/// interleaved bytes each. Owns a buffer from the C decoder.
public final class DecodedImage {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let pixels: UnsafeMutablePointer<UInt8>

    init(width: Int, height: Int, channels: Int, pixels: UnsafeMutablePointer<UInt8>) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    deinit { free(pixels) }

    /// The pixels as an array (tests).
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: pixels, count: width * height * channels)) }
}

public enum ImageFormat: String, Sendable {
    case png = "PNG", jpeg = "JPEG"

    /// The format a file name's extension claims (case-insensitive), nil for others.
    public static func fromExtension(_ path: String) -> ImageFormat? {
        switch (path as NSString).pathExtension.lowercased() {
        case "png": return .png
        case "jpg", "jpeg": return .jpeg
        default: return nil
        }
    }

    /// What the first bytes say: PNG, JPEG, or the name of another known format.
    static func sniff(_ p: UnsafeRawBufferPointer) -> (ImageFormat?, String) {
        let b = Array(p.prefix(12))
        func starts(_ s: [UInt8]) -> Bool { b.count >= s.count && Array(b.prefix(s.count)) == s }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return (.png, "PNG") }
        if starts([0xFF, 0xD8, 0xFF]) { return (.jpeg, "JPEG") }
        if starts(Array("GIF8".utf8)) { return (nil, "GIF") }
        if starts(Array("BM".utf8)) { return (nil, "BMP") }
        if starts(Array("RIFF".utf8)) && b.count >= 12 && Array(b[8..<12]) == Array("WEBP".utf8) { return (nil, "WebP") }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return (nil, "TIFF") }
        if b.isEmpty { return (nil, "an empty file") }
        return (nil, "unrecognised data (first bytes " + b.prefix(4).map { String(format: "%02X", $0) }.joined(separator: " ") + ")")
    }
}

public enum ImageDecoder {
    /// Images above this many pixels are refused before decoding (a corrupt header
    /// must not make us allocate gigabytes).
    public static let defaultMaxPixels = 64 * 1024 * 1024

    /// Reads and decodes a PNG or JPEG file. `buffer` is scratch for the file's
    /// bytes, reused between calls by one thread. `paletteIndices`: a palette PNG gives
    /// its indices (one channel; class masks) instead of its colours.
    public static func decode(file path: String, buffer: inout [UInt8],
                              maxPixels: Int = defaultMaxPixels, paletteIndices: Bool = false) throws -> DecodedImage {
        let n = try readFile(path, into: &buffer)
        return try buffer.withUnsafeBytes { raw in
            try decode(UnsafeRawBufferPointer(rebasing: raw[0..<n]), name: path, maxPixels: maxPixels,
                       paletteIndices: paletteIndices)
        }
    }

    /// Decodes bytes held in memory; `name` is used in messages and for the
    /// extension check (a name without a PNG/JPEG extension skips that check).
    public static func decode(_ data: UnsafeRawBufferPointer, name: String,
                              maxPixels: Int = defaultMaxPixels, paletteIndices: Bool = false) throws -> DecodedImage {
        let (format, what) = ImageFormat.sniff(data)
        guard let format else {
            throw DataError(file: name, "unsupported image format: \(what); expected PNG or JPEG")
        }
        if let claimed = ImageFormat.fromExtension(name), claimed != format {
            throw DataError(file: name, "mislabelled image: the extension says \(claimed.rawValue) but the data is \(format.rawValue)")
        }
        var out: UnsafeMutablePointer<UInt8>?
        var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
        var err = [CChar](repeating: 0, count: 512)
        let base = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let rc: Int32 = err.withUnsafeMutableBufferPointer { e in
            switch format {
            case .png:
                return gdqr_png_decode(base, data.count, UInt(maxPixels), paletteIndices ? 1 : 0, &out, &w, &h, &c, e.baseAddress!, e.count)
            case .jpeg:
                return gdqr_jpeg_decode(base, data.count, UInt(maxPixels), &out, &w, &h, &c, e.baseAddress!, e.count)
            }
        }
        guard rc == 0, let pixels = out else {
            let message = String(cString: err)
            throw DataError(file: name, "cannot decode \(format.rawValue): \(message)")
        }
        return DecodedImage(width: Int(w), height: Int(h), channels: Int(c), pixels: pixels)
    }

    /// Reads a whole file into `buffer` (grown when needed); returns its length.
    static func readFile(_ path: String, into buffer: inout [UInt8]) throws -> Int {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DataError(file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        if buffer.count < size { buffer = [UInt8](repeating: 0, count: size) }
        var done = 0
        while done < size {
            let r = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if r < 0 {
                if errno == EINTR { continue }
                throw DataError(file: path, "read failed: \(String(cString: strerror(errno)))")
            }
            if r == 0 { break }   // the file shrank while we read it
            done += r
        }
        return done
    }
}
