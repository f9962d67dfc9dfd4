import Foundation
import XCTest
@testable import Checkpoint
import Layers

/// Deterministic test data.
struct TestRNG {
    var s: UInt64
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

func sampleContents(params: Int = 3000, seed: UInt64 = 1) -> CheckpointContents {
    var rng = TestRNG(s: seed)
    var p = (0..<params).map { _ in rng.normal() * 0.05 }
    p[0] = -0.0; p[1] = .infinity; p[2] = Float(bitPattern: 0x7FC0_1234); p[3] = .leastNonzeroMagnitude
    let m = (0..<params).map { _ in rng.normal() * 1e-3 }
    let st = (0..<40).map { Float($0) * 0.25 }
    let run = CheckpointRunInfo(step: 1200, epoch: 3, stepInEpoch: 17, worldSize: 16, threads: 2,
                                projectVersion: "0.1.0", configYAML: "model: resnet20\nlr: 0.1 # \"quoted\"\n\tüñï\n",
                                configHash: "abc123", rngState: ["sampler": 42, "augment": UInt64.max],
                                metadata: ["val_acc": "0.91", "note": "a\"b\\c\u{1}"])
    let tensors = [
        CheckpointTensor(name: "conv1.weight", section: "params", offset: 0, count: 2000, shape: [20, 10, 10]),
        CheckpointTensor(name: "fc.weight", section: "params", offset: 2000, count: params - 2000, shape: [params - 2000]),
        CheckpointTensor(name: "bn.running_mean", section: "statistics", offset: 0, count: 40, shape: [40]),
    ]
    return CheckpointContents(run: run, sections: [CheckpointSection(name: "params", floats: p),
                                                   CheckpointSection(name: "momentum", floats: m),
                                                   CheckpointSection(name: "statistics", floats: st),
                                                   CheckpointSection(name: "empty", floats: [])], tensors: tensors)
}

func bits(_ c: CheckpointContents) -> [[UInt32]] { c.sections.map { $0.floats.map(\.bitPattern) } }

class CheckpointFileTestCase: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gdqr-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func put(_ bytes: [UInt8], _ name: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Reads and verifies `bytes` as a file; both must fail naming the file and with every phrase.
    func assertRejected(_ bytes: [UInt8], _ phrases: [String], name: String = "bad.gdqrckpt",
                        file: StaticString = #filePath, line: UInt = #line) {
        let path = put(bytes, name)
        for op in ["read", "verify"] {
            do {
                if op == "read" { _ = try CheckpointFile.read(path) } else { _ = try CheckpointFile.verify(path) }
                XCTFail("\(op) accepted a bad file; expected \(phrases)", file: file, line: line)
            } catch {
                let text = "\(error)"
                XCTAssertTrue(error is CheckpointError, "\(op): not a CheckpointError: \(text)", file: file, line: line)
                XCTAssertTrue(text.contains(path), "\(op): '\(text)' does not name the file", file: file, line: line)
                for p in phrases {
                    XCTAssertTrue(text.contains(p), "\(op): '\(text)' does not contain '\(p)'", file: file, line: line)
                }
            }
        }
    }

    /// Rebuilds a valid file with a modified header (offsets retiled, checksums redone).
    func forge(_ good: [UInt8], retile: Bool = true, _ mutate: (inout CheckpointHeader) -> Void) throws -> [UInt8] {
        let (h0, _) = try good.withUnsafeBytes { try CheckpointFile.decode($0, name: "x", keep: false) }
        let hlen = Int(good.withUnsafeBytes { CheckpointFile.loadLE($0, 12, bytes: 8) })
        let frames = Array(good[(24 + hlen)..<(good.count - 16)])
        var h = h0
        mutate(&h)
        var json = CheckpointJSON.encode(h)
        if retile {
            for _ in 0..<3 {
                var pos = 24 + json.count
                for i in h.sections.indices { h.sections[i].offset = pos; pos += h0.sections[i].compressedLength }
                json = CheckpointJSON.encode(h)
            }
        }
        var out = CheckpointFile.magic
        CheckpointFile.appendLE(&out, 1, bytes: 4)
        CheckpointFile.appendLE(&out, UInt64(json.count), bytes: 8)
        CheckpointFile.appendLE(&out, UInt64(CRC32C.checksum(json)), bytes: 4)
        out += json + frames
        let crc = CRC32C.checksum(out)
        CheckpointFile.appendLE(&out, UInt64(crc), bytes: 4)
        CheckpointFile.appendLE(&out, 0, bytes: 4)
        return out + CheckpointFile.endMagic
    }
}

final class CheckpointFileTests: CheckpointFileTestCase {
    func testCRC32CCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        var c = CRC32C()
        for chunk in ["1234", "56789"] { c.update(Array(chunk.utf8)) }
        XCTAssertEqual(c.value, 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)  // RFC 3720 B.4
    }

