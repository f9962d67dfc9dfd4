// The checkpoint file, `step-NNNNNNNN.gdqrckpt`, format version 1. All integers
// little-endian.
//
//   0        8  magic "GDQRCKPT"
//   8        4  u32 format version (1)
//   12       8  u64 header length H (at most 64 MiB)
//   20       4  u32 CRC-32C of the H header bytes
//   24       H  JSON header, UTF-8 (CheckpointHeader.swift): run state, the section
//               table (name, dtype f32, count, byte_shuffled, offset, compressed_length,
//               uncompressed_length, crc32c of the uncompressed floats) and the tensor
//               table (name, section, offset, count, shape)
//   24+H        the sections: one zstd frame each, in table order, back to back
//   end-16   4  u32 CRC-32C of every byte before the trailer
//   end-12   4  u32 reserved, zero
//   end-8    8  end magic "GDQR_END"
//
// Reader rules (a file is data, never trusted): the header length is capped; the
// sections must tile the bytes between header and trailer exactly; a section's
// uncompressed length must be 4 x its count and at most 32768 x its compressed
// length (zstd cannot expand more: Zstd.maxExpansionRatio), and the sections
// together may expand to at most max(1 GiB, 64 x the file size), so no allocation
// exceeds what the file can justify; the tensor table must lie inside its sections
// with shapes matching counts. Sections are read one at a time with pread, each
// frame's recorded size must equal the table's, and three checksums are checked:
// header, the trailer (over every byte before it, checked before any section is
// decompressed, so a damaged file is called corrupt) and each section (after
// decompression and unshuffling, for a file forged with a matching trailer).

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

public enum CheckpointFile {
    public static let magic: [UInt8] = Array("GDQRCKPT".utf8)
    public static let endMagic: [UInt8] = Array("GDQR_END".utf8)
    public static let formatVersion = 1
    public static let prefixSize = 24
    public static let trailerSize = 16
    public static let maxHeaderBytes = 64 << 20
    /// Total uncompressed bytes allowed: max(floor, factor x file size).
    public static let expansionFloor = 1 << 30
    public static let expansionFactor = 64
    public static let fileExtension = "gdqrckpt"

    // MARK: writing

    /// Serialises `contents`: sections compressed at `level`, byte-shuffled if `shuffle`.
    /// Same contents and options give identical bytes.
    public static func encode(_ contents: CheckpointContents, level: Int = 1, shuffle: Bool = true,
                              file: String = "<memory>") throws -> [UInt8] {
        var out = [UInt8]()
        _ = try encodeParts(contents, level: level, shuffle: shuffle, file: file) { out += $0 }
        return out
    }

