import Foundation
import XCTest
import Checkpoint

final class SafetensorsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gdqr-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// Hand-built file: header JSON (padded to 8 unless `pad` is false) then data.
    func raw(_ name: String, header: String, data: [UInt8], pad: Bool = true, lengthOverride: UInt64? = nil) -> URL {
        var h = Array(header.utf8)
        if pad { while (8 + h.count) % 8 != 0 { h.append(0x20) } }
        let n = lengthOverride ?? UInt64(h.count)
        var out = (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xff) }
        out += h + data
        let url = dir.appendingPathComponent(name)
        FileManager.default.createFile(atPath: url.path, contents: Data(out))
        return url
    }

    func assertReadFails(_ url: URL, _ phrases: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try SafetensorsFile.read(url)
            XCTFail("expected an error containing \(phrases)", file: file, line: line)
        } catch {
            let text = "\(error)"
            XCTAssertTrue(text.contains(url.lastPathComponent), "error '\(text)' does not name the file", file: file, line: line)
            for p in phrases {
                XCTAssertTrue(text.contains(p), "error '\(text)' does not contain '\(p)'", file: file, line: line)
            }
        }
    }

    func sampleTensors() -> [SafeTensor] {
        [
            SafeTensor(name: "layer2.weight", shape: [2, 3], floats: [1, -2, 3.5, 4, 5, -6.25]),
            SafeTensor(name: "layer1.bias", shape: [3], doubles: [0.1, 0.2, 0.3]),
            SafeTensor(name: "step", shape: [], int64s: [123_456_789_012]),
            SafeTensor(name: "counts", shape: [4], int32s: [1, -2, 3, -4]),
            SafeTensor(name: "packed", shape: [5], uint8s: [0, 1, 127, 128, 255]),
            SafeTensor(name: "empty", shape: [0, 3], floats: []),
        ]
    }

    func testRoundTrip() throws {
        let url = dir.appendingPathComponent("model.safetensors")
        let meta = ["format": "pt", "gdqr": "w4a4 \"quoted\" \\ \n tab\t é"]
        try SafetensorsFile.write(tensors: sampleTensors(), metadata: meta, to: url)
        let (tensors, metadata) = try SafetensorsFile.readWithMetadata(url)
        XCTAssertEqual(metadata, meta)
        XCTAssertEqual(tensors.count, 6)
        for t in sampleTensors() { XCTAssertEqual(tensors[t.name], t, t.name) }
        XCTAssertEqual(tensors["layer2.weight"]!.floats, [1, -2, 3.5, 4, 5, -6.25])
        XCTAssertEqual(tensors["layer1.bias"]!.doubles, [0.1, 0.2, 0.3])
        XCTAssertEqual(tensors["step"]!.int64s, [123_456_789_012])
        XCTAssertEqual(tensors["counts"]!.floats, [1, -2, 3, -4])
        XCTAssertEqual(tensors["packed"]!.int64s, [0, 1, 127, 128, 255])
        XCTAssertEqual(tensors["empty"]!.shape, [0, 3])

        // Layout: header length multiple of 8 (with the 8-byte prefix), space padded,
        // tensors in sorted-name order in the data section.
        let bytes = [UInt8](try Data(contentsOf: url))
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        XCTAssertEqual((8 + n) % 8, 0)
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{\"__metadata__\":"))
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces).last, "}")
        let names = ["counts", "empty", "layer1.bias", "layer2.weight", "packed", "step"]
        let positions = names.map { header.range(of: "\"\($0)\":")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
        XCTAssertTrue(header.contains("\"counts\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}"))
        XCTAssertTrue(header.contains("\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[69,77]}"))
        XCTAssertEqual(bytes.count, 8 + n + 77)
    }

    func testFloatConvenienceAndTupleWriters() throws {
        let a = dir.appendingPathComponent("a.safetensors")
        try SafetensorsFile.write(floats: ["w": (shape: [2, 2], values: [1, 2, 3, 4]), "b": (shape: [1], values: [9])], to: a)
        let t = try SafetensorsFile.read(a)
        XCTAssertEqual(t["w"]?.floats, [1, 2, 3, 4])
        XCTAssertEqual(t["w"]?.shape, [2, 2])
        XCTAssertEqual(t["b"]?.dtype, .F32)
        let b = dir.appendingPathComponent("b.safetensors")
        try SafetensorsFile.write(tensors: [(name: "x", dtype: .U8, shape: [3], bytes: [7, 8, 9])], to: b)
        XCTAssertEqual(try SafetensorsFile.read(b)["x"]?.bytes, [7, 8, 9])
        // Overwriting is atomic and leaves no temporary files behind.
        try SafetensorsFile.write(floats: ["w": (shape: [1], values: [5])], to: a)
        XCTAssertEqual(try SafetensorsFile.read(a)["w"]?.floats, [5])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["a.safetensors", "b.safetensors"])
    }

    func testReadsHandWrittenHeaderWithWhitespaceAndF16() throws {
        // F16 1.0 = 0x3c00, BF16 -2.0 = 0xc000
        let url = raw("hand.safetensors", header: "{ \"h\" : { \"shape\" : [1], \"dtype\" : \"F16\", \"data_offsets\" : [0, 2] },\n \"b\": {\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]} }",
                      data: [0x00, 0x3c, 0x00, 0xc0])
        let t = try SafetensorsFile.read(url)
        XCTAssertEqual(t["h"]?.floats, [1.0])
        XCTAssertEqual(t["b"]?.floats, [-2.0])
    }

    func testWriterRejectsBadTensors() {
        let url = dir.appendingPathComponent("bad.safetensors")
        XCTAssertThrowsError(try SafetensorsFile.write(tensors: [SafeTensor(name: "w", dtype: .F32, shape: [3], bytes: [0, 0, 0, 0])], to: url)) {
            XCTAssertTrue("\($0)".contains("tensor 'w': 4 bytes for shape [3] of F32, expected 12"), "\($0)")
        }
        XCTAssertThrowsError(try SafetensorsFile.write(tensors: [SafeTensor(name: "w", shape: [1], floats: [1]),
                                                                SafeTensor(name: "w", shape: [1], floats: [2])], to: url)) {
            XCTAssertTrue("\($0)".contains("tensor 'w': duplicate tensor name"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    func testTruncatedAndBadHeaderLength() {
        assertReadFails(raw("tiny.safetensors", header: "", data: [], pad: false), ["invalid JSON header at byte 8: unexpected end of header"])
        let short = dir.appendingPathComponent("short.safetensors")
        FileManager.default.createFile(atPath: short.path, contents: Data([1, 2, 3, 4, 5]))
        assertReadFails(short, ["truncated: 5 bytes, expected at least 8"])
        assertReadFails(raw("len.safetensors", header: "{}", data: [], pad: false, lengthOverride: 1000),
                        ["header length 1000 at byte 0 exceeds the file: 10 bytes"])
        assertReadFails(raw("huge.safetensors", header: "{}", data: [], pad: false, lengthOverride: 1 << 62),
                        ["header length 4611686018427387904 exceeds the limit"])
    }

    func testMalformedJSON() {
        assertReadFails(raw("json1.safetensors", header: "{\"w\": {\"dtype\": \"F32\", ", data: []), ["invalid JSON header at byte"])
        assertReadFails(raw("json2.safetensors", header: "[1, 2]", data: []), ["header is not a JSON object"])
        assertReadFails(raw("json3.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                            data: [UInt8](repeating: 0, count: 8)), ["duplicate key \"w\""])
        assertReadFails(raw("json4.safetensors", header: "{\"w\": 3}", data: []), ["tensor 'w': entry is not an object"])
        assertReadFails(raw("json5.safetensors", header: "{} trailing", data: []), ["unexpected data after the JSON value"])
    }

    func testBadFields() {
        let four = [UInt8](repeating: 0, count: 4)
        assertReadFails(raw("dtype.safetensors", header: "{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: four),
                        ["tensor 'w': unknown dtype \"F33\""])
        assertReadFails(raw("noshape.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", data: four),
                        ["tensor 'w': missing shape"])
        assertReadFails(raw("shape.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data: four),
                        ["tensor 'w': shape contains -1, expected a non-negative integer"])
        assertReadFails(raw("shape2.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", data: four),
                        ["tensor 'w': shape contains 1.5"])
        assertReadFails(raw("offs.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", data: four),
                        ["tensor 'w': data_offsets has 1 values, expected 2"])
        assertReadFails(raw("extra.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", data: four),
                        ["tensor 'w': unexpected field \"x\""])
        assertReadFails(raw("meta.safetensors", header: "{\"__metadata__\":{\"a\":1}}", data: []),
                        ["__metadata__ value for 'a' is not a string"])
    }

    func testOffsetsOutOfBoundsAndSizeMismatch() {
        assertReadFails(raw("oob.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data: [UInt8](repeating: 0, count: 12)),
                        ["tensor 'w': data_offsets [0, 16] out of bounds: the data section has 12 bytes"])
        assertReadFails(raw("size.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", data: [UInt8](repeating: 0, count: 12)),
                        ["tensor 'w': 12 bytes in data_offsets [0, 12], expected 16 for shape [2, 2] of F32"])
        assertReadFails(raw("rev.safetensors", header: "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", data: [UInt8](repeating: 0, count: 4)),
                        ["tensor 'w': data_offsets [4, 0] end before begin"])
        assertReadFails(raw("ovf.safetensors", header: "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", data: [UInt8](repeating: 0, count: 8)),
                        ["tensor 'w': shape [4294967296, 4294967296] overflows"])
    }

    func testOverlapHoleAndTrailingData() {
        let eight = [UInt8](repeating: 0, count: 8)
        assertReadFails(raw("overlap.safetensors", header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: eight),
                        ["tensor 'b': data_offsets [4, 8] overlap tensor 'a'"])
        assertReadFails(raw("hole.safetensors", header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: eight),
                        ["tensor 'a': data_offsets [4, 8] leave a hole: bytes 0..<4"])
        assertReadFails(raw("trail.safetensors", header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: eight),
                        ["4 bytes after the last tensor"])
    }

    func testTruncatedFileFromWriter() throws {
        let url = dir.appendingPathComponent("cut.safetensors")
        try SafetensorsFile.write(tensors: sampleTensors(), to: url)
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes.removeLast(3)
        try Data(bytes).write(to: url)
        assertReadFails(url, ["tensor 'step'", "out of bounds"])
    }

    /// A file written by the reference Python package (safetensors.numpy.save_file):
    /// {"z": arange(6, float32).reshape(2, 3), "a": [1, 2, 3] int64}, metadata {"k": "v"}.
    func testReadsFileWrittenByReferenceImplementation() throws {
        let hex = [
            "90000000000000007b225f5f6d657461646174615f5f223a7b226b223a2276227d2c2261223a7b226474797065223a22",
            "493634222c227368617065223a5b335d2c22646174615f6f666673657473223a5b302c32345d7d2c227a223a7b226474",
            "797065223a22463332222c227368617065223a5b322c335d2c22646174615f6f666673657473223a5b32342c34385d7d",
            "7d20202020202020010000000000000002000000000000000300000000000000000000000000803f0000004000004040",
            "000080400000a040",
        ].joined()
        var bytes = [UInt8]()
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            bytes.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        let url = dir.appendingPathComponent("from-python.safetensors")
        try Data(bytes).write(to: url)
        let (t, meta) = try SafetensorsFile.readWithMetadata(url)
        XCTAssertEqual(meta, ["k": "v"])
        XCTAssertEqual(t["z"]?.shape, [2, 3])
        XCTAssertEqual(t["z"]?.floats, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(t["a"]?.dtype, .I64)
        XCTAssertEqual(t["a"]?.int64s, [1, 2, 3])
        // and the writer produces the same bytes for the same content
        let again = try SafetensorsFile.encode(tensors: [t["z"]!, t["a"]!], metadata: meta)
        XCTAssertEqual(again, bytes)
    }

    func testMissingFile() {
        assertReadFails(dir.appendingPathComponent("absent.safetensors"), ["missing file"])
    }

    /// Writes a file for the Python interop check when GDQR_SAFETENSORS_OUT is set:
    /// PATH (the tensors) and PATH.expected.json ({name: {shape, sum}}).
    /// Tests/scripts/safetensors-python-check.sh runs it with the variable set and checks
    /// the file with the reference `safetensors` package.
    func testWriteFileForPythonCheck() throws {
        guard let out = ProcessInfo.processInfo.environment["GDQR_SAFETENSORS_OUT"], !out.isEmpty else {
            throw XCTSkip("run by Tests/scripts/safetensors-python-check.sh, which sets GDQR_SAFETENSORS_OUT")
        }
        let tensors = sampleTensors() + [SafeTensor(name: "big", shape: [3, 5, 7], floats: (0..<105).map { Float($0) * 0.5 - 10 })]
        try SafetensorsFile.write(tensors: tensors, metadata: ["format": "pt", "writer": "gdqr"], to: URL(fileURLWithPath: out))
        var expected: [String: Any] = [:]
        for t in tensors {
            expected[t.name] = ["shape": t.shape, "sum": t.doubles.reduce(0, +), "dtype": t.dtype.rawValue]
        }
        expected["__metadata__"] = ["format": "pt", "writer": "gdqr"]
        let json = try JSONSerialization.data(withJSONObject: expected, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: URL(fileURLWithPath: out + ".expected.json"))
    }
}