    func testShuffleInverts() {
        var rng = TestRNG(s: 9)
        for n in [0, 1, 7, 1000] {
            let x = (0..<n).map { _ in rng.normal() }
            var planes = [UInt8](repeating: 0, count: 4 * n), y = [Float](repeating: 1, count: n)
            if n > 0 {
                x.withUnsafeBytes { ByteShuffle.shuffle($0.baseAddress!, count: n, into: &planes) }
                planes.withUnsafeBytes { p in y.withUnsafeMutableBytes { ByteShuffle.unshuffle(p.baseAddress!, count: n, into: $0.baseAddress!) } }
                XCTAssertEqual(planes[3 * n], UInt8(x[0].bitPattern >> 24))
            }
            XCTAssertEqual(x.map(\.bitPattern), y.map(\.bitPattern))
        }
    }

    func testZstdErrorsAndCap() throws {
        let src = [UInt8](repeating: 7, count: 100_000)
        let z = try src.withUnsafeBytes { try Zstd.compress($0, level: 3) }
        XCTAssertEqual(try z.withUnsafeBytes { try Zstd.decompress($0, contentSize: 100_000, maxOutput: 1 << 20) }, src)
        XCTAssertThrowsError(try z.withUnsafeBytes { try Zstd.decompress($0, contentSize: 100_000, maxOutput: 1000) }) {
            XCTAssertTrue("\($0)".contains("exceeds the limit"), "\($0)")
        }
        XCTAssertThrowsError(try z.withUnsafeBytes { try Zstd.decompress($0, contentSize: 99_999, maxOutput: 1 << 20) }) {
            XCTAssertTrue("\($0)".contains("expected 99999"), "\($0)")
        }
        let junk: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        XCTAssertThrowsError(try junk.withUnsafeBytes { try Zstd.decompress($0, contentSize: 8, maxOutput: 8) }) {
            XCTAssertTrue("\($0)".hasPrefix("zstd: "), "\($0)")
        }
    }

    func testRoundTripBitIdentical() throws {
        let c = sampleContents()
        for shuffle in [true, false] {
            let path = dir + "/step-00001200.gdqrckpt"
            let written = try CheckpointFile.write(c, to: path, level: 3, shuffle: shuffle)
            let back = try CheckpointFile.read(path)
            XCTAssertEqual(back.run, c.run)
            XCTAssertEqual(back.tensors, c.tensors)
            XCTAssertEqual(back.sections.map(\.name), ["params", "momentum", "statistics", "empty"])
            XCTAssertEqual(bits(back), bits(c))
            XCTAssertEqual(back.step, 1200)
            XCTAssertEqual(back.rngState["augment"], UInt64.max)
            XCTAssertEqual(back.tensor("bn.running_mean"), Array(c.sections[2].floats))
            let h = try CheckpointFile.verify(path)
            XCTAssertEqual(h, written)
            XCTAssertEqual(h.sections.map(\.byteShuffled), [shuffle, shuffle, shuffle, shuffle])
            XCTAssertEqual(try CheckpointFile.readHeader(path), h)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
            XCTAssertEqual(leftovers, [])
        }
    }