    /// Writes `contents` atomically: a temporary file in the same directory, fsync,
    /// rename over `path`, fsync of the directory. Returns the header written.
    @discardableResult
    public static func write(_ contents: CheckpointContents, to path: String, level: Int = 1,
                             shuffle: Bool = true) throws -> CheckpointHeader {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CheckpointError(file: path, storage: true, "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var tmpOpen = true  // until closed: an error thrown while open removes the temporary file
        defer {
            if tmpOpen { close(fd); unlink(tmp) }
        }
        var failure: Int32?
        var total = 0, written = 0
        let header = try encodeParts(contents, level: level, shuffle: shuffle, file: path) { bytes in
            total += bytes.count
            // After a failure the rest is still encoded (not written), so that the
            // message can say how many bytes the whole file needs.
            guard failure == nil else { return }
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + done, bytes.count - done) }
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
                written += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = errno }
        if let failure {
            // Removed before the message is made, so that the free space it states is real.
            close(fd); unlink(tmp); tmpOpen = false
            throw CheckpointError(file: path, storage: true, writeFailure(failure, directory: dir, needed: total, written: written))
        }
        tmpOpen = false
        close(fd)
        // Fault injection for the crash tests: die between the complete temporary
        // file and the rename, the moment a crash must not cost the last good file.
        if let name = ProcessInfo.processInfo.environment["GDQR_FAULT_KILL_BEFORE_RENAME"],
           url.lastPathComponent == name {
            kill(getpid(), SIGKILL)
        }
        guard rename(tmp, path) == 0 else {
            let msg = String(cString: strerror(errno))
            unlink(tmp)
            throw CheckpointError(file: path, storage: true, "rename from \(tmp) failed: \(msg)")
        }
        syncDirectory(dir)
        return header
    }

    /// The reason for a failed write. On a full device (or quota) it states the
    /// bytes the file needs and the bytes free, so that the user knows how much to
    /// clear; the temporary file has been removed and no checkpoint was replaced.
    static func writeFailure(_ err: Int32, directory dir: String, needed: Int, written: Int) -> String {
        var reason = "write failed: \(String(cString: strerror(err)))"
        if err == ENOSPC || err == EDQUOT {
            var fs = statvfs()
            let free = statvfs(dir, &fs) == 0 ? Int(fs.f_bavail) * Int(fs.f_frsize) : -1
            reason += " in \(dir): the checkpoint needs \(needed) bytes, \(written) were written before the device filled"
            if free >= 0 { reason += ", \(free) bytes are free" }
        }
        return reason + "; the partial file was removed and the previous checkpoint is kept"
    }

    static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Validates, compresses and emits the file in order through `emit`.
    static func encodeParts(_ c: CheckpointContents, level: Int, shuffle: Bool, file: String,
                            emit: ([UInt8]) -> Void) throws -> CheckpointHeader {
        var names = Set<String>()
        for s in c.sections where !names.insert(s.name).inserted {
            throw CheckpointError(file: file, section: s.name, "duplicate section name '\(s.name)'")
        }
        var tensorNames = Set<String>()
        for t in c.tensors {
            guard tensorNames.insert(t.name).inserted else { throw CheckpointError(file: file, "duplicate tensor name '\(t.name)'") }
            guard let s = c.sections.first(where: { $0.name == t.section }) else {
                throw CheckpointError(file: file, "tensor '\(t.name)' refers to a missing section '\(t.section)'")
            }
            try checkTensor(t, sectionCount: s.floats.count, file: file)
        }
        var frames: [[UInt8]] = []
        var infos: [CheckpointSectionInfo] = []
        var scratch = [UInt8]()
        for s in c.sections {
            let crc = s.floats.withUnsafeBytes { CRC32C.checksum($0) }
            var frame = [UInt8]()
            if shuffle && !s.floats.isEmpty {
                if scratch.count < 4 * s.floats.count { scratch = [UInt8](repeating: 0, count: 4 * s.floats.count) }
                s.floats.withUnsafeBytes { ByteShuffle.shuffle($0.baseAddress!, count: s.floats.count, into: &scratch) }
                try scratch.withUnsafeBytes { try Zstd.compress(UnsafeRawBufferPointer(rebasing: $0[0..<(4 * s.floats.count)]), level: level, into: &frame) }
            } else {
                try s.floats.withUnsafeBytes { try Zstd.compress($0, level: level, into: &frame) }
            }
            infos.append(CheckpointSectionInfo(name: s.name, dtype: "f32", count: s.floats.count, byteShuffled: shuffle,
                                               offset: 0, compressedLength: frame.count,
                                               uncompressedLength: 4 * s.floats.count, checksum: crc))
            frames.append(frame)
        }
        // Offsets depend on the header length, which depends on the offsets' digits:
        // iterate until stable (twice at most in practice).
        var header = CheckpointHeader(formatVersion: formatVersion, run: c.run, sections: infos, tensors: c.tensors)
        var json = CheckpointJSON.encode(header)
        while true {
            var pos = prefixSize + json.count
            for i in header.sections.indices { header.sections[i].offset = pos; pos += header.sections[i].compressedLength }
            let again = CheckpointJSON.encode(header)
            if again == json { break }
            json = again
        }
        guard json.count <= maxHeaderBytes else {
            throw CheckpointError(file: file, "header of \(json.count) bytes exceeds the limit of \(maxHeaderBytes)")
        }
        var prefix = magic
        appendLE(&prefix, UInt64(formatVersion), bytes: 4)
        appendLE(&prefix, UInt64(json.count), bytes: 8)
        appendLE(&prefix, UInt64(CRC32C.checksum(json)), bytes: 4)
        var crc = CRC32C()
        for part in [prefix, json] + frames { crc.update(part); emit(part) }
        var trailer = [UInt8]()
        appendLE(&trailer, UInt64(crc.value), bytes: 4)
        appendLE(&trailer, 0, bytes: 4)
        emit(trailer + endMagic)
        return header
    }

    static func hex(_ v: UInt32) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: 8 - h.count) + h
    }

    static func appendLE(_ a: inout [UInt8], _ v: UInt64, bytes: Int) {
        for i in 0..<bytes { a.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    static func loadLE(_ p: UnsafeRawBufferPointer, _ at: Int, bytes: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<bytes { v |= UInt64(p[at + i]) << (8 * UInt64(i)) }
        return v
    }

    static func checkTensor(_ t: CheckpointTensor, sectionCount: Int, file: String) throws {
        var n = 1
        for d in t.shape {
            let (m, o) = n.multipliedReportingOverflow(by: d)
            guard d >= 0, !o else { throw CheckpointError(file: file, section: t.section, "tensor '\(t.name)': invalid shape \(t.shape)") }
            n = m
        }
        guard n == t.count else {
            throw CheckpointError(file: file, section: t.section, "tensor '\(t.name)': shape \(t.shape) has \(n) elements, the table says \(t.count)")
        }
        guard t.offset >= 0, t.count >= 0, t.offset <= sectionCount, t.count <= sectionCount - t.offset else {
            throw CheckpointError(file: file, section: t.section,
                "tensor '\(t.name)': elements \(t.offset)..<\(t.offset &+ t.count) lie outside section '\(t.section)' of \(sectionCount) elements")
        }
    }

    // MARK: reading

    /// Where the reader gets bytes: a file (pread) or memory.
    struct Source {
        let size: Int
        let read: (_ offset: Int, _ into: UnsafeMutableRawBufferPointer) throws -> Void
    }

    /// Reads, checks and returns everything in the file.
    public static func read(_ path: String) throws -> CheckpointContents {
        try withFile(path) { try decode($0, file: path, keep: true).contents! }
    }

    /// Checks the whole file (every checksum, every frame) without keeping the data.
    @discardableResult
    public static func verify(_ path: String) throws -> CheckpointHeader {
        try withFile(path) { try decode($0, file: path, keep: false).header }
    }

    /// Reads only the prefix and JSON header (checked against its checksum and the
    /// file size), for listing; the sections are not checked.
    public static func readHeader(_ path: String) throws -> CheckpointHeader {
        try withFile(path) { try decodeHeader($0, file: path) }
    }

    /// Decodes a checkpoint image held in memory; `name` is used in messages.
    public static func decode(_ bytes: UnsafeRawBufferPointer, name: String, keep: Bool = true) throws -> (header: CheckpointHeader, contents: CheckpointContents?) {
        let src = Source(size: bytes.count) { off, dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[off..<(off + dst.count)]))
        }
        return try decode(src, file: name, keep: keep)
    }

    static func withFile<T>(_ path: String, _ body: (Source) throws -> T) throws -> T {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError(file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError(file: path, "not a regular file") }
        let size = Int(st.st_size)
        return try body(Source(size: size) { off, dst in
            var done = 0
            while done < dst.count {
                let n = pread(fd, dst.baseAddress! + done, dst.count - done, off_t(off + done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw CheckpointError(file: path, "read failed at byte \(off + done): \(String(cString: strerror(errno)))") }
                if n == 0 { throw CheckpointError(file: path, "truncated while reading: the file shrank below byte \(off + done)") }
                done += n
            }
        })
    }

    static func readBytes(_ src: Source, _ off: Int, _ n: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        if n > 0 { try out.withUnsafeMutableBytes { try src.read(off, $0) } }
        return out
    }

    static func decodeHeader(_ src: Source, file: String) throws -> CheckpointHeader {
        try decodeHeaderAndBytes(src, file: file).header
    }

    static func decodeHeaderAndBytes(_ src: Source, file: String) throws -> (header: CheckpointHeader, prefix: [UInt8], json: [UInt8]) {
        let size = src.size
        let prefix = try readBytes(src, 0, min(prefixSize, size))
        let m = min(8, prefix.count)
        guard Array(prefix[0..<m]) == Array(magic[0..<m]) else {
            throw CheckpointError(file: file, "bad magic: not a gdqr checkpoint (expected \"GDQRCKPT\" at byte 0)")
        }
        guard size >= prefixSize + trailerSize else {
            throw CheckpointError(file: file, "truncated: file is \(size) bytes, a checkpoint has at least \(prefixSize + trailerSize)")
        }
        let (version, headerLength, headerCRC) = prefix.withUnsafeBytes { p in
            (loadLE(p, 8, bytes: 4), loadLE(p, 12, bytes: 8), UInt32(loadLE(p, 20, bytes: 4)))
        }
        guard version == UInt64(formatVersion) else {
            throw CheckpointError(file: file, "unsupported format version \(version) (this build reads \(formatVersion))")
        }
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw CheckpointError(file: file, "header length \(headerLength) exceeds the limit of \(maxHeaderBytes) bytes")
        }
        let h = Int(headerLength)
        guard prefixSize + h + trailerSize <= size else {
            throw CheckpointError(file: file, "truncated: file is \(size) bytes, header length \(h) needs at least \(prefixSize + h + trailerSize)")
        }
        let json = try readBytes(src, prefixSize, h)
        let crc = CRC32C.checksum(json)
        guard crc == headerCRC else {
            throw CheckpointError(file: file, "corrupt: header checksum mismatch (stored \(hex(headerCRC)), computed \(hex(crc)))")
        }
        let header = try json.withUnsafeBytes { try CheckpointJSON.decode($0, file: file, base: prefixSize, version: formatVersion) }
        try validate(header, file: file, size: size, dataStart: prefixSize + h)
        return (header, prefix, json)
    }

    /// Bounds and consistency of the tables against the file size.
    static func validate(_ header: CheckpointHeader, file: String, size: Int, dataStart: Int) throws {
        let dataEnd = size - trailerSize
        var pos = dataStart
        var names = Set<String>()
        var total = 0
        // A cut file: name the first section that runs past its end.
        for s in header.sections where s.compressedLength > size || s.offset > size - s.compressedLength {
            throw CheckpointError(file: file, section: s.name,
                "truncated: file is \(size) bytes, header says section '\(s.name)' ends at \(s.offset &+ s.compressedLength)")
        }
        let budget = max(expansionFloor, size > Int.max / expansionFactor ? Int.max : expansionFactor * size)
        for s in header.sections {
            func fail(_ why: String) -> CheckpointError { CheckpointError(file: file, section: s.name, why) }
            guard names.insert(s.name).inserted else { throw fail("duplicate section '\(s.name)'") }
            guard s.dtype == "f32" else { throw fail("section '\(s.name)' has dtype \"\(s.dtype)\", this build reads \"f32\"") }
            guard s.offset == pos else {
                throw fail(s.offset < pos ? "section '\(s.name)' at byte \(s.offset) overlaps what precedes it (ends at \(pos))"
                                          : "section '\(s.name)' at byte \(s.offset) leaves a hole: bytes \(pos)..<\(s.offset) belong to no section")
            }
            let end = s.offset + s.compressedLength
            guard end <= dataEnd else {
                throw fail("truncated: file is \(size) bytes, header says section '\(s.name)' ends at \(end) and the trailer needs \(trailerSize) more")
            }
            guard s.count <= Int.max / 4, s.uncompressedLength == 4 * s.count else {
                throw fail("section '\(s.name)': uncompressed length \(s.uncompressedLength) does not match \(s.count) f32 elements")
            }
            guard s.compressedLength > 0 else { throw fail("section '\(s.name)' has no compressed bytes") }
            guard s.uncompressedLength / Zstd.maxExpansionRatio <= s.compressedLength else {
                throw fail("section '\(s.name)': \(s.compressedLength) compressed bytes cannot expand to \(s.uncompressedLength)")
            }
            total += s.uncompressedLength
            guard total <= budget else {
                throw fail("section '\(s.name)': the sections expand to more than \(budget) bytes, more than a \(size)-byte file can justify")
            }
            pos = end
        }
        guard pos == dataEnd else {
            throw CheckpointError(file: file, "\(dataEnd - pos) bytes between the last section (ends at \(pos)) and the trailer at \(dataEnd)")
        }
        var tensorNames = Set<String>()
        for t in header.tensors {
            guard tensorNames.insert(t.name).inserted else { throw CheckpointError(file: file, "duplicate tensor '\(t.name)'") }
            guard let s = header.sections.first(where: { $0.name == t.section }) else {
                throw CheckpointError(file: file, "tensor '\(t.name)' refers to a missing section '\(t.section)'")
            }
            try checkTensor(t, sectionCount: s.count, file: file)
        }
    }

    static func decode(_ src: Source, file: String, keep: Bool) throws -> (header: CheckpointHeader, contents: CheckpointContents?) {
        let (header, prefix, json) = try decodeHeaderAndBytes(src, file: file)
        var frame = [UInt8]()
        try checkTrailer(src, file: file, header: header, prefix: prefix, json: json, frame: &frame)
        var sections: [CheckpointSection] = []
        var plain = [UInt8]()       // shuffled planes, before unshuffling
        var scratch = [Float]()     // output when the data is not kept
        for s in header.sections {
            if frame.count < s.compressedLength { frame = [UInt8](repeating: 0, count: s.compressedLength) }
            try frame.withUnsafeMutableBytes { try src.read(s.offset, UnsafeMutableRawBufferPointer(rebasing: $0[0..<s.compressedLength])) }
            // The frame must record the table's size before anything is allocated for it.
            let recorded = frame.withUnsafeBytes { Zstd.frameContentSize(UnsafeRawBufferPointer(rebasing: $0[0..<s.compressedLength])) }
            guard recorded == UInt64(s.uncompressedLength) else {
                throw CheckpointError(file: file, section: s.name, "corrupt: cannot decompress section '\(s.name)': the zstd frame records "
                    + (recorded.map { "\($0) bytes" } ?? "no valid size") + ", the table says \(s.uncompressedLength)")
            }
            var floats: [Float]
            if keep { floats = [Float](repeating: 0, count: s.count) } else {
                if scratch.count < s.count { scratch = [Float](repeating: 0, count: s.count) }
                floats = []
                swap(&floats, &scratch)
            }
            if s.byteShuffled && plain.count < s.uncompressedLength { plain = [UInt8](repeating: 0, count: s.uncompressedLength) }
            do {
                try frame.withUnsafeBytes { fr in
                    let f = UnsafeRawBufferPointer(rebasing: fr[0..<s.compressedLength])
                    try floats.withUnsafeMutableBytes { out in
                        let dst = UnsafeMutableRawBufferPointer(rebasing: out[0..<s.uncompressedLength])
                        if s.byteShuffled {
                            try plain.withUnsafeMutableBytes { try Zstd.decompress(f, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<s.uncompressedLength])) }
                            if s.count > 0 { plain.withUnsafeBytes { ByteShuffle.unshuffle($0.baseAddress!, count: s.count, into: dst.baseAddress!) } }
                        } else {
                            try Zstd.decompress(f, into: dst)
                        }
                    }
                }
            } catch let e as ZstdError {
                throw CheckpointError(file: file, section: s.name, "corrupt: cannot decompress section '\(s.name)': \(e.message)")
            }
            let got = floats.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<s.uncompressedLength])) }
            guard got == s.checksum else {
                throw CheckpointError(file: file, section: s.name,
                    "corrupt: checksum mismatch in section '\(s.name)' (stored \(hex(s.checksum)), computed \(hex(got)))")
            }
            if keep { sections.append(CheckpointSection(name: s.name, floats: floats)) } else { swap(&floats, &scratch) }
        }
        return (header, keep ? CheckpointContents(run: header.run, sections: sections, tensors: header.tensors) : nil)
    }

    /// The trailer, checked before any section is decompressed: its CRC-32C covers the
    /// compressed frames, so a changed byte is reported as corruption here instead of as
    /// whatever zstd makes of the damaged frame ("Destination buffer is too small").
    /// Each frame is read once for this and once more to decompress it (from the page
    /// cache; the frames are not all held at once, so verify() stays small).
    static func checkTrailer(_ src: Source, file: String, header: CheckpointHeader, prefix: [UInt8], json: [UInt8],
                             frame: inout [UInt8]) throws {
        var crc = CRC32C()
        crc.update(prefix)
        crc.update(json)
        for s in header.sections {
            if frame.count < s.compressedLength { frame = [UInt8](repeating: 0, count: s.compressedLength) }
            try frame.withUnsafeMutableBytes { try src.read(s.offset, UnsafeMutableRawBufferPointer(rebasing: $0[0..<s.compressedLength])) }
            frame.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<s.compressedLength])) }
        }
        let trailer = try readBytes(src, src.size - trailerSize, trailerSize)
        let (stored, reserved) = trailer.withUnsafeBytes { (UInt32(loadLE($0, 0, bytes: 4)), loadLE($0, 4, bytes: 4)) }
        guard Array(trailer[8..<16]) == endMagic else {
            throw CheckpointError(file: file, "bad end magic in the trailer (expected \"GDQR_END\" at byte \(src.size - 8))")
        }
        guard reserved == 0 else { throw CheckpointError(file: file, "reserved trailer bytes are not zero") }
        guard stored == crc.value else {
            throw CheckpointError(file: file, "corrupt: trailer checksum mismatch over bytes 0..<\(src.size - trailerSize) "
                + "(stored \(hex(stored)), computed \(hex(crc.value))); the file changed after it was written")
        }
    }
}
