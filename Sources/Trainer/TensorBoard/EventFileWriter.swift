// A TensorBoard event file: a TFRecord stream of serialized Event messages,
// named events.out.tfevents.<unix seconds>.<hostname> (TensorBoard reads every
// file of a folder whose name contains "tfevents", so a resumed run simply adds
// a new file beside the old ones).
//
// TFRecord framing, per record:
//   uint64 length (little endian)
//   uint32 masked CRC-32C of those 8 length bytes
//   length bytes of data
//   uint32 masked CRC-32C of the data
// masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32): the mask
// keeps a CRC of data that itself holds CRCs from being degenerate.
//
// Records are framed into a memory buffer and written by `flush()`: the trainer
// flushes at each test evaluation (and at most every `maxBufferSeconds` at a log
// line), so a live TensorBoard sees the run without a write per log line.

import Foundation
import Checkpoint

public enum TFRecord {
    public static func maskedCRC(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    /// Appends one framed record holding `data` to `out`.
    public static func append(_ data: [UInt8], to out: inout [UInt8]) {
        var length = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { length[i] = UInt8(truncatingIfNeeded: UInt64(data.count) >> (8 * i)) }
        out.append(contentsOf: length)
        appendLE(maskedCRC(CRC32C.checksum(length)), to: &out)
        out.append(contentsOf: data)
        appendLE(maskedCRC(CRC32C.checksum(data)), to: &out)
    }

    static func appendLE(_ v: UInt32, to out: inout [UInt8]) {
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }
}

public final class EventFileWriter {
    public let path: String
    private let handle: FileHandle
    private var pending: [UInt8] = []

    /// Creates a new event file in `directory` (never an existing one: a name
    /// already taken, e.g. by a restart within the same second, gets a suffix)
    /// and writes the file_version record first.
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970,
                host: String = ProcessInfo.processInfo.hostName) throws {
        let base = (directory as NSString).appendingPathComponent("events.out.tfevents.\(Int(wallTime)).\(host)")
        var candidate = base, n = 0
        while FileManager.default.fileExists(atPath: candidate) {
            n += 1
            candidate = "\(base).\(n)"
        }
        path = candidate
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let h = FileHandle(forWritingAtPath: path) else {
            throw TrainerError("cannot create TensorBoard event file \(path)")
        }
        handle = h
        add(TensorBoardEvent.fileVersion(wallTime: wallTime))
        try flush()
    }

    /// Frames one serialized Event into the buffer.
    public func add(_ event: [UInt8]) { TFRecord.append(event, to: &pending) }

    public var hasPending: Bool { !pending.isEmpty }

    /// Writes the buffered records to the file.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        do {
            try handle.write(contentsOf: pending)
        } catch {
            throw TrainerError("cannot write TensorBoard event file \(path): \(error.localizedDescription)")
        }
        pending.removeAll(keepingCapacity: true)
    }

    deinit {
        try? flush()
        try? handle.close()
    }
}