    func testDeterministicBytes() throws {
        let c = sampleContents()
        let a = try CheckpointFile.encode(c), b = try CheckpointFile.encode(c)
        XCTAssertEqual(a, b)
        try CheckpointFile.write(c, to: dir + "/a.gdqrckpt")
        try CheckpointFile.write(c, to: dir + "/b.gdqrckpt")
        XCTAssertEqual(FileManager.default.contents(atPath: dir + "/a.gdqrckpt"), FileManager.default.contents(atPath: dir + "/b.gdqrckpt"))
        XCTAssertEqual(Array(FileManager.default.contents(atPath: dir + "/a.gdqrckpt")!), a)
    }

    func testWriteRejectsInconsistentContents() {
        var c = sampleContents()
        c.tensors.append(CheckpointTensor(name: "x", section: "params", offset: 2990, count: 20, shape: [20]))
        XCTAssertThrowsError(try CheckpointFile.encode(c)) { XCTAssertTrue("\($0)".contains("tensor 'x'"), "\($0)") }
        c = sampleContents()
        c.sections.append(CheckpointSection(name: "params", floats: []))
        XCTAssertThrowsError(try CheckpointFile.encode(c)) { XCTAssertTrue("\($0)".contains("duplicate section"), "\($0)") }
    }

    func testTruncatedAtSeveralLengths() throws {
        let good = try CheckpointFile.encode(sampleContents())
        let h = try good.withUnsafeBytes { try CheckpointFile.decode($0, name: "x", keep: false).header }
        let hlen = h.sections[0].offset - 24
        XCTAssertGreaterThan(hlen, 100)
        var cuts = [0, 3, 8, 12, 23, 24, 30, 24 + hlen / 2, 24 + hlen, good.count - 17, good.count - 16, good.count - 1]
        for s in h.sections { cuts.append(s.offset + s.compressedLength / 2) }
        for n in cuts {
            assertRejected(Array(good[0..<n]), ["truncated"], name: "cut-\(n).gdqrckpt")
        }
        // The section ends past the file: named with both sizes.
        let mom = h.sections[1]
        let n = mom.offset + 10
        assertRejected(Array(good[0..<n]), ["truncated: file is \(n) bytes, header says section 'momentum' ends at \(mom.offset + mom.compressedLength)"])
    }

