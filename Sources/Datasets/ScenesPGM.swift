import Foundation

// Binary PGM (netpbm "P5", 8-bit): the simplest grey image file every image tool
// reads. Scenes are written as PGM images and PGM class masks (value = class id).

public enum PGM {
    public static func encode(_ pixels: [UInt8], width: Int, height: Int) -> [UInt8] {
        precondition(pixels.count == width * height, "PGM: \(pixels.count) pixels for \(width)x\(height)")
        return Array("P5\n\(width) \(height)\n255\n".utf8) + pixels
    }

    public static func write(_ pixels: [UInt8], width: Int, height: Int, to path: String) throws {
        let data = Data(encode(pixels, width: width, height: height))
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw DataError(file: path, "cannot write: \(error.localizedDescription)")
        }
    }

    /// Decodes an 8-bit P5 file (maxval <= 255; comments allowed in the header).
    public static func decode(_ bytes: [UInt8], name: String) throws -> (pixels: [UInt8], width: Int, height: Int) {
        var i = 0
        func skipSpace() {
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "#") {
                    while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { i += 1 }
                } else if bytes[i] == 32 || (bytes[i] >= 9 && bytes[i] <= 13) {
                    i += 1
                } else { return }
            }
        }
        func number(_ what: String) throws -> Int {
            skipSpace()
            var v = 0, digits = 0
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57, digits < 9 {
                v = v * 10 + Int(bytes[i] - 48); i += 1; digits += 1
            }
            if digits == 0 { throw DataError(file: name, "PGM header: expected the \(what) as a decimal number at byte \(i)") }
            return v
        }
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "5") else {
            throw DataError(file: name, "not a binary PGM file: expected magic P5")
        }
        i = 2
        let w = try number("width"), h = try number("height"), maxval = try number("maximum value")
        if w == 0 || h == 0 { throw DataError(file: name, "PGM size \(w)x\(h) is empty") }
        if maxval == 0 || maxval > 255 { throw DataError(file: name, "PGM maximum value \(maxval), expected 1...255 (8-bit)") }
        guard i < bytes.count, bytes[i] == 32 || (bytes[i] >= 9 && bytes[i] <= 13) else {
            throw DataError(file: name, "PGM header: expected one whitespace byte after the maximum value")
        }
        i += 1
        if bytes.count - i != w * h {
            throw DataError(file: name, "PGM \(w)x\(h) needs \(w * h) pixel bytes, file has \(bytes.count - i)")
        }
        return (Array(bytes[i...]), w, h)
    }

    public static func read(path: String) throws -> (pixels: [UInt8], width: Int, height: Int) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read file")
        }
        return try decode([UInt8](data), name: path)
    }
}
