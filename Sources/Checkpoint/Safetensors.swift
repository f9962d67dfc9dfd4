import Foundation
#if canImport(JSONFormat)   // absent when Tests/scripts/fuzz-readers.sh compiles these files as one module
import JSONFormat
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

// The safetensors format (https://github.com/huggingface/safetensors):
//   8 bytes    little-endian UInt64 N, the header length
//   N bytes    UTF-8 JSON: {"__metadata__": {string: string},
//                           name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
//              padded with spaces to a multiple of 8 (of 8 + N)
//   data       little-endian tensor bytes; offsets are relative to the start of data
// The reader checks every field, bounds every offset and requires the tensors
// to tile the data exactly (no overlap, no hole), as the reference implementation does.

public enum SafeDType: String, CaseIterable, Sendable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL

    public var size: Int {
        switch self {
        case .F64, .I64, .U64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }
}

public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let tensor: String?
    public let message: String

    public init(file: String, tensor: String? = nil, _ what: String) {
        self.file = file
        self.tensor = tensor
        if let tensor {
            message = "\(file): tensor '\(tensor)': \(what)"
        } else {
            message = "\(file): \(what)"
        }
    }

    public var description: String { message }
}

/// One tensor: dtype, shape and its raw little-endian bytes.
public struct SafeTensor: Equatable, Sendable {
    public var name: String
    public var dtype: SafeDType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(name: String, dtype: SafeDType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(name: String, shape: [Int], floats: [Float]) {
        self.init(name: name, dtype: .F32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    public init(name: String, shape: [Int], doubles: [Double]) {
        self.init(name: name, dtype: .F64, shape: shape, bytes: doubles.withUnsafeBytes { Array($0) })
    }

    public init(name: String, shape: [Int], int32s: [Int32]) {
        self.init(name: name, dtype: .I32, shape: shape, bytes: int32s.withUnsafeBytes { Array($0) })
    }

    public init(name: String, shape: [Int], int64s: [Int64]) {
        self.init(name: name, dtype: .I64, shape: shape, bytes: int64s.withUnsafeBytes { Array($0) })
    }

    public init(name: String, shape: [Int], uint8s: [UInt8]) {
        self.init(name: name, dtype: .U8, shape: shape, bytes: uint8s)
    }

    public var elementCount: Int { shape.reduce(1, *) }

    private func load<T>(_: T.Type) -> [T] {
        let n = bytes.count / MemoryLayout<T>.size
        return [T](unsafeUninitializedCapacity: n) { buf, count in
            bytes.withUnsafeBytes { raw in
                _ = memcpy(buf.baseAddress!, raw.baseAddress!, n * MemoryLayout<T>.size)
            }
            count = n
        }
    }

    /// The values converted to Float, whatever the (numeric) dtype.
    public var floats: [Float] {
        switch dtype {
        case .F32: return load(Float.self)
        case .F64: return load(Double.self).map { Float($0) }
        case .F16: return load(UInt16.self).map { Float(Float16(bitPattern: $0)) }
        case .BF16: return load(UInt16.self).map { Float(bitPattern: UInt32($0) << 16) }
        case .I64: return load(Int64.self).map { Float($0) }
        case .I32: return load(Int32.self).map { Float($0) }
        case .I16: return load(Int16.self).map { Float($0) }
        case .I8: return load(Int8.self).map { Float($0) }
        case .U64: return load(UInt64.self).map { Float($0) }
        case .U32: return load(UInt32.self).map { Float($0) }
        case .U16: return load(UInt16.self).map { Float($0) }
        case .U8, .BOOL: return bytes.map { Float($0) }
        }
    }

    /// The values converted to Double (exact for F64 and integers up to 2^53).
    public var doubles: [Double] {
        switch dtype {
        case .F64: return load(Double.self)
        case .I64: return load(Int64.self).map { Double($0) }
        case .U64: return load(UInt64.self).map { Double($0) }
        case .I32: return load(Int32.self).map { Double($0) }
        case .U32: return load(UInt32.self).map { Double($0) }
        default: return floats.map { Double($0) }
        }
    }

    /// The values of an integer (or bool) tensor as Int64; nil for float dtypes.
    public var int64s: [Int64]? {
        switch dtype {
        case .I64: return load(Int64.self)
        case .I32: return load(Int32.self).map { Int64($0) }
        case .I16: return load(Int16.self).map { Int64($0) }
        case .I8: return load(Int8.self).map { Int64($0) }
        case .U64: return load(UInt64.self).map { Int64(truncatingIfNeeded: $0) }
        case .U32: return load(UInt32.self).map { Int64($0) }
        case .U16: return load(UInt16.self).map { Int64($0) }
        case .U8, .BOOL: return bytes.map { Int64($0) }
        default: return nil
        }
    }
}

public enum SafetensorsFile {
    /// Largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    // MARK: writing

    /// Serialises tensors (in sorted-name order) and string metadata.
    public static func encode(tensors: [SafeTensor], metadata: [String: String] = [:]) throws -> [UInt8] {
        var names = Set<String>()
        for t in tensors {
            if t.name == "__metadata__" { throw SafetensorsError(file: "<write>", tensor: t.name, "reserved name") }
            if !names.insert(t.name).inserted { throw SafetensorsError(file: "<write>", tensor: t.name, "duplicate tensor name") }
            if t.shape.contains(where: { $0 < 0 }) { throw SafetensorsError(file: "<write>", tensor: t.name, "negative dimension in shape \(t.shape)") }
            let expected = t.elementCount * t.dtype.size
            if t.bytes.count != expected {
                throw SafetensorsError(file: "<write>", tensor: t.name, "\(t.bytes.count) bytes for shape \(t.shape) of \(t.dtype.rawValue), expected \(expected)")
            }
        }
        let sorted = tensors.sorted { $0.name < $1.name }
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(JSONText.quoted($0)):\(JSONText.quoted(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for t in sorted {
            if !first { json += "," }
            first = false
            let end = offset + t.bytes.count
            json += "\(JSONText.quoted(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        json += "}"
        var header = Array(json.utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        let n = UInt64(header.count)
        for i in 0..<8 { out.append(UInt8((n >> (8 * UInt64(i))) & 0xff)) }
        out += header
        for t in sorted { out += t.bytes }
        return out
    }

    /// Writes a safetensors file atomically (temporary file, fsync, rename).
    public static func write(tensors: [SafeTensor], metadata: [String: String] = [:], to url: URL) throws {
        let bytes = try encode(tensors: tensors, metadata: metadata)
        try writeAtomically(bytes, to: url)
    }

    /// Tuple form: `(name, dtype, shape, bytes)`.
    public static func write(tensors: [(name: String, dtype: SafeDType, shape: [Int], bytes: [UInt8])],
                             metadata: [String: String] = [:], to url: URL) throws {
        try write(tensors: tensors.map { SafeTensor(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: $0.bytes) },
                  metadata: metadata, to: url)
    }

    /// Convenience for Float tensors.
    public static func write(floats: [String: (shape: [Int], values: [Float])],
                             metadata: [String: String] = [:], to url: URL) throws {
        try write(tensors: floats.map { SafeTensor(name: $0.key, shape: $0.value.shape, floats: $0.value.values) },
                  metadata: metadata, to: url)
    }

    static func writeAtomically(_ bytes: [UInt8], to url: URL) throws {
        let name = url.path
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SafetensorsError(file: name, "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let msg = String(cString: strerror(errno)); close(fd)
                throw SafetensorsError(file: name, "write failed at byte \(written): \(msg)")
            }
            written += n
        }
        if fsync(fd) != 0 {
            let msg = String(cString: strerror(errno)); close(fd)
            throw SafetensorsError(file: name, "fsync failed: \(msg)")
        }
        close(fd)
        if rename(tmp, name) != 0 {
            throw SafetensorsError(file: name, "rename from \(tmp) failed: \(String(cString: strerror(errno)))")
        }
        ok = true
        // Make the rename durable.
        let dfd = open(url.deletingLastPathComponent().path, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }


    // MARK: reading

    /// Reads and validates a safetensors file.
    public static func read(_ url: URL) throws -> [String: SafeTensor] {
        try readWithMetadata(url).tensors
    }

    public static func readWithMetadata(_ url: URL) throws -> (tensors: [String: SafeTensor], metadata: [String: String]) {
        let name = url.path
        guard FileManager.default.fileExists(atPath: name) else { throw SafetensorsError(file: name, "missing file (no such file)") }
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SafetensorsError(file: name, "cannot read file: \(error.localizedDescription)")
        }
        return try data.withUnsafeBytes { try decode(UnsafeRawBufferPointer($0), name: name) }
    }

    /// Parses a safetensors image held in memory; `name` is used in messages.
    public static func decode(_ buf: UnsafeRawBufferPointer, name: String) throws -> (tensors: [String: SafeTensor], metadata: [String: String]) {
        let size = buf.count
        guard size >= 8 else {
            throw SafetensorsError(file: name, "truncated: \(size) bytes, expected at least 8 (header length)")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(buf[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw SafetensorsError(file: name, "header length \(n) exceeds the limit of \(maxHeaderBytes) bytes")
        }
        let headerLen = Int(n)
        guard 8 + headerLen <= size else {
            throw SafetensorsError(file: name, "header length \(headerLen) at byte 0 exceeds the file: \(size) bytes, expected at least \(8 + headerLen)")
        }
        let header = UnsafeRawBufferPointer(rebasing: buf[8..<(8 + headerLen)])
        var parser = JSONParser(bytes: header, base: 8)
        let root: JSONValue
        do { root = try parser.parseDocument() } catch let e as JSONSyntaxError { throw SafetensorsError(file: name, e.description) }
        guard case .object(let members) = root else {
            throw SafetensorsError(file: name, "header is not a JSON object (byte 8)")
        }
        let dataStart = 8 + headerLen
        let dataSize = size - dataStart
        var metadata: [String: String] = [:]
        struct Entry { let name: String; let dtype: SafeDType; let shape: [Int]; let begin: Int; let end: Int }
        var entries: [Entry] = []
        for (key, value) in members {
            if key == "__metadata__" {
                guard case .object(let kv) = value else {
                    throw SafetensorsError(file: name, "__metadata__ is not an object of strings")
                }
                for (k, v) in kv {
                    guard case .string(let s) = v else {
                        throw SafetensorsError(file: name, "__metadata__ value for '\(k)' is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let fields) = value else {
                throw SafetensorsError(file: name, tensor: key, "entry is not an object with dtype, shape, data_offsets")
            }
            var dtype: SafeDType?, shape: [Int]?, offsets: [Int]?
            for (f, v) in fields {
                switch f {
                case "dtype":
                    guard case .string(let s) = v else { throw SafetensorsError(file: name, tensor: key, "dtype is not a string") }
                    guard let d = SafeDType(rawValue: s) else {
                        throw SafetensorsError(file: name, tensor: key, "unknown dtype \"\(s)\", expected one of \(SafeDType.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    dtype = d
                case "shape":
                    shape = try intArray(v, what: "shape", name: name, tensor: key)
                case "data_offsets":
                    let o = try intArray(v, what: "data_offsets", name: name, tensor: key)
                    guard o.count == 2 else {
                        throw SafetensorsError(file: name, tensor: key, "data_offsets has \(o.count) values, expected 2 [begin, end]")
                    }
                    offsets = o
                default:
                    throw SafetensorsError(file: name, tensor: key, "unexpected field \"\(f)\", expected dtype, shape, data_offsets")
                }
            }
            guard let dtype else { throw SafetensorsError(file: name, tensor: key, "missing dtype") }
            guard let shape else { throw SafetensorsError(file: name, tensor: key, "missing shape") }
            guard let offsets else { throw SafetensorsError(file: name, tensor: key, "missing data_offsets") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end else {
                throw SafetensorsError(file: name, tensor: key, "data_offsets [\(begin), \(end)] end before begin")
            }
            guard end <= dataSize else {
                throw SafetensorsError(file: name, tensor: key, "data_offsets [\(begin), \(end)] out of bounds: the data section has \(dataSize) bytes (file truncated?)")
            }
            var count = 1
            for d in shape {
                let (c, o) = count.multipliedReportingOverflow(by: d)
                if o { throw SafetensorsError(file: name, tensor: key, "shape \(shape) overflows") }
                count = c
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o, bytes == end - begin else {
                throw SafetensorsError(file: name, tensor: key, "\(end - begin) bytes in data_offsets [\(begin), \(end)], expected \(o ? "an impossible size" : String(bytes)) for shape \(shape) of \(dtype.rawValue)")
            }
            entries.append(Entry(name: key, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // The tensors must tile the data section: no overlap, no hole.
        let byOffset = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var pos = 0
        var prev: String?
        for e in byOffset {
            if e.begin < pos {
                throw SafetensorsError(file: name, tensor: e.name, "data_offsets [\(e.begin), \(e.end)] overlap tensor '\(prev!)' (which ends at \(pos))")
            }
            if e.begin > pos {
                throw SafetensorsError(file: name, tensor: e.name, "data_offsets [\(e.begin), \(e.end)] leave a hole: bytes \(pos)..<\(e.begin) belong to no tensor")
            }
            pos = e.end
            prev = e.name
        }
        if pos != dataSize {
            throw SafetensorsError(file: name, "\(dataSize - pos) bytes after the last tensor: the data section has \(dataSize) bytes, the tensors cover \(pos)")
        }
        var tensors: [String: SafeTensor] = [:]
        for e in entries {
            let slice = UnsafeRawBufferPointer(rebasing: buf[(dataStart + e.begin)..<(dataStart + e.end)])
            tensors[e.name] = SafeTensor(name: e.name, dtype: e.dtype, shape: e.shape, bytes: Array(slice))
        }
        return (tensors, metadata)
    }

    static func intArray(_ v: JSONValue, what: String, name: String, tensor: String) throws -> [Int] {
        guard case .array(let items) = v else {
            throw SafetensorsError(file: name, tensor: tensor, "\(what) is not an array of integers")
        }
        return try items.map { item in
            guard case .number(let s) = item, let i = Int(s), i >= 0 else {
                throw SafetensorsError(file: name, tensor: tensor, "\(what) contains \(item.short), expected a non-negative integer")
            }
            return i
        }
    }
}
