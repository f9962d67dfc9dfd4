// Asynchronous checkpoint writing and the checkpoints/ directory.
//
//   checkpoints/step-00001200.gdqrckpt   one file per checkpoint (CheckpointFile.swift)
//   checkpoints/latest                   text: the newest file's name, rewritten last
//   checkpoints/best                     text: "NAME\nMETRIC\n", the best file by the metric
//
// The training loop calls `submit`: it waits for the previous write, copies the
// arena into a preallocated snapshot (the only stall), and returns; compression,
// writing, the pointer files and retention run on a background queue. A failed
// write (full disk, unwritable directory, non-finite values) leaves every earlier
// file and pointer as it was and is thrown by the next `submit` or by `finish`.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum CheckpointDirectory {
    public static let latestName = "latest"
    public static let bestName = "best"

    public static func fileName(step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".gdqrckpt"
    }

    /// The step of a checkpoint file name, or nil if the name is not one.
    public static func step(ofFileName name: String) -> Int? {
        guard name.hasPrefix("step-"), name.hasSuffix(".gdqrckpt") else { return nil }
        let digits = name.dropFirst(5).dropLast(9)
        guard digits.count >= 8, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// Checkpoint files in `dir`, newest (highest step) first.
    public static func list(_ dir: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { n in step(ofFileName: n).map { ($0, dir + "/" + n) } }.sorted { $0.step > $1.step }
    }

    /// Reads a pointer file: at most 4 KiB of text whose first line must be a
    /// checkpoint file name (no path: a pointer never leads outside the directory).
    public static func readPointer(_ path: String) throws -> (name: String, rest: [String]) {
        guard let h = FileHandle(forReadingAtPath: path) else { throw CheckpointError(file: path, "cannot open the pointer file") }
        defer { try? h.close() }
        let data = h.readData(ofLength: 4097)
        guard data.count <= 4096 else { throw CheckpointError(file: path, "pointer file is larger than 4096 bytes") }
        guard let text = String(data: data, encoding: .utf8) else { throw CheckpointError(file: path, "pointer file is not UTF-8 text") }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let name = lines.first ?? ""
        guard step(ofFileName: name) != nil else {
            throw CheckpointError(file: path, "pointer file holds \"\(name.prefix(80))\", expected a name like step-00000100.gdqrckpt")
        }
        return (name, Array(lines.dropFirst()))
    }

    /// The best record (file name and metric), if any.
    public static func best(_ dir: String) -> (name: String, metric: Double)? {
        guard let (name, rest) = try? readPointer(dir + "/" + bestName),
              let m = rest.first.flatMap({ Double($0) }) else { return nil }
        return (name, m)
    }

    /// Writes a small text file atomically (temporary file, fsync, rename, directory fsync).
    public static func writeText(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CheckpointError(file: path, storage: true, "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        let err = errno
        if n != bytes.count || fsync(fd) != 0 {
            close(fd); unlink(tmp)
            throw CheckpointError(file: path, storage: true, "cannot write \(tmp): \(String(cString: strerror(n < 0 ? err : errno)))")
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let msg = String(cString: strerror(errno))
            unlink(tmp)
            throw CheckpointError(file: path, storage: true, "rename from \(tmp) failed: \(msg)")
        }
        CheckpointFile.syncDirectory(dir)
    }

    /// The newest checkpoint that verifies completely: the one `latest` names, else
    /// the files newest first. Every file (or pointer) passed over is reported to
    /// `onSkip` with the reason.
    public static func newestValid(_ dir: String, onSkip: (String, Error) -> Void = { _, _ in })
        -> (path: String, header: CheckpointHeader)? {
        var tried = Set<String>()
        let latest = dir + "/" + latestName
        if FileManager.default.fileExists(atPath: latest) {
            do {
                let path = dir + "/" + (try readPointer(latest)).name
                tried.insert(path)
                do { return (path, try CheckpointFile.verify(path)) } catch { onSkip(path, error) }
            } catch { onSkip(latest, error) }
        }
        for (_, path) in list(dir) where !tried.contains(path) {
            do { return (path, try CheckpointFile.verify(path)) } catch { onSkip(path, error) }
        }
        return nil
    }
}

public final class CheckpointWriter: @unchecked Sendable {
    public let directory: String
    public let keepLast: Int
    public let level: Int
    public let shuffle: Bool
    public let higherIsBetter: Bool

    private var snapshot = CheckpointContents(run: CheckpointRunInfo(), sections: [])
    private let queue = DispatchQueue(label: "gdqr.checkpoint-writer")
    private let group = DispatchGroup()
    // Touched by the background queue only between group.enter and group.leave;
    // read by the caller only after group.wait.
    private var failure: Error?
    private var lastPath: String?
    private var bestRecord: (name: String, metric: Double)?

    /// `keepLast` newest files are kept, plus the best by the metric passed to
    /// `submit` (larger is better unless `higherIsBetter` is false). Stale
    /// temporary files of an interrupted write are removed.
    public init(directory: String, keepLast: Int = 3, level: Int = 1, shuffle: Bool = true,
                higherIsBetter: Bool = true) throws {
        precondition(keepLast >= 1, "CheckpointWriter: keepLast must be at least 1")
        self.directory = directory
        self.keepLast = keepLast
        self.level = level
        self.shuffle = shuffle
        self.higherIsBetter = higherIsBetter
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw CheckpointError(file: directory, "cannot create the checkpoint directory: \(error.localizedDescription)")
        }
        bestRecord = CheckpointDirectory.best(directory)
        for n in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where n.hasPrefix(".") && n.contains(".tmp-") {
            unlink(directory + "/" + n)
        }
    }

    /// Path of the last file written successfully (after `finish`, or between submits).
    public var lastWritten: String? { group.wait(); return lastPath }

    /// Waits for the previous write (throwing its error, if it failed), lets `fill`
    /// copy the state into the reused snapshot, and starts writing it in the
    /// background. The file is named after `run.step` as set by `fill`.
    public func submit(metric: Double? = nil, _ fill: (inout CheckpointContents) throws -> Void) throws {
        group.wait()
        if let e = failure { failure = nil; throw e }
        try fill(&snapshot)
        // The background reads `snapshot` in place (no copy survives the write), and
        // the caller mutates it again only after group.wait in the next submit.
        group.enter()
        queue.async { [self] in
            defer { group.leave() }
            do { try write(snapshot, metric: metric) } catch { failure = error }
        }
    }

    /// Waits for the last write, throws if it failed, and verifies the file it wrote
    /// (every checksum). Returns its path (nil if nothing was written).
    @discardableResult
    public func finish() throws -> String? {
        group.wait()
        if let e = failure { failure = nil; throw e }
        guard let lastPath else { return nil }
        try CheckpointFile.verify(lastPath)
        return lastPath
    }

    private func write(_ c: CheckpointContents, metric: Double?) throws {
        let name = CheckpointDirectory.fileName(step: c.run.step)
        let path = directory + "/" + name
        // NaN guard: a diverged state must never replace the last good checkpoint.
        for s in c.sections {
            if let i = s.floats.firstIndex(where: { !$0.isFinite }) {
                let t = c.tensors.first { $0.section == s.name && i >= $0.offset && i < $0.offset + $0.count }
                throw CheckpointError(file: path, section: s.name,
                    "non-finite value \(s.floats[i]) in section '\(s.name)' at element \(i)\(t.map { " (tensor '\($0.name)')" } ?? ""); not written, the previous checkpoint is kept")
            }
        }
        try CheckpointFile.write(c, to: path, level: level, shuffle: shuffle)
        if let metric, metric.isFinite {
            let better = bestRecord.map { higherIsBetter ? metric > $0.metric : metric < $0.metric } ?? true
            if better {
                try CheckpointDirectory.writeText("\(name)\n\(metric)\n", to: directory + "/" + CheckpointDirectory.bestName)
                bestRecord = (name, metric)
            }
        }
        try CheckpointDirectory.writeText(name + "\n", to: directory + "/" + CheckpointDirectory.latestName)
        lastPath = path
        // Retention: the newest keepLast files, the best, and the one just written.
        var keep = Set(CheckpointDirectory.list(directory).prefix(keepLast).map(\.path))
        keep.insert(path)
        if let b = bestRecord { keep.insert(directory + "/" + b.name) }
        for (_, p) in CheckpointDirectory.list(directory) where !keep.contains(p) { unlink(p) }
    }
}
