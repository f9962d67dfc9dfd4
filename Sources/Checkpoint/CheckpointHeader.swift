// The types of a `.gdqrckpt` checkpoint and its JSON header (encoding and strict
// parsing). The byte layout and the reader's rules are in CheckpointFile.swift.
// This file and CheckpointFile.swift, Zstd.swift, ByteShuffle.swift, Crc32c.swift
// import nothing above Foundation/CZstd, so the fuzz harness can build them alone.

import Foundation
#if canImport(JSONFormat)   // absent when Tests/scripts/fuzz-readers.sh compiles these files as one module
import JSONFormat
#endif

/// What the reader and writer report: the file, the section when one is at fault,
/// and the reason. `message` is "FILE: reason".
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let section: String?
    public let reason: String
    /// True when the file system refused the write (full, read-only, quota...),
    /// not the contents: the trainer may go on without this checkpoint.
    public let storage: Bool

    public init(file: String, section: String? = nil, storage: Bool = false, _ reason: String) {
        self.file = file
        self.section = section
        self.storage = storage
        self.reason = reason
    }

    public var message: String { "\(file): \(reason)" }
    public var description: String { message }
}

/// The run state a checkpoint carries besides its float sections.
public struct CheckpointRunInfo: Equatable, Sendable {
    public var step: Int
    public var epoch: Int
    public var stepInEpoch: Int
    public var worldSize: Int
    public var threads: Int
    public var projectVersion: String
    public var configYAML: String
    public var configHash: String
    /// Opaque generator state (counters, seeds) by name.
    public var rngState: [String: UInt64]
    /// Free-form string metadata (metric values, host, time, ...).
    public var metadata: [String: String]

    public init(step: Int = 0, epoch: Int = 0, stepInEpoch: Int = 0, worldSize: Int = 1, threads: Int = 1,
                projectVersion: String = "", configYAML: String = "", configHash: String = "",
                rngState: [String: UInt64] = [:], metadata: [String: String] = [:]) {
        self.step = step
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.worldSize = worldSize
        self.threads = threads
        self.projectVersion = projectVersion
        self.configYAML = configYAML
        self.configHash = configHash
        self.rngState = rngState
        self.metadata = metadata
    }
}

/// A named tensor: a slice [offset, offset + count) of a section, with its shape.
public struct CheckpointTensor: Equatable, Sendable {
    public var name: String
    public var section: String
    public var offset: Int
    public var count: Int
    public var shape: [Int]

    public init(name: String, section: String, offset: Int, count: Int, shape: [Int]) {
        self.name = name
        self.section = section
        self.offset = offset
        self.count = count
        self.shape = shape
    }
}

/// One float section as held in memory.
public struct CheckpointSection: Equatable, Sendable {
    public var name: String
    public var floats: [Float]

    public init(name: String, floats: [Float]) {
        self.name = name
        self.floats = floats
    }
}

/// One entry of the section table, as stored in the header.
public struct CheckpointSectionInfo: Equatable, Sendable {
    public var name: String
    public var dtype: String            // "f32" (the only one in format 1)
    public var count: Int               // elements
    public var byteShuffled: Bool
    public var offset: Int              // of the zstd frame, from the start of the file
    public var compressedLength: Int
    public var uncompressedLength: Int  // bytes, 4 * count
    public var checksum: UInt32         // CRC-32C of the uncompressed little-endian floats
}

/// The parsed JSON header: run state, section table and tensor table.
@dynamicMemberLookup
public struct CheckpointHeader: Equatable, Sendable {
    public var formatVersion: Int
    public var run: CheckpointRunInfo
    public var sections: [CheckpointSectionInfo]
    public var tensors: [CheckpointTensor]

    public subscript<T>(dynamicMember kp: WritableKeyPath<CheckpointRunInfo, T>) -> T {
        get { run[keyPath: kp] }
        set { run[keyPath: kp] = newValue }
    }
}

/// Everything a checkpoint holds, ready to write or as read back.
@dynamicMemberLookup
public struct CheckpointContents: Equatable, Sendable {
    public var run: CheckpointRunInfo
    public var sections: [CheckpointSection]
    public var tensors: [CheckpointTensor]

