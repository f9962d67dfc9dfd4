import Foundation
import CZlib

// Minimal PNG encoding (8-bit greyscale or RGB, no interlace) for the pictures a
// run writes: signature, IHDR, one zlib-compressed IDAT of filter-0 scanlines,
// IEND; each chunk with its CRC-32 (zlib's crc32, the polynomial PNG specifies).

public enum PNGWriter {
    /// `pixels` row-major, `channels` 1 (grey) or 3 (RGB) bytes per pixel.
    public static func encode(_ pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> [UInt8] {
        guard channels == 1 || channels == 3, width > 0, height > 0, pixels.count == width * height * channels else {
            throw DataError(message: "png: \(pixels.count) bytes for \(width)x\(height) with \(channels) channels")
        }
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (width * channels + 1))
        for y in 0..<height {
            raw.append(0)   // filter type 0: the scanline as is
            raw += pixels[(y * width * channels)..<((y + 1) * width * channels)]
        }
        var compressed = [UInt8](repeating: 0, count: Int(compressBound(uLong(raw.count))))
        var length = uLongf(compressed.count)
        let rc = compress2(&compressed, &length, raw, uLong(raw.count), 6)
        guard rc == Z_OK else { throw DataError(message: "png: zlib compress2 failed (\(rc))") }
        var header: [UInt8] = []
        be32(UInt32(width), &header); be32(UInt32(height), &header)
        header += [8, channels == 1 ? 0 : 2, 0, 0, 0]   // bit depth, colour type, compression, filter, interlace
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        chunk("IHDR", header, &out)
        chunk("IDAT", Array(compressed[0..<Int(length)]), &out)
        chunk("IEND", [], &out)
        return out
    }

    static func be32(_ v: UInt32, _ out: inout [UInt8]) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    static func chunk(_ type: String, _ data: [UInt8], _ out: inout [UInt8]) {
        be32(UInt32(data.count), &out)
        let typed = Array(type.utf8) + data
        out += typed
        be32(UInt32(crc32(0, typed, uInt(typed.count))), &out)
    }
}
