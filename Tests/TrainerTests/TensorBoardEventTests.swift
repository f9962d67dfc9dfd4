// TensorBoard event files: TFRecord framing and masked CRC-32C against values
// from the `tensorboard` Python package, Event/Summary/Histogram encoding against
// bytes its own writer produced (Tests/fixtures/tensorboard-events.bin, made by
// Tests/fixtures/make_tensorboard_fixture.py), equal-bin histograms against
// hand-counted cases, and metrics records to scalar tags.
import XCTest
import Foundation
@testable import Trainer

/// Bitwise CRC-32C (reflected 0x82F63B78), independent of the table-driven one.
func bitwiseCRC32C(_ data: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in data {
        c ^= UInt32(b)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    }
    return ~c
}

/// Splits a TFRecord stream into its payloads, checking lengths and both CRCs.
func readTFRecords(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [[UInt8]] {
    func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
    func mask(_ c: UInt32) -> UInt32 { ((c >> 15) | (c << 17)) &+ 0xa282_ead8 }
    var out: [[UInt8]] = [], p = 0
    while p < bytes.count {
        guard p + 12 <= bytes.count else { XCTFail("truncated record header at \(p)", file: file, line: line); break }
        let len = (0..<8).reduce(0) { $0 | Int(bytes[p + $1]) << (8 * $1) }
        XCTAssertEqual(u32(p + 8), mask(bitwiseCRC32C(Array(bytes[p..<p + 8]))), "length CRC at \(p)", file: file, line: line)
        guard p + 16 + len <= bytes.count else { XCTFail("truncated record at \(p)", file: file, line: line); break }
        let data = Array(bytes[p + 12..<p + 12 + len])
        XCTAssertEqual(u32(p + 12 + len), mask(bitwiseCRC32C(data)), "data CRC at \(p)", file: file, line: line)
        out.append(data)
        p += 16 + len
    }
    return out
}

final class TensorBoardEventTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")

    func testMaskedCRCKnownValues() {
        // From tensorboard.compat.tensorflow_stub.pywrap_tensorflow (crc32c, masked_crc32c):
        // crc32c(b"123456789") = 0xe3069283, masked 0xc78ab0e5; masked crc of b"" = 0xa282ead8;
        // masked crc of 8 zero bytes = 0x07980329.
        XCTAssertEqual(TFRecord.maskedCRC(0xE306_9283), 0xC78A_B0E5)
        XCTAssertEqual(TFRecord.maskedCRC(bitwiseCRC32C([])), 0xA282_EAD8)
        XCTAssertEqual(TFRecord.maskedCRC(bitwiseCRC32C([UInt8](repeating: 0, count: 8))), 0x0798_0329)
    }

    func testFramingRoundTripsOddPayloads() {
        var stream: [UInt8] = []
        var payloads: [[UInt8]] = []
        var x: UInt32 = 12345
        for n in [0, 1, 7, 8, 9, 127, 128, 300, 70_000] {
            let p = (0..<n).map { _ -> UInt8 in x = x &* 1_664_525 &+ 1_013_904_223; return UInt8(x >> 24) }
            payloads.append(p)
            TFRecord.append(p, to: &stream)
        }
        XCTAssertEqual(stream.count, payloads.reduce(0) { $0 + $1.count + 16 })
        XCTAssertEqual(readTFRecords(stream), payloads)
    }

    /// The same four events as make_tensorboard_fixture.py, byte for byte.
    func testEventsMatchTensorBoardWriterBytes() throws {
        let want = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("tensorboard-events.bin")))
        var got: [UInt8] = []
        TFRecord.append(TensorBoardEvent.fileVersion(wallTime: 1_700_000_000.25), to: &got)
        TFRecord.append(TensorBoardEvent.summary(wallTime: 1_700_000_001.5, step: 120,
                                                 scalars: [("train/loss", 0.6931), ("train/lr", 0.1)]), to: &got)
        let h = TensorBoardHistogram(min: -0.5, max: 0.25, num: 4, sum: -0.25, sumSquares: 0.375,
                                     bucketLimits: [-0.25, 0, 0.25, 0.5], buckets: [1, 0, 2, 1])
        TFRecord.append(TensorBoardEvent.summary(wallTime: 1_700_000_002.75, step: 469,
                                                 scalars: [("test/accuracy", 0.875)],
                                                 histograms: [("weights_after/conv1", h)]), to: &got)
        TFRecord.append(TensorBoardEvent.sessionStart(wallTime: 1_700_000_003, step: 938), to: &got)
        XCTAssertEqual(got.count, want.count)
        XCTAssertEqual(got, want)
        XCTAssertEqual(readTFRecords(want).count, 4)
    }

    func testEventFileNameFirstRecordAndNoOverwrite() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try EventFileWriter(directory: dir, wallTime: 1_700_000_123.9, host: "node7")
        let b = try EventFileWriter(directory: dir, wallTime: 1_700_000_123.2, host: "node7")
        XCTAssertEqual((a.path as NSString).lastPathComponent, "events.out.tfevents.1700000123.node7")
        XCTAssertEqual((b.path as NSString).lastPathComponent, "events.out.tfevents.1700000123.node7.1")
        a.add(TensorBoardEvent.summary(wallTime: 1, step: 5, scalars: [("train/loss", 2)]))
        XCTAssertEqual(readTFRecords([UInt8](try Data(contentsOf: URL(fileURLWithPath: a.path)))).count, 1,
                       "records stay buffered until flush")
        try a.flush()
        let records = readTFRecords([UInt8](try Data(contentsOf: URL(fileURLWithPath: a.path))))
        XCTAssertEqual(records.count, 2)
        XCTAssertEqual(records.first, TensorBoardEvent.fileVersion(wallTime: 1_700_000_123.9))
        XCTAssertTrue(String(decoding: records[0], as: UTF8.self).contains("brain.Event:2"))
    }

    func testUnwritableFolderNamesTheFile() {
        XCTAssertThrowsError(try EventFileWriter(directory: "/nonexistent-dir-for-tb", wallTime: 5, host: "h")) {
            XCTAssertEqual("\($0)", "cannot create TensorBoard event file /nonexistent-dir-for-tb/events.out.tfevents.5.h")
        }
    }

    func testBinnedHistogramHandCounted() {
        // 4 bins over [-2, 2]: edges -2, -1, 0, 1, 2; a value on an inner edge opens
        // the bin to its right; +2 (the range end) lands in the last bin.
        let v: [Float] = [-2, -1.5, -1, -0.25, 0, 0.5, 1, 2, 2]
        let h = v.withUnsafeBufferPointer { BinnedHistogram($0, range: 2, bins: 4) }
        XCTAssertEqual(h.edges, [-2, -1, 0, 1, 2])
        XCTAssertEqual(h.counts, [2, 2, 2, 3])
        XCTAssertEqual(h.min, -2)
        XCTAssertEqual(h.max, 2)
        XCTAssertEqual(h.sum, Double(v.reduce(0, +)), accuracy: 1e-12)
        XCTAssertEqual(h.sumSquares, v.reduce(0.0) { $0 + Double($1 * $1) }, accuracy: 1e-12)
        let tb = TensorBoardHistogram(h)
        XCTAssertEqual(tb.bucketLimits, [-1, 0, 1, 2])
        XCTAssertEqual(tb.buckets, [2, 2, 2, 3])
        XCTAssertEqual(tb.num, 9)
    }

    func testBinnedHistogramOutOfRangeAndZeroRange() {
        let v: [Float] = [-5, 0.1, 5]
        let h = v.withUnsafeBufferPointer { BinnedHistogram($0, range: 1, bins: 32) }
        XCTAssertEqual(h.counts.reduce(0, +), 3)
        XCTAssertEqual(h.counts[0], 1)
        XCTAssertEqual(h.counts[31], 1)
        XCTAssertEqual(h.counts[17], 1)   // bins are 1/16 wide: 0.1 is in [1/16, 2/16)
        let zeros = [Float](repeating: 0, count: 10)
        let z = zeros.withUnsafeBufferPointer { BinnedHistogram($0, range: 0, bins: 32) }
        XCTAssertEqual(z.edges.first, -1)
        XCTAssertEqual(z.edges.last, 1)
        XCTAssertEqual(z.counts[16], 10)
    }

    func testMetricsRecordBecomesScalars() throws {
        let train: [String: Any] = ["phase": "w4a4", "split": "train", "step": 50, "epoch": 0.5, "loss": 1.25,
                                    "accuracy": 0.5, "lr": 0.01, "images_per_second": 400.0,
                                    "comm_exposed_fraction": 0.0]
        let s = try XCTUnwrap(TensorBoardLog.scalars(of: train))
        XCTAssertEqual(s.step, 50)
        XCTAssertEqual(s.values.map(\.tag), ["train/accuracy", "train/comm_exposed_fraction", "train/epoch",
                                             "train/images_per_second", "train/loss", "train/lr"])
        XCTAssertEqual(s.values.map(\.value), [0.5, 0, 0.5, 400, 1.25, 0.01])
        let test = try XCTUnwrap(TensorBoardLog.scalars(of: ["phase": "fp32", "split": "test", "step": 469,
                                                             "epoch": 1, "loss": 0.5, "accuracy": 0.9]))
        XCTAssertEqual(test.values.map(\.tag), ["test/accuracy", "test/epoch", "test/loss"])
        XCTAssertNil(TensorBoardLog.scalars(of: ["loss": 1.0, "step": 3]), "no split: not plotted")
    }
}