    public init(run: CheckpointRunInfo, sections: [CheckpointSection], tensors: [CheckpointTensor] = []) {
        self.run = run
        self.sections = sections
        self.tensors = tensors
    }

    public subscript<T>(dynamicMember kp: WritableKeyPath<CheckpointRunInfo, T>) -> T {
        get { run[keyPath: kp] }
        set { run[keyPath: kp] = newValue }
    }

    /// The floats of the section called `name`.
    public func section(_ name: String) -> [Float]? { sections.first { $0.name == name }?.floats }

    /// The values of tensor `name` (a copy of its slice of its section).
    public func tensor(_ name: String) -> [Float]? {
        guard let t = tensors.first(where: { $0.name == name }), let s = section(t.section),
              t.offset >= 0, t.count >= 0, t.offset <= s.count - t.count else { return nil }
        return Array(s[t.offset..<(t.offset + t.count)])
    }
}

// MARK: JSON header

enum CheckpointJSON {
    static func encode(_ h: CheckpointHeader) -> [UInt8] {
        let q = JSONText.quoted
        var s = "{\"format\":\"gdqr-checkpoint\""
        s += ",\"step\":\(h.run.step),\"epoch\":\(h.run.epoch),\"step_in_epoch\":\(h.run.stepInEpoch)"
        s += ",\"world_size\":\(h.run.worldSize),\"threads\":\(h.run.threads)"
        s += ",\"project_version\":\(q(h.run.projectVersion))"
        s += ",\"config_hash\":\(q(h.run.configHash)),\"config_yaml\":\(q(h.run.configYAML))"
        s += ",\"rng_state\":{" + h.run.rngState.keys.sorted().map { "\(q($0)):\(h.run.rngState[$0]!)" }.joined(separator: ",") + "}"
        s += ",\"metadata\":{" + h.run.metadata.keys.sorted().map { "\(q($0)):\(q(h.run.metadata[$0]!))" }.joined(separator: ",") + "}"
        s += ",\"sections\":[" + h.sections.map { e in
            "{\"name\":\(q(e.name)),\"dtype\":\(q(e.dtype)),\"count\":\(e.count),\"byte_shuffled\":\(e.byteShuffled)"
            + ",\"offset\":\(e.offset),\"compressed_length\":\(e.compressedLength)"
            + ",\"uncompressed_length\":\(e.uncompressedLength),\"crc32c\":\(e.checksum)}"
        }.joined(separator: ",") + "]"
        s += ",\"tensors\":[" + h.tensors.map { t in
            "{\"name\":\(q(t.name)),\"section\":\(q(t.section)),\"offset\":\(t.offset),\"count\":\(t.count)"
            + ",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))]}"
        }.joined(separator: ",") + "]}"
        return Array(s.utf8)
    }

