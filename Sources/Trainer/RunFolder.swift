// The one folder a run writes (runs/NAME): the resolved config, metrics.jsonl,
// summary.json and the exported models. Nothing is written anywhere else.

import Foundation
import JSONFormat

public struct TrainerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

public final class RunFolder {
    public let path: String
    private var metrics: FileHandle?
    private var tensorBoardLog: TensorBoardLog?

    public init(path: String) throws {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw TrainerError("cannot create run folder \(path): \(error.localizedDescription)")
        }
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes `text` to `name` atomically (temporary file, then rename).
    public func write(_ name: String, _ text: String) throws {
        do {
            try text.write(toFile: file(name), atomically: true, encoding: .utf8)
        } catch {
            throw TrainerError("cannot write \(file(name)): \(error.localizedDescription)")
        }
    }

    /// Appends one JSON object as a line of metrics.jsonl (created on first use, truncated per
    /// run unless resumeMetrics opened it first).
    public func appendMetrics(_ record: [String: Any]) throws {
        if metrics == nil { try openMetrics(keeping: Data()) }
        metrics!.write(Data((JSON.line(record) + "\n").utf8))
        try tensorBoard().record(metrics: record)
    }

    /// A run resumed at global step `step` keeps the metrics.jsonl lines logged up to that
    /// step (the checkpoint was written after them, so they are not logged again) and drops
    /// the later ones, which the resumed run logs again; a torn last line of the killed run
    /// is dropped too. Later records are appended. Lines that are not JSON objects (the torn
    /// line, or a file edited by hand) are dropped with one warning that counts them, so a
    /// shortened history does not go unnoticed.
    public func resumeMetrics(atStep step: Int) throws {
        let path = file("metrics.jsonl")
        let old = FileManager.default.contents(atPath: path) ?? Data()
        var kept = Data()
        var malformed = 0
        for line in old.split(separator: UInt8(ascii: "\n")) {
            guard let record = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                malformed += 1
                continue
            }
            if let s = (record["step"] as? NSNumber)?.intValue, s > step { continue }
            kept.append(contentsOf: line)
            kept.append(UInt8(ascii: "\n"))
        }
        if malformed > 0 {
            let lines = malformed == 1 ? "1 malformed line" : "\(malformed) malformed lines"
            Log.warning("resume: \(path): dropped \(lines) (not JSON objects; "
                        + "a run killed while writing leaves a torn last line)")
        }
        try? metrics?.close()
        try openMetrics(keeping: kept)
    }

    private func openMetrics(keeping contents: Data) throws {
        let p = file("metrics.jsonl")
        guard FileManager.default.createFile(atPath: p, contents: contents),
              let h = FileHandle(forWritingAtPath: p) else { throw TrainerError("cannot open \(p) for writing") }
        h.seekToEndOfFile()
        metrics = h
    }

    /// The run's TensorBoard event file, created on first use (one new file per process).
    public func tensorBoard() throws -> TensorBoardLog {
        if let t = tensorBoardLog { return t }
        let t = try TensorBoardLog(directory: path)
        tensorBoardLog = t
        return t
    }

    deinit { try? metrics?.close() }
}
