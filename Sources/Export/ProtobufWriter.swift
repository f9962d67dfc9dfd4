// A minimal protocol-buffers wire-format encoder: the two protobuf files the
// project writes (TensorBoard event records and ONNX models) use a handful of
// message fields each, so they are encoded field by field here instead of from
// generated message classes.
//
// Wire format (protobuf encoding spec): a field is a varint key
// (field_number << 3 | wire_type) followed by its payload. Wire types used:
// 0 varint (int32/int64/uint64/bool/enum), 1 fixed 64-bit (double, fixed64),
// 2 length-delimited (string, bytes, nested message, packed repeated),
// 5 fixed 32-bit (float, fixed32). Negative int32/int64 values are varints of
// their 64-bit two's complement (10 bytes), as the spec requires.
//
// Fields are written in the order of the calls; readers accept any order.

public struct ProtobufWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    // MARK: raw pieces

    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wireType: UInt64) {
        precondition(field > 0 && field < (1 << 29), "protobuf field number \(field) out of range")
        varint(UInt64(field) << 3 | wireType)
    }

    mutating func littleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    // MARK: scalar fields

    /// int32, int64, enum (wire type 0); negative values take 10 bytes.
    public mutating func int(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    public mutating func uint(_ field: Int, _ value: UInt64) {
        key(field, 0)
        varint(value)
    }

    public mutating func bool(_ field: Int, _ value: Bool) { uint(field, value ? 1 : 0) }

    public mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        littleEndian(value.bitPattern)
    }

    public mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        littleEndian(value.bitPattern)
    }

    // MARK: length-delimited fields

    public mutating func bytes<C: Collection>(_ field: Int, _ value: C) where C.Element == UInt8 {
        key(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    /// A nested message, built by `body` into its own writer and then framed.
    public mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        body(&inner)
        bytes(field, inner.bytes)
    }

    /// Packed repeated int64 / int32 / enum (one length-delimited field of varints).
    public mutating func packedInts(_ field: Int, _ values: [Int64]) {
        var inner = ProtobufWriter()
        for v in values { inner.varint(UInt64(bitPattern: v)) }
        bytes(field, inner.bytes)
    }

    /// Packed repeated float.
    public mutating func packedFloats(_ field: Int, _ values: [Float]) {
        var inner = ProtobufWriter()
        for v in values { inner.littleEndian(v.bitPattern) }
        bytes(field, inner.bytes)
    }

    /// Packed repeated double.
    public mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        var inner = ProtobufWriter()
        for v in values { inner.littleEndian(v.bitPattern) }
        bytes(field, inner.bytes)
    }
}
