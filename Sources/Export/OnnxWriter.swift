// The ONNX protobuf messages the exporter needs (onnx.proto, IR version 10),
// encoded with ProtobufWriter. Only the fields we set are modelled; field
// numbers are those of onnx.proto:
//
//   ModelProto         ir_version 1, producer_name 2, producer_version 3, doc_string 6,
//                      graph 7, opset_import 8, metadata_props 14
//   OperatorSetIdProto domain 1, version 2
//   StringStringEntry  key 1, value 2
//   GraphProto         node 1, name 2, initializer 5, doc_string 10, input 11, output 12
//   NodeProto          input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//   AttributeProto     name 1, f 2, i 3, floats 7, ints 8, type 20
//                      (AttributeType FLOAT 1, INT 2, FLOATS 6, INTS 7)
//   TensorProto        dims 1, data_type 2, name 8, raw_data 9
//   ValueInfoProto     name 1, type 2
//   TypeProto          tensor_type 1;  TypeProto.Tensor elem_type 1, shape 2
//   TensorShapeProto   dim 1;  Dimension dim_value 1, dim_param 2
//
// Tensor data always goes in raw_data: little-endian, and for the 4-bit types
// (UINT4 = 21, INT4 = 22) two elements per byte, element 2i in the low nibble,
// an odd count leaving the last high nibble zero (onnx.proto, "raw_data").

import IntegerInference

public struct OnnxError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// TensorProto.DataType values used here.
public enum OnnxDataType: Int64, Sendable {
    case float = 1, uint8 = 2, int8 = 3, int64 = 7, uint4 = 21, int4 = 22
}

public struct OnnxTensor: Equatable, Sendable {
    public var name: String
    public var dims: [Int]
    public var dataType: OnnxDataType
    public var raw: [UInt8]

    public init(name: String, dims: [Int], dataType: OnnxDataType, raw: [UInt8]) {
        self.name = name; self.dims = dims; self.dataType = dataType; self.raw = raw
    }

    public var elementCount: Int { dims.reduce(1, *) }

    public static func float(_ name: String, dims: [Int], _ values: [Float]) -> OnnxTensor {
        precondition(values.count == dims.reduce(1, *), "OnnxTensor \(name): \(values.count) values for dims \(dims)")
        var raw = [UInt8](); raw.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw += $0 } }
        return OnnxTensor(name: name, dims: dims, dataType: .float, raw: raw)
    }

    /// Signed levels as INT4 (bits <= 4, values -8 ... 7) or INT8.
    public static func signed(_ name: String, dims: [Int], _ values: [Int8], bits: Int) throws -> OnnxTensor {
        guard values.count == dims.reduce(1, *) else { throw OnnxError("tensor \(name): \(values.count) values for dims \(dims)") }
        if bits <= 4 {
            if let bad = values.first(where: { $0 < -8 || $0 > 7 }) {
                throw OnnxError("tensor \(name): value \(bad) does not fit INT4 (-8 ... 7)")
            }
            return OnnxTensor(name: name, dims: dims, dataType: .int4, raw: Int4Packing.pack(values))
        }
        return OnnxTensor(name: name, dims: dims, dataType: .int8, raw: values.map { UInt8(bitPattern: $0) })
    }

    /// Unsigned levels as UINT4 (bits <= 4, values 0 ... 15) or UINT8.
    public static func unsigned(_ name: String, dims: [Int], _ values: [UInt8], bits: Int) throws -> OnnxTensor {
        guard values.count == dims.reduce(1, *) else { throw OnnxError("tensor \(name): \(values.count) values for dims \(dims)") }
        if bits <= 4 {
            if let bad = values.first(where: { $0 > 15 }) {
                throw OnnxError("tensor \(name): value \(bad) does not fit UINT4 (0 ... 15)")
            }
            return OnnxTensor(name: name, dims: dims, dataType: .uint4, raw: packUInt4(values))
        }
        return OnnxTensor(name: name, dims: dims, dataType: .uint8, raw: values)
    }

    /// 0 ... 15, two per byte, low nibble first.
    public static func packUInt4(_ v: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (v.count + 1) / 2)
        for (i, x) in v.enumerated() { out[i >> 1] |= (i & 1) == 0 ? x & 0x0f : (x & 0x0f) << 4 }
        return out
    }

    public func encode(_ w: inout ProtobufWriter) {
        if !dims.isEmpty { w.packedInts(1, dims.map { Int64($0) }) }
        w.int(2, dataType.rawValue)
        w.string(8, name)
        w.bytes(9, raw)
    }
}

