// A thin wrapper over libzstd's one-shot API. Compression is single-threaded, so
// the same input and level always give the same bytes (checkpoints are
// deterministic). Decompression is told the exact size to expect and never
// allocates more than the caller's cap: a frame that claims or produces more is
// an error, not an allocation.

import CZstd

public struct ZstdError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public enum Zstd {
    /// zstd's block format cannot expand data more than this: a block holds at most
    /// 128 KiB and costs at least 4 bytes (3-byte header + 1 byte of an RLE block).
    public static let maxExpansionRatio = 32_768

    public static var versionString: String { String(cString: ZSTD_versionString()) }

    static func errorName(_ code: Int) -> String { String(cString: ZSTD_getErrorName(code)) }

    /// Worst-case compressed size of `n` bytes.
    public static func compressBound(_ n: Int) -> Int { ZSTD_compressBound(n) }

    /// Compresses `src` at `level` into a new array (one frame, content size recorded).
    public static func compress(_ src: UnsafeRawBufferPointer, level: Int) throws -> [UInt8] {
        var out = [UInt8]()
        try compress(src, level: level, into: &out)
        return out
    }

    /// Compresses into `out` (replacing its contents, reusing its capacity).
    public static func compress(_ src: UnsafeRawBufferPointer, level: Int, into out: inout [UInt8]) throws {
        guard let cctx = ZSTD_createCCtx() else { throw ZstdError("zstd: cannot create a compression context") }
        defer { ZSTD_freeCCtx(cctx) }
        let bound = ZSTD_compressBound(src.count)
        if ZSTD_isError(bound) != 0 { throw ZstdError("zstd: input of \(src.count) bytes too large: \(errorName(bound))") }
        out.removeAll(keepingCapacity: true)
        var err: Int = 0
        out = [UInt8](unsafeUninitializedCapacity: bound) { buf, count in
            // An empty source has no base address; zstd accepts NULL with size 0.
            let r = ZSTD_compressCCtx(cctx, buf.baseAddress, bound, src.baseAddress, src.count, Int32(level))
            if ZSTD_isError(r) != 0 { err = r; count = 0 } else { count = r }
        }
        if err != 0 { throw ZstdError("zstd: compression failed: \(errorName(err))") }
    }

    /// The content size recorded in a frame header, or nil if absent or invalid.
    public static func frameContentSize(_ src: UnsafeRawBufferPointer) -> UInt64? {
        guard src.count > 0 else { return nil }
        let n = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        if n == gdqr_zstd_contentsize_error() || n == gdqr_zstd_contentsize_unknown() { return nil }
        return UInt64(n)
    }

    /// Decompresses one frame into `dst`, which must be exactly the content size.
    /// Fails if the frame records another size, holds more or less data, or is corrupt.
    public static func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws {
        guard src.count > 0 else { throw ZstdError("zstd: empty input, expected a frame") }
        let declared = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        if declared == gdqr_zstd_contentsize_error() {
            throw ZstdError("zstd: not a valid zstd frame header")
        }
        if declared != gdqr_zstd_contentsize_unknown() && declared != UInt64(dst.count) {
            throw ZstdError("zstd: frame holds \(declared) bytes, expected \(dst.count)")
        }
        // The one-shot decoder needs the frame to end exactly at the end of src.
        let frame = ZSTD_findFrameCompressedSize(src.baseAddress, src.count)
        if ZSTD_isError(frame) != 0 { throw ZstdError("zstd: \(errorName(frame))") }
        if frame != src.count { throw ZstdError("zstd: \(src.count - frame) bytes after the frame") }
        var scratch: UInt8 = 0
        let r = withUnsafeMutableBytes(of: &scratch) { s in
            ZSTD_decompress(dst.baseAddress ?? s.baseAddress!, dst.count, src.baseAddress, src.count)
        }
        if ZSTD_isError(r) != 0 { throw ZstdError("zstd: \(errorName(r))") }
        if r != dst.count { throw ZstdError("zstd: frame decoded to \(r) bytes, expected \(dst.count)") }
    }

    /// Decompresses one frame expected to hold `contentSize` bytes, refusing anything
    /// above `maxOutput` before allocating.
    public static func decompress(_ src: UnsafeRawBufferPointer, contentSize: Int, maxOutput: Int) throws -> [UInt8] {
        guard contentSize >= 0, contentSize <= maxOutput else {
            throw ZstdError("zstd: content size \(contentSize) exceeds the limit of \(maxOutput) bytes")
        }
        var err: Error?
        let out = [UInt8](unsafeUninitializedCapacity: contentSize) { buf, count in
            do { try decompress(src, into: UnsafeMutableRawBufferPointer(buf)); count = contentSize } catch { err = error; count = 0 }
        }
        if let err { throw err }
        return out
    }
}
