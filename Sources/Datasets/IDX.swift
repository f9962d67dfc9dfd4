import Foundation

// The IDX format of MNIST and Fashion-MNIST: a big-endian 32-bit magic
// (0x00 0x00 type ndims; type 0x08 = unsigned byte), ndims big-endian 32-bit
// sizes, then the data row-major. Files may be gzip-compressed (detected by the
// magic bytes 1f 8b). Readers check everything and size their allocations by
// what the file can actually hold.

public enum IDX {
    public static let imagesMagic: UInt32 = 0x0000_0803
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Images of an IDX3 file: `count` images of rows x cols bytes, row-major.
    public struct Images {
        public var count: Int
        public var rows: Int
        public var cols: Int
        public var pixels: [UInt8]
        /// Number of images the file header declares (>= count when limited).
        public var declaredCount: Int
    }

    public struct Labels {
        public var labels: [UInt8]
        public var declaredCount: Int
    }

    static func header(_ src: ByteSource, magic expected: UInt32, kind: String) throws -> [Int] {
        let ndims = Int(expected & 0xff)
        let headerBytes = 4 + 4 * ndims
        var buf = [UInt8](repeating: 0, count: headerBytes)
        let n = try buf.withUnsafeMutableBytes { try src.read(into: $0.baseAddress!, count: headerBytes) }
        if n < 4 {
            throw DataError(file: src.name, "truncated header: \(n) bytes, expected \(headerBytes) bytes (magic and \(ndims) dimensions)")
        }
        let magic = be32(buf, 0)
        if magic != expected {
            var hint = ""
            if magic & 0xffff_0000 != 0 { hint = "; not an IDX file" }
            else if magic >> 8 != 0x08 { hint = String(format: "; element type 0x%02x is not unsigned byte (0x08)", (magic >> 8) & 0xff) }
            else if magic & 0xff != UInt32(ndims) { hint = "; \(magic & 0xff) dimensions, expected \(ndims)" }
            throw DataError(file: src.name, String(format: "bad magic 0x%08x, expected 0x%08x (%@)", magic, expected, kind) + hint)
        }
        if n < headerBytes {
            throw DataError(file: src.name, "truncated header: \(n) bytes, expected \(headerBytes) bytes (magic and \(ndims) dimensions)")
        }
        return (0..<ndims).map { Int(be32(buf, 4 + 4 * $0)) }
    }

    @inline(__always) static func be32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
    }

    /// Reads an IDX3 unsigned-byte image file. `limit` > 0 keeps only the first
    /// `limit` images (a gzip file is then only inflated that far; a raw file's
    /// full length is still checked).
    public static func readImages(path: String, limit: Int = 0) throws -> Images {
        let src = try ByteSource(path: path)
        let dims = try header(src, magic: imagesMagic, kind: "images")
        let (n, rows, cols) = (dims[0], dims[1], dims[2])
        if rows == 0 || cols == 0 {
            throw DataError(file: src.name, "image size \(rows)x\(cols) is empty, expected positive height and width")
        }
        let (perImage, o1) = rows.multipliedReportingOverflow(by: cols)
        let (_, o2) = perImage.multipliedReportingOverflow(by: n)
        if o1 || o2 {
            throw DataError(file: src.name, "header claims \(n) images of \(rows)x\(cols), a size that overflows")
        }
        let keep = limit > 0 ? min(limit, n) : n
        let pixels = try readRecords(src, count: n, keep: keep, recordBytes: perImage, headerBytes: 16,
                                     noun: "pixels") { "\($0) images of \(rows)x\(cols)" }
        return Images(count: keep, rows: rows, cols: cols, pixels: pixels, declaredCount: n)
    }

    /// Reads an IDX1 unsigned-byte label file; every label must be < `classes`.
    public static func readLabels(path: String, classes: Int, limit: Int = 0) throws -> Labels {
        let src = try ByteSource(path: path)
        let n = try header(src, magic: labelsMagic, kind: "labels")[0]
        let keep = limit > 0 ? min(limit, n) : n
        let labels = try readRecords(src, count: n, keep: keep, recordBytes: 1, headerBytes: 8,
                                     noun: "labels") { "\($0) labels" }
        for (i, l) in labels.enumerated() where Int(l) >= classes {
            throw DataError(file: src.name, "label \(l) at index \(i) (byte \(8 + i)) is out of range, expected 0..<\(classes) for \(classes) classes")
        }
        return Labels(labels: labels, declaredCount: n)
    }

    /// The first `keep` of the `count` records of `recordBytes` bytes that follow the header
    /// (`count * recordBytes` must not overflow). The sizes are checked before anything is
    /// allocated, so a header that lies cannot make us allocate more than the file holds: a
    /// raw file must hold every record (its full length is checked), a gzip file, inflated
    /// only as far as needed, the kept ones. When every record is read the file must end
    /// there. Messages call the bytes `noun` ("pixels") and `records(k)` describes k records
    /// ("k images of 28x28").
    private static func readRecords(_ src: ByteSource, count n: Int, keep: Int, recordBytes: Int, headerBytes: Int,
                                    noun: String, records: (Int) -> String) throws -> [UInt8] {
        let total = n * recordBytes, want = keep * recordBytes
        if !src.isGzip && total > src.maxRemaining {
            throw DataError(file: src.name, "truncated at byte \(src.fileSize), expected \(total) bytes of \(noun) (\(records(n))) from byte \(headerBytes)")
        }
        if src.isGzip && want > src.maxRemaining {
            throw DataError(file: src.name, "header claims \(records(n)) (\(total) bytes of \(noun)) but a gzip file of \(src.fileSize) bytes can hold at most \(src.maxRemaining): truncated or corrupt")
        }
        var bytes = [UInt8](repeating: 0, count: want)
        try bytes.withUnsafeMutableBytes {
            try src.readExactly(into: $0.baseAddress!, count: want, what: "\(noun) (\(records(keep)))")
        }
        if keep == n { try src.expectEnd(what: records(n)) }
        return bytes
    }

    /// Serialises images as an IDX3 file (raw bytes; gzip them with `Gzip.compress`).
    public static func encodeImages(_ pixels: [UInt8], count: Int, rows: Int, cols: Int) -> [UInt8] {
        var out = beBytes(imagesMagic) + beBytes(UInt32(count)) + beBytes(UInt32(rows)) + beBytes(UInt32(cols))
        out += pixels
        return out
    }

    public static func encodeLabels(_ labels: [UInt8]) -> [UInt8] {
        beBytes(labelsMagic) + beBytes(UInt32(labels.count)) + labels
    }

    static func beBytes(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }
}