    func testFlippedByteInEachPart() throws {
        let good = try CheckpointFile.encode(sampleContents())
        let h = try good.withUnsafeBytes { try CheckpointFile.decode($0, name: "x", keep: false).header }
        func flipped(_ at: Int, _ mask: UInt8 = 0x10) -> [UInt8] { var b = good; b[at] ^= mask; return b }
        // A flipped byte in a frame is caught by the trailer checksum before zstd sees the
        // frame, and called corrupt (not "Destination buffer is too small").
        for s in h.sections {
            for at in [s.offset + s.compressedLength / 2, s.offset + s.compressedLength - 1] {
                assertRejected(flipped(at), ["corrupt: trailer checksum mismatch", "the file changed after it was written"],
                               name: "flip-\(s.name)-\(at).gdqrckpt")
            }
        }
        for at in [24, 24 + 50, h.sections[0].offset - 1] {
            assertRejected(flipped(at, 0x01), ["header checksum mismatch"], name: "flip-header-\(at).gdqrckpt")
        }
        assertRejected(flipped(good.count - 16), ["trailer checksum mismatch"])
        assertRejected(flipped(good.count - 12), ["reserved trailer bytes"])
        assertRejected(flipped(good.count - 3), ["bad end magic"])
        assertRejected(flipped(0), ["bad magic"])
        assertRejected(flipped(20), ["header checksum mismatch"])
        // Every flip in the params frame: corrupt, by the trailer checksum.
        let p = h.sections[0]
        for at in stride(from: p.offset + 20, to: p.offset + p.compressedLength, by: 97) {
            let path = put(flipped(at), "flip-scan.gdqrckpt")
            XCTAssertThrowsError(try CheckpointFile.verify(path)) { e in
                XCTAssertTrue("\(e)".hasPrefix(path + ": corrupt: trailer checksum mismatch"), "\(e)")
            }
        }
        // A frame changed and the trailer recomputed to match (a forged or mis-written
        // file): zstd may decode it without complaint, the section checksum still fails.
        var caught = 0
        for at in stride(from: p.offset + 20, to: p.offset + p.compressedLength, by: 97) {
            var b = flipped(at)
            let crc = CRC32C.checksum(Array(b[0..<(b.count - 16)]))
            for i in 0..<4 { b[b.count - 16 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
            let path = put(b, "flip-forged.gdqrckpt")
            XCTAssertThrowsError(try CheckpointFile.verify(path)) { e in
                XCTAssertTrue("\(e)".contains("corrupt: ") && "\(e)".contains("section 'params'"), "\(e)")
                if "\(e)".contains("corrupt: checksum mismatch in section 'params'") { caught += 1 }
            }
        }
        XCTAssertGreaterThan(caught, 0)
    }

    func testWrongMagicAndVersion() throws {
        let good = try CheckpointFile.encode(sampleContents())
        var b = good
        b.replaceSubrange(0..<8, with: Array("GDQRMODL".utf8))
        assertRejected(b, ["bad magic"])
        assertRejected(Array("hello".utf8), ["bad magic"])
        assertRejected(Array("GDQR".utf8), ["truncated: file is 4 bytes"])
        b = good
        b[8] = 7
        assertRejected(b, ["unsupported format version 7 (this build reads 1)"])
    }

    func testAbsurdHeaderLengths() throws {
        let good = try CheckpointFile.encode(sampleContents())
        for (value, phrase) in [(UInt64.max, "exceeds the limit"), (UInt64(1) << 40, "exceeds the limit"),
                                (UInt64(good.count), "truncated"), (0, "header checksum mismatch")] {
            var b = good
            for i in 0..<8 { b[12 + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
            assertRejected(b, [phrase], name: "hlen-\(value).gdqrckpt")
        }
    }

    func testAbsurdSectionSizesAndTables() throws {
        let good = try CheckpointFile.encode(sampleContents())
        let ok = put(try forge(good) { _ in }, "forged-ok.gdqrckpt")
        XCTAssertNoThrow(try CheckpointFile.verify(ok))
        assertRejected(try forge(good) { $0.sections[1].count = 1 << 40; $0.sections[1].uncompressedLength = 4 << 40 },
                       ["section 'momentum'", "cannot expand to \(4 << 40)"])
        assertRejected(try forge(good) { $0.sections[1].count = Int.max; $0.sections[1].uncompressedLength = Int.max },
                       ["section 'momentum'", "does not match"])
        assertRejected(try forge(good) { $0.sections[0].uncompressedLength += 4 }, ["section 'params'", "does not match"])
        assertRejected(try forge(good) { $0.sections[0].count += 1; $0.sections[0].uncompressedLength += 4 },
                       ["cannot decompress section 'params'"])
        assertRejected(try forge(good) { $0.sections[2].compressedLength += 1000 }, ["truncated", "section 'statistics' ends at"])
        assertRejected(try forge(good, retile: false) { $0.sections[1].offset += 1 }, ["section 'momentum'", "leaves a hole"])
        assertRejected(try forge(good) { $0.sections[0].dtype = "f16" }, ["dtype \"f16\""])
        assertRejected(try forge(good) { $0.sections[3].name = "params" }, ["duplicate section 'params'"])
        assertRejected(try forge(good) { $0.tensors[1].count += 1; $0.tensors[1].shape = [$0.tensors[1].count] },
                       ["tensor 'fc.weight'", "outside section 'params'"])
        assertRejected(try forge(good) { $0.tensors[0].shape = [20, 10, 11] }, ["tensor 'conv1.weight'", "2200 elements"])
        assertRejected(try forge(good) { $0.tensors[0].section = "nope" }, ["missing section 'nope'"])
        assertRejected(try forge(good) { $0.tensors[0].shape = [Int.max, 3] }, ["invalid shape"])
        assertRejected(good + [0, 0, 0, 0], ["4 bytes between the last section"])
    }

    func testExpansionBudget() throws {
        // 40 KB of incompressible floats: a 1.2 GB claim passes the zstd ratio bound
        // but not the budget a 40 KB file justifies.
        var rng = TestRNG(s: 5)
        let c = CheckpointContents(run: CheckpointRunInfo(), sections: [CheckpointSection(name: "params", floats: (0..<10_000).map { _ in rng.normal() })])
        let good = try CheckpointFile.encode(c, shuffle: false)
        let claim = 300_000_000
        assertRejected(try forge(good) { $0.sections[0].count = claim; $0.sections[0].uncompressedLength = 4 * claim },
                       ["section 'params'", "can justify"])
    }

    func testHostileJSONHeaders() throws {
        let good = try CheckpointFile.encode(sampleContents())
        for (json, phrase) in [("[]", "expected an object"), ("{", "invalid JSON"), (String(repeating: "[", count: 200), "nesting"),
                               ("{\"step\":1}", "missing key"), ("\u{0}", "invalid JSON")] {
            var out = CheckpointFile.magic
            let j = Array(json.utf8)
            CheckpointFile.appendLE(&out, 1, bytes: 4)
            CheckpointFile.appendLE(&out, UInt64(j.count), bytes: 8)
            CheckpointFile.appendLE(&out, UInt64(CRC32C.checksum(j)), bytes: 4)
            out += j + Array(good.suffix(16))
            assertRejected(out, [phrase], name: "json-\(phrase.count).gdqrckpt")
        }
        assertRejected(try forge(good) { $0.run.step = 5 }.replacing(Array("\"step\":5".utf8), with: Array("\"step\":-5".utf8)),
                       ["header checksum mismatch"])
    }

    func testArenaRoundTripAndMismatch() throws {
        func model(_ width: Int) -> ArenaBuilder {
            let b = ArenaBuilder()
            _ = b.parameter("conv.weight", shape: [width, 3, 3, 3], role: .weight, Init.kaimingNormal(fan: 27))
            _ = b.parameter("fc.bias", shape: [10], role: .bias, Init.constant(0.5))
            _ = b.statistic("bn.running_var", shape: [width], initialValue: 1)
            return b
        }
        let a = ParameterArena(model(8), seed: 1)
        for i in 0..<a.parameterCount { a.momentum[i] = Float(i) * 1e-3 }
        a.statistics[3] = 42
        let path = dir + "/step-00000001.gdqrckpt"
        try CheckpointFile.write(CheckpointContents(arena: a, run: CheckpointRunInfo(step: 1)), to: path)
        let back = try CheckpointFile.read(path)
        XCTAssertEqual(back.tensors.map(\.name), ["conv.weight", "fc.bias", "conv.weight@momentum", "fc.bias@momentum", "bn.running_var"])
        let b = ParameterArena(model(8), seed: 2)
        try back.restore(into: b, file: path)
        for i in 0..<a.parameterCount {
            XCTAssertEqual(a.values[i].bitPattern, b.values[i].bitPattern)
            XCTAssertEqual(a.momentum[i].bitPattern, b.momentum[i].bitPattern)
        }
        XCTAssertEqual(b.statistics[3], 42)
        let other = ParameterArena(model(4), seed: 1)
        XCTAssertThrowsError(try back.restore(into: other, file: path)) {
            XCTAssertTrue("\($0)".contains("tensor 'conv.weight': shape [8, 3, 3, 3] in the checkpoint, the model needs [4, 3, 3, 3]"), "\($0)")
            XCTAssertTrue("\($0)".contains(path))
        }
    }
}

extension Array where Element == UInt8 {
    func replacing(_ a: [UInt8], with b: [UInt8]) -> [UInt8] {
        guard let r = (0...(count - a.count)).first(where: { Array(self[$0..<($0 + a.count)]) == a }) else { return self }
        return Array(self[..<r]) + b + Array(self[(r + a.count)...])
    }
}
