// The 4-bit model file `*.gdqr`: an IntegerModel (GDQR module) for the integer
// engine. No float weights. All integers little-endian.
//
// Versions: 1 holds classifiers; 2 adds the header key "task" (centernet or
// segmentation) and the head op kinds upsample2x, sum and concat (no payload);
// 3 adds the layer kinds of VGG, ResNet-50 and MobileNetV2: the value key "signed"
// (levels −L ... L stored as q + L), the op keys "groups" (depthwise conv) and
// "relu6", an add with relu false, avgquant of a float value, and linear ops on a
// spatial input (flattened C·H·W) or with an integer output (hidden classifier
// layers). The writer writes the lowest version a model needs, so older files and
// models stay readable by older readers; a reader names the version of a newer
// file it cannot read, and refuses a version-3 feature in a file of an older version.
//
//   0        8  magic "GDQRMODL"
//   8        4  u32 format version (1, 2 or 3)
//   12       4  u32 header length H (at most 16 MiB)
//   16       4  u32 CRC-32C of the H header bytes
//   20       H  JSON header, UTF-8: classes, task (version 2), normalization, values (name, kind,
//               shape, bits, threshold), ops (name, kind, input/output value ids,
//               geometry, groups (version 3, absent = 1), weight bits, relu, relu6
//               (version 3, absent = false), stem zero points, and where the op's
//               data lies in the payload), info (provenance)
//   20+H     8  u64 payload length U (uncompressed)
//   28+H     8  u64 compressed length P
//   36+H     4  u32 CRC-32C of the U payload bytes
//   40+H     P  one zstd frame: the payload
//   end-16   4  u32 CRC-32C of every byte before the trailer
//   end-12   4  u32 reserved, zero
//   end-8    8  end magic "GDQR_END"
//
// Payload, per conv/linear op in op order: weight levels [Cout, Cin/groups, k, k]
// (linear: [Cout, Cin]; weight bits <= 4: int4,
// two per byte, low nibble first; else int8), then Cout f32 multipliers, then
// Cout f32 biases. The reader recomputes this layout from the header and requires
// the header's offsets and U to match it exactly.
//
// Reader rules (a file is data, never trusted): sizes are checked before any
// allocation (U at most 1 GiB and at most 32768 x P), the three checksums are
// checked (trailer first, so any flipped byte is a checksum error), and the model
// is validated (wiring, shapes, levels within their bits, finite parameters)
// before the engine sees it. Every error names the file and the reason.

import Foundation
import IntegerInference
import Checkpoint

public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let reason: String
    public init(file: String, _ reason: String) { self.file = file; self.reason = reason }
    public var description: String { "\(file): \(reason)" }
}

public enum ModelFile {
    public static let magic: [UInt8] = Array("GDQRMODL".utf8)
    public static let endMagic: [UInt8] = Array("GDQR_END".utf8)
    /// The newest version this code reads and writes.
    public static let formatVersion: UInt32 = 3
    /// The version `model` is written with.
    public static func version(for model: IntegerModel) -> UInt32 {
        model.usesVersion3 ? 3 : model.usesHeadOps ? 2 : 1
    }
    public static let prefixSize = 20
    public static let trailerSize = 16
    public static let maxHeaderBytes = 16 << 20
    public static let maxPayloadBytes = 1 << 30
    public static let fileExtension = "gdqr"

    struct Norm: Codable { var mean: [Float]; var std: [Float] }
    struct OpHeader: Codable {
        var name: String
        var kind: IntegerOpKind
        var inputs: [Int]
        var output: Int
        var in_channels: Int
        var out_channels: Int
        var kernel: Int
        var stride: Int
        var padding: Int
        var weight_bits: Int
        var relu: Bool
        /// Version 3; written only when not the default (1, false).
        var groups: Int?
        var relu6: Bool?
        var zero_point: [Float]
        var weights_offset: Int
        var weights_bytes: Int
        var params_offset: Int
    }
    struct Header: Codable {
        var format: String
        var classes: Int
        /// Version 2; absent (classification) in version 1.
        var task: IntegerTask?
        var normalization: Norm
        var values: [IntegerValue]
        var ops: [OpHeader]
        var info: [String: String]
        var payload_bytes: Int
    }

    static func weightBytes(count: Int, bits: Int) -> Int { bits <= 4 ? Int4Packing.packedCount(count) : count }

    // MARK: writing

