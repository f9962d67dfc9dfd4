import XCTest
@testable import Export

// Expected bytes are the worked examples of the protobuf encoding spec
// (150 -> 08 96 01, "testing" -> 12 07 ...) and hand-derived encodings.
final class ProtobufWriterTests: XCTestCase {
    func testVarintFieldMatchesSpecExample() {
        var w = ProtobufWriter()
        w.int(1, 150)
        XCTAssertEqual(w.bytes, [0x08, 0x96, 0x01])
    }

    func testStringFieldMatchesSpecExample() {
        var w = ProtobufWriter()
        w.string(2, "testing")
        XCTAssertEqual(w.bytes, [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67])
    }

    func testNegativeIntTakesTenBytes() {
        var w = ProtobufWriter()
        w.int(1, -1)
        XCTAssertEqual(w.bytes, [0x08] + [UInt8](repeating: 0xff, count: 9) + [0x01])
    }

    func testFixedWidthFieldsAreLittleEndian() {
        var w = ProtobufWriter()
        w.float(2, 1.0)      // key 0x15, 0x3f800000
        w.double(1, -2.0)    // key 0x09, 0xc000000000000000
        XCTAssertEqual(w.bytes, [0x15, 0x00, 0x00, 0x80, 0x3f,
                                 0x09, 0, 0, 0, 0, 0, 0, 0x00, 0xc0])
    }

    func testNestedMessageAndPackedFieldsAreLengthPrefixed() {
        var w = ProtobufWriter()
        w.message(3) { m in m.int(1, 150) }
        w.packedInts(4, [3, 270, 86942])   // spec example: 22 06 03 8E 02 9E A7 05
        w.packedFloats(5, [1.0])
        XCTAssertEqual(w.bytes, [0x1a, 0x03, 0x08, 0x96, 0x01,
                                 0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05,
                                 0x2a, 0x04, 0x00, 0x00, 0x80, 0x3f])
    }

    func testLargeFieldNumberUsesMultiByteKey() {
        var w = ProtobufWriter()
        w.bool(16, true)   // key (16 << 3) = 128 -> 80 01
        XCTAssertEqual(w.bytes, [0x80, 0x01, 0x01])
    }
}
