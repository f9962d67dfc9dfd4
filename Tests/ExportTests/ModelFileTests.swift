// The integer model file (.gdqr): round trip of a folded model (classifiers of
// version 1; MobileNetV2 and VGG with a hidden classifier layer, version 3), and
// corruption cases (truncated, flipped byte, wrong version, a version-3 feature in
// an older version, wrong magic) with their messages.
import XCTest
import Layers
import TensorEngine
import GDQR
import IntegerInference
import Checkpoint
@testable import Export

final class ModelFileTests: XCTestCase {
    static func foldedModel(arch: ModelSpec.Arch = .resnet) throws -> IntegerModel {
        try foldedModel(ModelSpec(arch: arch, depth: 8, width: 8, numClasses: 10, input: FeatureShape(1, 12, 12)))
    }

    static func foldedModel(_ spec: ModelSpec) throws -> IntegerModel {
        let policy = try GDQRPolicy(QuantSettings(), model: spec)
        let net = Network(spec, maxBatch: 4, threads: 1, seed: 3, policy: policy)
        let rt = Runtime(arena: net.arena, pool: nil)
        var rng = CounterRNG(seed: 3, stream: 1)
        let x = (0..<(4 * spec.input.count)).map { _ in rng.nextNormal() }
        _ = x.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 4, rt: rt) }
        return try Folding.fold(net, normalization: ([0.2860], [0.3530]), info: ["test": "yes"])
    }

    func tmp(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("modelfile-\(getpid())-\(name)").path
    }

    func testRoundTrip() throws {
        for arch in [ModelSpec.Arch.resnet, .cnn] {
            let m = try Self.foldedModel(arch: arch)
            let path = tmp("rt-\(arch).gdqr")
            defer { try? FileManager.default.removeItem(atPath: path) }
            try ModelFile.write(m, to: path)
            let back = try ModelFile.read(path)
            XCTAssertEqual(back, m)
            // Deterministic bytes.
            XCTAssertEqual(try ModelFile.encode(m), try ModelFile.encode(back))
            // int4 layers are packed two per byte.
            let int4 = m.ops.filter { $0.hasWeights && $0.weightBits == 4 }
            XCTAssertFalse(int4.isEmpty)
        }
    }

    static let zooSpecs = [
        ModelSpec(arch: .mobilenetv2, numClasses: 10, input: FeatureShape(1, 16, 16), widthMultiplier: 0.25),
        ModelSpec(arch: .vgg, depth: 7, numClasses: 10, input: FeatureShape(1, 16, 16), widthMultiplier: 0.0625,
                  classifier: [24]),
    ]

    /// Depthwise convs, ReLU6, signed values, adds without ReLU, a float average and hidden
    /// linear layers round-trip as version 3; a model without them keeps version 1 and
    /// writes none of the version-3 keys.
    func testZooModelsRoundTripAsVersion3() throws {
        for spec in Self.zooSpecs {
            let m = try Self.foldedModel(spec)
            XCTAssertEqual(ModelFile.version(for: m), 3, spec.description)
            let bytes = try ModelFile.encode(m)
            XCTAssertEqual(bytes[8], 3)
            let back = try bytes.withUnsafeBytes { try ModelFile.decode($0, name: "zoo.gdqr") }
            XCTAssertEqual(back, m, spec.description)
            XCTAssertEqual(try ModelFile.encode(back), bytes)
        }
        let old = try ModelFile.encode(try Self.foldedModel())
        XCTAssertEqual(old[8], 1)
        let text = String(decoding: old, as: UTF8.self)
        for key in ["\"signed\"", "\"groups\"", "\"relu6\""] { XCTAssertFalse(text.contains(key), key) }
    }

    /// A version-3 model in a file that says version 2 (trailer checksum recomputed) is refused.
    func testVersion3FeatureInAnOlderVersionIsRefused() throws {
        var bytes = try ModelFile.encode(try Self.foldedModel(Self.zooSpecs[0]))
        bytes[8] = 2
        let crc = CRC32C.checksum(Array(bytes[0..<(bytes.count - 16)]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[bytes.count - 16 + i] = $0[i] } }
        XCTAssertEqual(decodeError(bytes), "m.gdqr: the model uses version-3 features (signed values, groups, relu6, "
                       + "an add without relu, a float average or a spatial or hidden linear op), the file says version 2")
    }

    func testWriteReplacesAnExistingFileAndLeavesNoTemporary() throws {
        let m = try Self.foldedModel()
        let dir = tmp("replace")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.gdqr"
        try Data("an older file".utf8).write(to: URL(fileURLWithPath: path))
        try ModelFile.write(m, to: path)
        try ModelFile.write(m, to: path)   // and once more over a valid model
        XCTAssertEqual(try ModelFile.read(path), m)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["m.gdqr"])
    }

    func testWriteIntoMissingFolderNamesTheFile() throws {
        let path = tmp("no-such-dir") + "/m.gdqr"
        XCTAssertThrowsError(try ModelFile.write(try Self.foldedModel(), to: path)) { error in
            XCTAssertTrue("\(error)".contains("m.gdqr") && "\(error)".contains("cannot write"), "\(error)")
        }
    }

    func decodeError(_ bytes: [UInt8]) -> String {
        do {
            _ = try bytes.withUnsafeBytes { try ModelFile.decode($0, name: "m.gdqr") }
            return "no error"
        } catch { return "\(error)" }
    }

    func testCorruption() throws {
        let good = try ModelFile.encode(try Self.foldedModel())
        XCTAssertEqual(decodeError(good), "no error")
        // Truncated anywhere.
        for cut in [0, 5, 11, 30, good.count / 2, good.count - 1] {
            let msg = decodeError(Array(good[0..<cut]))
            XCTAssertTrue(msg.hasPrefix("m.gdqr: ") && msg.contains("truncated"), "cut at \(cut): \(msg)")
        }
        // A flipped byte anywhere after the version: checksum mismatch.
        for at in [12, 20, 100, good.count / 2, good.count - 20, good.count - 13] {
            var bad = good
            bad[at] ^= 0x40
            XCTAssertEqual(decodeError(bad), "m.gdqr: trailer checksum mismatch: the file is corrupt", "byte \(at)")
        }
        // Wrong version.
        var v4 = good
        v4[8] = 4
        XCTAssertEqual(decodeError(v4), "m.gdqr: unsupported format version 4 (this reader knows versions 1 to 3)")
        // Wrong magic.
        var magic = good
        magic[0] = UInt8(ascii: "X")
        XCTAssertEqual(decodeError(magic), "m.gdqr: not a .gdqr model file (bad magic)")
        // A flipped payload byte with a recomputed trailer: the payload checksum catches it
        // (or zstd refuses the frame).
        var inner = good
        inner[good.count - 30] ^= 0x01
        let crc = CRC32C.checksum(Array(inner[0..<(inner.count - 16)]))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { inner[inner.count - 16 + i] = $0[i] } }
        let msg = decodeError(inner)
        XCTAssertTrue(msg.contains("payload checksum mismatch") || msg.contains("does not decompress"), msg)
        // Missing file.
        XCTAssertThrowsError(try ModelFile.read(tmp("missing.gdqr"))) { e in
            XCTAssertTrue("\(e)".contains("missing.gdqr: cannot read"), "\(e)")
        }
    }

    /// A model with broken wiring is refused by validation (the reader runs the same
    /// validation after decoding, so a crafted file with valid checksums is refused too).
    func testInvalidModelRefused() throws {
        var m = try Self.foldedModel()
        let i = m.ops.firstIndex { $0.hasWeights && $0.weightBits == 8 }!
        m.ops[i].inputs = [m.ops.count + 5]
        XCTAssertThrowsError(try ModelFile.encode(m)) { e in XCTAssertTrue("\(e)".contains("is not produced before it"), "\(e)") }
    }
}