    public static func encode(_ model: IntegerModel, level: Int = 19) throws -> [UInt8] {
        try model.validate()
        var payload = [UInt8]()
        var ops: [OpHeader] = []
        for op in model.ops {
            var h = OpHeader(name: op.name, kind: op.kind, inputs: op.inputs, output: op.output,
                             in_channels: op.inChannels, out_channels: op.outChannels, kernel: op.kernel,
                             stride: op.stride, padding: op.padding, weight_bits: op.weightBits, relu: op.relu,
                             groups: op.groups == 1 ? nil : op.groups, relu6: op.relu6 ? true : nil,
                             zero_point: op.zeroPoint, weights_offset: 0, weights_bytes: 0, params_offset: 0)
            if op.hasWeights {
                h.weights_offset = payload.count
                if op.weightBits <= 4 {
                    payload += Int4Packing.pack(op.weights)
                } else {
                    payload += op.weights.map { UInt8(bitPattern: $0) }
                }
                h.weights_bytes = payload.count - h.weights_offset
                h.params_offset = payload.count
                for f in op.multiplier + op.bias { withUnsafeBytes(of: f.bitPattern.littleEndian) { payload += $0 } }
            }
            ops.append(h)
        }
        let version = version(for: model)
        let header = Header(format: "gdqr-model", classes: model.classes, task: version >= 2 ? model.task : nil,
                            normalization: Norm(mean: model.normMean, std: model.normStd),
                            values: model.values, ops: ops, info: model.info, payload_bytes: payload.count)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try assemble(version: version, header: [UInt8](try enc.encode(header)), payload: payload, level: level)
    }

    /// The container around a JSON header and an uncompressed payload: prefix,
    /// checksums, the zstd frame and the trailer. The fuzz harness wraps mutated
    /// headers and payloads with it, so that mutations reach the validation.
    public static func assemble(version: UInt32, header json: [UInt8], payload: [UInt8], level: Int = 19) throws -> [UInt8] {
        let compressed = try payload.withUnsafeBytes { try Zstd.compress($0, level: level) }
        var out = magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        u32(version)
        u32(UInt32(json.count))
        u32(CRC32C.checksum(json))
        out += json
        u64(UInt64(payload.count))
        u64(UInt64(compressed.count))
        u32(CRC32C.checksum(payload))
        out += compressed
        u32(CRC32C.checksum(out))
        u32(0)
        out += endMagic
        return out
    }