public enum OnnxAttributeValue: Equatable, Sendable {
    case float(Float), int(Int), floats([Float]), ints([Int]), string(String)
}

public struct OnnxAttribute: Equatable, Sendable {
    public var name: String
    public var value: OnnxAttributeValue
    public init(_ name: String, _ value: OnnxAttributeValue) { self.name = name; self.value = value }

    public func encode(_ w: inout ProtobufWriter) {
        w.string(1, name)
        switch value {
        case .float(let f): w.float(2, f); w.int(20, 1)
        case .int(let i): w.int(3, Int64(i)); w.int(20, 2)
        case .floats(let fs): w.packedFloats(7, fs); w.int(20, 6)
        case .ints(let xs): w.packedInts(8, xs.map { Int64($0) }); w.int(20, 7)
        case .string(let t): w.string(4, t); w.int(20, 3)
        }
    }
}

public struct OnnxNode: Equatable, Sendable {
    public var opType: String
    public var name: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [OnnxAttribute]

    public init(_ opType: String, name: String, inputs: [String], outputs: [String], attributes: [OnnxAttribute] = []) {
        self.opType = opType; self.name = name; self.inputs = inputs; self.outputs = outputs; self.attributes = attributes
    }

    public func encode(_ w: inout ProtobufWriter) {
        for i in inputs { w.string(1, i) }
        for o in outputs { w.string(2, o) }
        w.string(3, name)
        w.string(4, opType)
        for a in attributes { w.message(5) { a.encode(&$0) } }
    }
}

/// A dimension: a fixed size or a named (dynamic) one.
public enum OnnxDim: Equatable, Sendable { case value(Int), param(String) }

public struct OnnxValueInfo: Equatable, Sendable {
    public var name: String
    public var elemType: OnnxDataType
    public var shape: [OnnxDim]
    public init(name: String, elemType: OnnxDataType, shape: [OnnxDim]) {
        self.name = name; self.elemType = elemType; self.shape = shape
    }

    public func encode(_ w: inout ProtobufWriter) {
        w.string(1, name)
        w.message(2) { type in
            type.message(1) { tensor in
                tensor.int(1, elemType.rawValue)
                tensor.message(2) { shp in
                    for d in shape {
                        shp.message(1) { dim in
                            switch d {
                            case .value(let v): dim.int(1, Int64(v))
                            case .param(let p): dim.string(2, p)
                            }
                        }
                    }
                }
            }
        }
    }
}

public struct OnnxGraph: Equatable, Sendable {
    public var name: String
    public var nodes: [OnnxNode] = []
    public var initializers: [OnnxTensor] = []
    public var inputs: [OnnxValueInfo] = []
    public var outputs: [OnnxValueInfo] = []
    public var docString = ""
    public init(name: String) { self.name = name }

    public func encode(_ w: inout ProtobufWriter) {
        for n in nodes { w.message(1) { n.encode(&$0) } }
        w.string(2, name)
        for t in initializers { w.message(5) { t.encode(&$0) } }
        if !docString.isEmpty { w.string(10, docString) }
        for i in inputs { w.message(11) { i.encode(&$0) } }
        for o in outputs { w.message(12) { o.encode(&$0) } }
    }
}

public struct OnnxModel: Equatable, Sendable {
    public var irVersion = 10
    /// (domain, version); "" is the default ONNX domain.
    public var opsets: [(String, Int)] = [("", 21)]
    public var producerName = "gdqr"
    public var producerVersion = ""
    public var docString = ""
    public var metadata: [(String, String)] = []
    public var graph: OnnxGraph

    public init(graph: OnnxGraph) { self.graph = graph }

    public static func == (a: OnnxModel, b: OnnxModel) -> Bool { a.serialized() == b.serialized() }

    public func encode(_ w: inout ProtobufWriter) {
        w.int(1, Int64(irVersion))
        w.string(2, producerName)
        if !producerVersion.isEmpty { w.string(3, producerVersion) }
        if !docString.isEmpty { w.string(6, docString) }
        w.message(7) { graph.encode(&$0) }
        for (d, v) in opsets { w.message(8) { o in o.string(1, d); o.int(2, Int64(v)) } }
        for (k, v) in metadata { w.message(14) { e in e.string(1, k); e.string(2, v) } }
    }

    public func serialized() -> [UInt8] {
        var w = ProtobufWriter()
        encode(&w)
        return w.bytes
    }
}