    /// Parses and type-checks the header; bounds against the file are checked by the caller.
    static func decode(_ bytes: UnsafeRawBufferPointer, file: String, base: Int, version: Int) throws -> CheckpointHeader {
        var parser = JSONParser(bytes: bytes, base: base)
        let root: JSONValue
        do { root = try parser.parseDocument() } catch let e as JSONSyntaxError { throw CheckpointError(file: file, e.description) }
        func fail(_ what: String) -> CheckpointError { CheckpointError(file: file, "header: \(what)") }
        func object(_ v: JSONValue, _ what: String) throws -> [(String, JSONValue)] {
            guard case .object(let m) = v else { throw fail("\(what) is \(v.short), expected an object") }
            return m
        }
        func fields(_ v: JSONValue, _ what: String, _ known: Set<String>) throws -> [String: JSONValue] {
            var d: [String: JSONValue] = [:]
            for (k, x) in try object(v, what) {
                guard known.contains(k) else { throw fail("unexpected key \"\(k)\" in \(what)") }
                d[k] = x
            }
            for k in known.sorted() where d[k] == nil { throw fail("missing key \"\(k)\" in \(what)") }
            return d
        }
        func uint(_ v: JSONValue?, _ what: String) throws -> UInt64 {
            guard case .number(let s)? = v, let n = UInt64(s) else {
                throw fail("\(what) is \(v?.short ?? "missing"), expected a non-negative integer")
            }
            return n
        }
        func int(_ v: JSONValue?, _ what: String) throws -> Int {
            let n = try uint(v, what)
            guard n <= UInt64(Int.max) else { throw fail("\(what) = \(n) is too large") }
            return Int(n)
        }
        func string(_ v: JSONValue?, _ what: String) throws -> String {
            guard case .string(let s)? = v else { throw fail("\(what) is \(v?.short ?? "missing"), expected a string") }
            return s
        }
        func array(_ v: JSONValue?, _ what: String) throws -> [JSONValue] {
            guard case .array(let a)? = v else { throw fail("\(what) is \(v?.short ?? "missing"), expected an array") }
            return a
        }
        let top = try fields(root, "the header", ["format", "step", "epoch", "step_in_epoch", "world_size", "threads",
                                                  "project_version", "config_hash", "config_yaml", "rng_state",
                                                  "metadata", "sections", "tensors"])
        guard try string(top["format"], "format") == "gdqr-checkpoint" else {
            throw fail("format is not \"gdqr-checkpoint\"")
        }
        var run = CheckpointRunInfo(step: try int(top["step"], "step"), epoch: try int(top["epoch"], "epoch"),
                                    stepInEpoch: try int(top["step_in_epoch"], "step_in_epoch"),
                                    worldSize: try int(top["world_size"], "world_size"),
                                    threads: try int(top["threads"], "threads"),
                                    projectVersion: try string(top["project_version"], "project_version"),
                                    configYAML: try string(top["config_yaml"], "config_yaml"),
                                    configHash: try string(top["config_hash"], "config_hash"))
        for (k, v) in try object(top["rng_state"]!, "rng_state") { run.rngState[k] = try uint(v, "rng_state[\"\(k)\"]") }
        for (k, v) in try object(top["metadata"]!, "metadata") { run.metadata[k] = try string(v, "metadata[\"\(k)\"]") }

        var sections: [CheckpointSectionInfo] = []
        for (i, v) in try array(top["sections"], "sections").enumerated() {
            let f = try fields(v, "sections[\(i)]", ["name", "dtype", "count", "byte_shuffled", "offset",
                                                     "compressed_length", "uncompressed_length", "crc32c"])
            guard case .bool(let shuffled)? = f["byte_shuffled"] else { throw fail("sections[\(i)].byte_shuffled is not a boolean") }
            let crc = try uint(f["crc32c"], "sections[\(i)].crc32c")
            guard crc <= UInt64(UInt32.max) else { throw fail("sections[\(i)].crc32c = \(crc) does not fit 32 bits") }
            sections.append(CheckpointSectionInfo(
                name: try string(f["name"], "sections[\(i)].name"), dtype: try string(f["dtype"], "sections[\(i)].dtype"),
                count: try int(f["count"], "sections[\(i)].count"), byteShuffled: shuffled,
                offset: try int(f["offset"], "sections[\(i)].offset"),
                compressedLength: try int(f["compressed_length"], "sections[\(i)].compressed_length"),
                uncompressedLength: try int(f["uncompressed_length"], "sections[\(i)].uncompressed_length"),
                checksum: UInt32(crc)))
        }
        var tensors: [CheckpointTensor] = []
        for (i, v) in try array(top["tensors"], "tensors").enumerated() {
            let f = try fields(v, "tensors[\(i)]", ["name", "section", "offset", "count", "shape"])
            let shape = try array(f["shape"], "tensors[\(i)].shape").enumerated().map { try int($0.element, "tensors[\(i)].shape[\($0.offset)]") }
            tensors.append(CheckpointTensor(name: try string(f["name"], "tensors[\(i)].name"),
                                            section: try string(f["section"], "tensors[\(i)].section"),
                                            offset: try int(f["offset"], "tensors[\(i)].offset"),
                                            count: try int(f["count"], "tensors[\(i)].count"), shape: shape))
        }
        return CheckpointHeader(formatVersion: version, run: run, sections: sections, tensors: tensors)
    }
}