    /// Writes atomically (temporary file, then rename).
    public static func write(_ model: IntegerModel, to path: String, level: Int = 19) throws {
        let bytes = try encode(model, level: level)
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try Data(bytes).write(to: tmp)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw ModelFileError(file: path, "cannot write: \(error.localizedDescription)")
        }
        // rename(2) replaces an existing file atomically (FileManager.replaceItemAt
        // fails on Linux when the destination exists).
        guard rename(tmp.path, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw ModelFileError(file: path, "cannot write: \(reason)")
        }
    }

    // MARK: reading

    public static func read(_ path: String) throws -> IntegerModel {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelFileError(file: path, "cannot read: \(error.localizedDescription)")
        }
        return try [UInt8](data).withUnsafeBytes { try decode($0, name: path) }
    }

    public static func decode(_ b: UnsafeRawBufferPointer, name: String) throws -> IntegerModel {
        func fail(_ r: String) -> ModelFileError { ModelFileError(file: name, r) }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        let size = b.count
        guard size >= 8, Array(b[0..<8]) == magic else {
            if size < 8 { throw fail("truncated: \(size) bytes, not a .gdqr model file") }
            throw fail("not a .gdqr model file (bad magic)")
        }
        guard size >= 12 else { throw fail("truncated: \(size) bytes, the prefix needs \(prefixSize)") }
        let version = u32(8)
        guard (1...formatVersion).contains(version) else {
            throw fail("unsupported format version \(version) (this reader knows versions 1 to \(formatVersion))")
        }
        let minimum = prefixSize + 20 + trailerSize
        guard size >= minimum else { throw fail("truncated: \(size) bytes, a model file has at least \(minimum)") }
        guard Array(b[(size - 8)..<size]) == endMagic else {
            throw fail("truncated or damaged: no end marker in the last 8 bytes")
        }
        let trailerCRC = u32(size - 16)
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<(size - 16)])) == trailerCRC else {
            throw fail("trailer checksum mismatch: the file is corrupt")
        }
        let h = Int(u32(12))
        guard h <= maxHeaderBytes, prefixSize + h + 20 + trailerSize <= size else {
            throw fail("truncated or damaged: header length \(h) does not fit in \(size) bytes")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: b[prefixSize..<(prefixSize + h)])
        guard CRC32C.checksum(headerBytes) == u32(16) else { throw fail("header checksum mismatch: the file is corrupt") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(headerBytes)) } catch {
            throw fail("header is not valid JSON for a model: \(error)")
        }
        guard header.format == "gdqr-model" else { throw fail("header format '\(header.format)', expected gdqr-model") }
        if version < 2 {
            if let op = header.ops.first(where: { $0.kind.isHeadOp }) {
                throw fail("op \(op.name): kind \(op.kind.rawValue) needs format version 2, the file says \(version)")
            }
            guard header.task == nil else { throw fail("header key task needs format version 2, the file says \(version)") }
        }
        let p0 = prefixSize + h
        let uRaw = u64(p0), pRaw = u64(p0 + 8), payloadCRC = u32(p0 + 16)
        guard pRaw == UInt64(size - p0 - 20 - trailerSize) else {
            throw fail("truncated or damaged: compressed payload length \(pRaw), the file holds \(size - p0 - 20 - trailerSize) bytes for it")
        }
        guard uRaw <= UInt64(maxPayloadBytes), uRaw <= pRaw * UInt64(Zstd.maxExpansionRatio) else {
            throw fail("payload length \(uRaw) exceeds what the file can hold")
        }
        let u = Int(uRaw)
        guard header.payload_bytes == u else { throw fail("header says \(header.payload_bytes) payload bytes, the prefix \(u)") }
        guard header.values.count <= 1 << 20, header.ops.count <= 1 << 20 else { throw fail("too many values or ops") }
        // The layout the header implies, checked before decompressing.
        var expected = 0
        for op in header.ops where op.kind == .conv || op.kind == .linear {
            guard (1...65_536).contains(op.in_channels), (1...65_536).contains(op.out_channels),
                  (1...15).contains(op.kernel), (2...8).contains(op.weight_bits) else {
                throw fail("op \(op.name): channels, kernel or weight bits out of range")
            }
            let groups = op.groups ?? 1
            guard groups >= 1, op.in_channels % groups == 0 else {
                throw fail("op \(op.name): groups \(groups) do not divide its \(op.in_channels) input channels")
            }
            let count = op.out_channels * (op.in_channels / groups) * op.kernel * op.kernel
            let wb = weightBytes(count: count, bits: op.weight_bits)
            guard op.weights_offset == expected, op.weights_bytes == wb, op.params_offset == expected + wb else {
                throw fail("op \(op.name): payload offsets do not match the layout")
            }
            expected += wb + 8 * op.out_channels
            guard expected <= maxPayloadBytes else { throw fail("payload layout exceeds \(maxPayloadBytes) bytes") }
        }
        guard expected == u else { throw fail("payload holds \(u) bytes, the ops need \(expected)") }
        let payload: [UInt8]
        do {
            payload = try Zstd.decompress(UnsafeRawBufferPointer(rebasing: b[(p0 + 20)..<(size - trailerSize)]),
                                          contentSize: u, maxOutput: maxPayloadBytes)
        } catch {
            throw fail("payload does not decompress: \(error)")
        }
        guard CRC32C.checksum(payload) == payloadCRC else { throw fail("payload checksum mismatch: the file is corrupt") }
        var ops: [IntegerOp] = []
        try payload.withUnsafeBytes { pb in
            for oh in header.ops {
                var op = IntegerOp(name: oh.name, kind: oh.kind, inputs: oh.inputs, output: oh.output)
                op.inChannels = oh.in_channels; op.outChannels = oh.out_channels
                op.kernel = oh.kernel; op.stride = oh.stride; op.padding = oh.padding
                op.weightBits = oh.weight_bits; op.relu = oh.relu; op.zeroPoint = oh.zero_point
                op.groups = oh.groups ?? 1; op.relu6 = oh.relu6 ?? false
                if op.hasWeights {
                    let count = op.weightCount
                    let wbytes = UnsafeRawBufferPointer(rebasing: pb[oh.weights_offset..<(oh.weights_offset + oh.weights_bytes)])
                    op.weights = op.weightBits <= 4 ? Int4Packing.unpack(wbytes, count: count)
                                                    : wbytes.map { Int8(bitPattern: $0) }
                    let c = op.outChannels
                    func f(_ i: Int) -> Float {
                        Float(bitPattern: UInt32(littleEndian: pb.loadUnaligned(fromByteOffset: oh.params_offset + 4 * i, as: UInt32.self)))
                    }
                    op.multiplier = (0..<c).map { f($0) }
                    op.bias = (0..<c).map { f(c + $0) }
                }
                ops.append(op)
            }
        }
        let model = IntegerModel(values: header.values, ops: ops, classes: header.classes,
                                 task: header.task ?? .classification, normMean: header.normalization.mean, normStd: header.normalization.std, info: header.info)
        do { try model.validate() } catch { throw fail("invalid model: \(error)") }
        if version < 3 && model.usesVersion3 {
            throw fail("the model uses version-3 features (signed values, groups, relu6, an add without relu, "
                       + "a float average or a spatial or hidden linear op), the file says version \(version)")
        }
        return model
    }
}
