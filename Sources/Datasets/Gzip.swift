import CZlib
import Foundation

// Byte sources for dataset files: a raw file held in memory, or a gzip stream
// inflated incrementally with zlib so that a header claiming more data than the
// stream holds is caught by truncation, never by a huge allocation.

/// Reads bytes sequentially from a file, transparently inflating gzip (decided by
/// the magic bytes 1f 8b, not by the name).
final class ByteSource {
    let path: String
    let name: String
    let isGzip: Bool
    /// Size of the file on disk.
    let fileSize: Int
    /// Bytes delivered so far (offset in the decompressed stream).
    private(set) var offset: Int = 0

    private let raw: Data
    private var strm: UnsafeMutablePointer<z_stream>?
    private var input: UnsafeMutablePointer<UInt8>?
    private var streamEnded = false
    private var inputExhausted = false

    init(path: String) throws {
        self.path = path
        self.name = (path as NSString).lastPathComponent
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DataError(file: path, "missing file (no such file)")
        }
        if isDir.boolValue { throw DataError(file: path, "is a directory, expected a file") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw DataError(file: path, "cannot read file: \(error.localizedDescription)")
        }
        self.raw = data
        self.fileSize = data.count
        self.isGzip = data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
        if isGzip {
            let input = UnsafeMutablePointer<UInt8>.allocate(capacity: data.count)
            data.copyBytes(to: input, count: data.count)
            self.input = input
            let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            s.initialize(to: z_stream())
            s.pointee.next_in = input
            s.pointee.avail_in = uInt(data.count)
            guard data.count <= Int(UInt32.max), gdqr_inflate_init2(s, 15 + 16) == Z_OK else {
                s.deinitialize(count: 1); s.deallocate(); input.deallocate(); self.input = nil
                throw DataError(file: name, "cannot initialise gzip decoder")
            }
            self.strm = s
        }
    }

    deinit {
        if let s = strm { inflateEnd(s); s.deinitialize(count: 1); s.deallocate() }
        input?.deallocate()
    }

    /// Upper bound of how many bytes this source can still deliver (for raw
    /// files exact; for gzip the DEFLATE expansion limit, about 1032:1).
    var maxRemaining: Int {
        if !isGzip { return fileSize - offset }
        let remainingIn = Int(strm?.pointee.avail_in ?? 0)
        return streamEnded ? 0 : remainingIn.multipliedReportingOverflow(by: 1032).partialValue + 1 << 16
    }

    /// Reads up to `count` bytes into `dst`; returns how many were read (fewer
    /// only at the end of the data).
    func read(into dst: UnsafeMutableRawPointer, count: Int) throws -> Int {
        if count == 0 { return 0 }
        if !isGzip {
            let n = min(count, fileSize - offset)
            if n > 0 {
                raw.withUnsafeBytes { src in
                    dst.copyMemory(from: src.baseAddress! + offset, byteCount: n)
                }
            }
            offset += n
            return n
        }
        guard let s = strm else { return 0 }
        var done = 0
        while done < count && !streamEnded {
            let chunk = min(count - done, Int(UInt32.max / 2))
            s.pointee.next_out = (dst + done).assumingMemoryBound(to: UInt8.self)
            s.pointee.avail_out = uInt(chunk)
            let before = s.pointee.avail_out
            let rc = inflate(s, Z_NO_FLUSH)
            let produced = Int(before - s.pointee.avail_out)
            done += produced
            offset += produced
            switch rc {
            case Z_STREAM_END:
                streamEnded = true
            case Z_OK:
                break
            case Z_BUF_ERROR:
                // No progress possible: the compressed input ran out mid-stream.
                if produced == 0 { inputExhausted = true; return done }
            default:
                let msg = s.pointee.msg.map { String(cString: $0) } ?? "error \(rc)"
                let at = Int(s.pointee.total_in)
                throw DataError(file: name, "corrupt gzip stream at compressed byte \(at): \(msg)")
            }
        }
        return done
    }

    /// Reads exactly `count` bytes or throws a truncation error describing `what`.
    func readExactly(into dst: UnsafeMutableRawPointer, count: Int, what: String) throws {
        let start = offset
        let n = try read(into: dst, count: count)
        if n < count {
            let gz = isGzip ? " (gzip stream ends early)" : ""
            throw DataError(file: name, "truncated at byte \(start + n), expected \(count) bytes of \(what) from byte \(start)\(gz)")
        }
    }

    /// Throws unless the data ends exactly here (and, for gzip, the stream's
    /// checksum verifies).
    func expectEnd(what: String) throws {
        var scratch = [UInt8](repeating: 0, count: 4096)
        let at = offset
        var extra = 0
        while true {
            let n = try scratch.withUnsafeMutableBytes { try read(into: $0.baseAddress!, count: $0.count) }
            extra += n
            if n == 0 || extra > 1 << 20 { break }
        }
        if extra > 0 {
            throw DataError(file: name, "\(extra > 1 << 20 ? "more than \(1 << 20)" : "\(extra)") unexpected trailing bytes at byte \(at), expected the data to end after the \(what)")
        }
        if isGzip && !streamEnded {
            throw DataError(file: name, "gzip stream truncated at compressed byte \(fileSize): the end of the stream (and its checksum) is missing")
        }
        if isGzip, let s = strm, s.pointee.avail_in > 0 {
            // Bytes after the gzip member (a second member or garbage).
            throw DataError(file: name, "\(s.pointee.avail_in) unexpected bytes after the end of the gzip stream at compressed byte \(s.pointee.total_in)")
        }
    }
}

/// gzip compression of an in-memory buffer (used to write test fixtures and
/// small artefacts).
public enum Gzip {
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var strm = z_stream()
        let rc = deflateInit2_(&strm, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw DataError(message: "gzip: deflateInit2 failed (\(rc))") }
        defer { deflateEnd(&strm) }
        let bound = Int(deflateBound(&strm, uLong(bytes.count))) + 64
        var out = [UInt8](repeating: 0, count: bound)
        var input = bytes
        let produced: Int = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                strm.next_in = inp.baseAddress
                strm.avail_in = uInt(inp.count)
                strm.next_out = o.baseAddress
                strm.avail_out = uInt(o.count)
                let r = deflate(&strm, Z_FINISH)
                return r == Z_STREAM_END ? o.count - Int(strm.avail_out) : -1
            }
        }
        guard produced >= 0 else { throw DataError(message: "gzip: deflate did not finish") }
        return Array(out[0..<produced])
    }
}
