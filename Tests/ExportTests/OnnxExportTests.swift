// ONNX export: the protobuf encoding of small messages against bytes derived by
// hand from onnx.proto's field numbers, INT4/UINT4 packing (negative values, odd
// counts, out-of-range values), and the graph built from a folded model (weights,
// scales and wiring against the integer model). That onnxruntime computes the
// same function is checked by Tests/scripts/onnx-check.sh.
import XCTest
import Layers
import IntegerInference
@testable import Export

final class OnnxExportTests: XCTestCase {
    func encoded(_ f: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var w = ProtobufWriter()
        f(&w)
        return w.bytes
    }

    func testFloatTensorBytes() {
        let t = OnnxTensor.float("w", dims: [2], [1.0, -2.0])
        // dims (1, packed) [2]; data_type (2) FLOAT = 1; name (8) "w"; raw_data (9) 8 bytes little-endian.
        XCTAssertEqual(encoded { t.encode(&$0) },
                       [0x0a, 0x01, 0x02, 0x10, 0x01, 0x42, 0x01, 0x77,
                        0x4a, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0])
        // A scalar has no dims field.
        XCTAssertEqual(encoded { OnnxTensor.float("s", dims: [], [0.5]).encode(&$0) },
                       [0x10, 0x01, 0x42, 0x01, 0x73, 0x4a, 0x04, 0x00, 0x00, 0x00, 0x3f])
    }

    func testInt4PacksTwoPerByteLowNibbleFirst() throws {
        // -8 -> 0x8, -1 -> 0xf, 7 -> 0x7, 3 -> 0x3, -2 -> 0xe; the odd last element leaves 0 in the high nibble.
        let t = try OnnxTensor.signed("q", dims: [5], [-8, -1, 7, 3, -2], bits: 4)
        XCTAssertEqual(t.dataType, .int4)
        XCTAssertEqual(t.raw, [0xf8, 0x37, 0x0e])
        XCTAssertEqual(encoded { t.encode(&$0) },
                       [0x0a, 0x01, 0x05, 0x10, 0x16, 0x42, 0x01, 0x71, 0x4a, 0x03, 0xf8, 0x37, 0x0e])
        XCTAssertEqual(Int4Packing.unpack(t.raw, count: 5), [-8, -1, 7, 3, -2])
        let even = try OnnxTensor.signed("e", dims: [2, 2], [1, -3, 0, -8], bits: 3)
        XCTAssertEqual(even.raw, [0xd1, 0x80])
        // More than 4 bits: INT8, one byte each.
        let wide = try OnnxTensor.signed("b", dims: [3], [-128, 127, -1], bits: 8)
        XCTAssertEqual(wide.dataType, .int8)
        XCTAssertEqual(wide.raw, [0x80, 0x7f, 0xff])
    }

    func testUInt4PacksAndZeroPointScalar() throws {
        let t = try OnnxTensor.unsigned("a", dims: [5], [0, 15, 1, 2, 9], bits: 4)
        XCTAssertEqual(t.dataType, .uint4)
        XCTAssertEqual(t.raw, [0xf0, 0x21, 0x09])
        let zp = try OnnxTensor.unsigned("z", dims: [], [0], bits: 4)
        XCTAssertEqual(encoded { zp.encode(&$0) }, [0x10, 0x15, 0x42, 0x01, 0x7a, 0x4a, 0x01, 0x00])
        XCTAssertEqual(try OnnxTensor.unsigned("u", dims: [1], [200], bits: 8).dataType, .uint8)
    }

    func testOutOfRangeLevelsAreRejectedWithTheirValue() {
        XCTAssertThrowsError(try OnnxTensor.signed("q", dims: [2], [7, 8], bits: 4)) {
            XCTAssertEqual("\($0)", "tensor q: value 8 does not fit INT4 (-8 ... 7)")
        }
        XCTAssertThrowsError(try OnnxTensor.unsigned("a", dims: [1], [16], bits: 4)) {
            XCTAssertEqual("\($0)", "tensor a: value 16 does not fit UINT4 (0 ... 15)")
        }
        XCTAssertThrowsError(try OnnxTensor.signed("q", dims: [3], [1, 2], bits: 4)) {
            XCTAssertEqual("\($0)", "tensor q: 2 values for dims [3]")
        }
    }

    func testAttributeNodeAndValueInfoBytes() {
        // name (1); i (3); type (20, key 0xa0 0x01) INT = 2.
        XCTAssertEqual(encoded { OnnxAttribute("axis", .int(0)).encode(&$0) },
                       [0x0a, 0x04, 0x61, 0x78, 0x69, 0x73, 0x18, 0x00, 0xa0, 0x01, 0x02])
        // name (1), s (4) "linear", type (20) = STRING 3: key 20<<3 = 160 = varint a0 01.
        XCTAssertEqual(encoded { OnnxAttribute("mode", .string("linear")).encode(&$0) },
                       [0x0a, 4] + Array("mode".utf8) + [0x22, 6] + Array("linear".utf8) + [0xa0, 0x01, 3])
        // ints (8, packed); INTS = 7.
        XCTAssertEqual(encoded { OnnxAttribute("s", .ints([1, 2])).encode(&$0) },
                       [0x0a, 0x01, 0x73, 0x42, 0x02, 0x01, 0x02, 0xa0, 0x01, 0x07])
        // f (2, fixed32); FLOAT = 1.
        XCTAssertEqual(encoded { OnnxAttribute("f", .float(0.5)).encode(&$0) },
                       [0x0a, 0x01, 0x66, 0x15, 0x00, 0x00, 0x00, 0x3f, 0xa0, 0x01, 0x01])
        // input (1), output (2), name (3), op_type (4), attribute (5).
        let n = OnnxNode("Relu", name: "r", inputs: ["x"], outputs: ["y"], attributes: [OnnxAttribute("a", .int(1))])
        XCTAssertEqual(encoded { n.encode(&$0) },
                       [0x0a, 0x01, 0x78, 0x12, 0x01, 0x79, 0x1a, 0x01, 0x72, 0x22, 0x04, 0x52, 0x65, 0x6c, 0x75,
                        0x2a, 0x08, 0x0a, 0x01, 0x61, 0x18, 0x01, 0xa0, 0x01, 0x02])
        // ValueInfoProto{name, type{tensor_type{elem_type 1, shape{dim{dim_param "N"}, dim{dim_value 3}}}}}
        let v = OnnxValueInfo(name: "x", elemType: .float, shape: [.param("N"), .value(3)])
        XCTAssertEqual(encoded { v.encode(&$0) },
                       [0x0a, 0x01, 0x78, 0x12, 0x0f, 0x0a, 0x0d, 0x08, 0x01, 0x12, 0x09,
                        0x0a, 0x03, 0x12, 0x01, 0x4e, 0x0a, 0x02, 0x08, 0x03])
    }

    func testModelHeaderIRVersionAndOpset() {
        var g = OnnxGraph(name: "g")
        g.nodes = [OnnxNode("Relu", name: "r", inputs: ["x"], outputs: ["y"])]
        var m = OnnxModel(graph: g)
        m.metadata = [("k", "v")]
        let b = m.serialized()
        // ir_version (1) = 10, producer_name (2) "gdqr"
        XCTAssertEqual(Array(b.prefix(8)), [0x08, 0x0a, 0x12, 0x04, 0x67, 0x64, 0x71, 0x72])
        // graph (7) {node (1) {...}, name (2) "g"}
        let node: [UInt8] = [0x0a, 0x01, 0x78, 0x12, 0x01, 0x79, 0x1a, 0x01, 0x72, 0x22, 0x04, 0x52, 0x65, 0x6c, 0x75]
        let graph: [UInt8] = [0x0a, UInt8(node.count)] + node + [0x12, 0x01, 0x67]
        // opset_import (8) {domain (1) "", version (2) 21}; metadata_props (14) {key "k", value "v"}
        XCTAssertEqual(Array(b.dropFirst(8)), [0x3a, UInt8(graph.count)] + graph
                       + [0x42, 0x04, 0x0a, 0x00, 0x10, 0x15] + [0x72, 0x06, 0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76])
    }

    func floats(_ t: OnnxTensor) -> [Float] {
        stride(from: 0, to: t.raw.count, by: 4).map { i in
            Float(bitPattern: UInt32(t.raw[i]) | UInt32(t.raw[i + 1]) << 8 | UInt32(t.raw[i + 2]) << 16 | UInt32(t.raw[i + 3]) << 24)
        }
    }

    func testFoldedModelGraphCarriesTheIntegerModel() throws {
        for arch in [ModelSpec.Arch.resnet, .cnn] {
            let m = try ModelFileTests.foldedModel(arch: arch)
            let g = try OnnxExport.model(m).graph
            let inits = Dictionary(uniqueKeysWithValues: g.initializers.map { ($0.name, $0) })
            XCTAssertEqual(g.inputs, [OnnxValueInfo(name: "image", elemType: .float,
                                                    shape: [.param("N"), .value(1), .value(12), .value(12)])])
            XCTAssertEqual(g.outputs.map(\.shape), [[.param("N"), .value(m.classes)]])
            // Every tensor a node reads is produced before it or is an initializer / the input.
            var known = Set(inits.keys).union(["image"])
            for n in g.nodes {
                for i in n.inputs { XCTAssertTrue(known.contains(i), "\(arch): \(n.name) reads \(i) before it exists") }
                known.formUnion(n.outputs)
            }
            XCTAssertTrue(known.contains(g.outputs[0].name))
            for op in m.ops where op.hasWeights {
                let q = try XCTUnwrap(inits["\(op.name).weight_q"])
                XCTAssertEqual(q.dataType, op.weightBits <= 4 ? .int4 : .int8)
                let levels = op.weightBits <= 4 ? Int4Packing.unpack(q.raw, count: op.weightCount)
                                                : q.raw.map { Int8(bitPattern: $0) }
                XCTAssertEqual(levels, op.weights, op.name)
                let x = m.values[op.inputs[0]]
                let step = x.kind == .image ? 1 / (255 * Double(m.normStd[0])) : Double(x.step)
                for (s, mult) in zip(floats(try XCTUnwrap(inits["\(op.name).weight_scale"])), op.multiplier) {
                    XCTAssertEqual(Double(s) * step, Double(mult), accuracy: 1e-6 * abs(Double(mult)) + 1e-30, op.name)
                }
                XCTAssertEqual(floats(try XCTUnwrap(inits["\(op.name).bias"])), op.bias, op.name)
            }
            // An activation read only by max pools is quantized after the pool (same grid).
            let pooled = Set(m.ops.filter { $0.kind == .maxpool }.map { $0.inputs[0] })
            XCTAssertEqual(!pooled.isEmpty, arch == .cnn)
            for (i, v) in m.values.enumerated() where v.kind == .integer && !pooled.contains(i) {
                XCTAssertEqual(floats(try XCTUnwrap(inits["\(v.name).scale"])), [v.step], v.name)
                XCTAssertEqual(inits["\(v.name).zero_point"]?.dataType, v.bits <= 4 ? .uint4 : .uint8, v.name)
            }
            let ops = Set(g.nodes.map(\.opType))
            XCTAssertTrue(ops.isSuperset(of: ["QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "GlobalAveragePool"]),
                          "\(arch): \(ops)")
            XCTAssertTrue(ops.contains(arch == .resnet ? "Add" : "MaxPool"), "\(arch): \(ops)")
        }
    }

    /// MobileNetV2 and VGG (hidden classifier layer): the depthwise Conv has group = channels and
    /// weights [C, 1, k, k]; ReLU6 is Relu then Min 6; a signed activation is clipped at −L·Δ
    /// (Max) and quantized with an INT4/INT8 zero point; a node reading signed levels has the
    /// unshifted bias (the engine's bias + multiplier·L·ΣW, float rounding apart); wiring holds.
    func testZooGraphs() throws {
        for spec in ModelFileTests.zooSpecs {
            let m = try ModelFileTests.foldedModel(spec)
            let g = try OnnxExport.model(m).graph
            let inits = Dictionary(uniqueKeysWithValues: g.initializers.map { ($0.name, $0) })
            var known = Set(inits.keys).union(["image"])
            for n in g.nodes {
                for i in n.inputs where !i.isEmpty { XCTAssertTrue(known.contains(i), "\(n.name) reads \(i) before it exists") }
                known.formUnion(n.outputs)
            }
            XCTAssertTrue(known.contains(g.outputs[0].name))
            let nodes = Dictionary(g.nodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for op in m.ops where op.kind == .conv && op.groups > 1 {
                let conv = try XCTUnwrap(nodes["\(op.name).conv"])
                XCTAssertTrue(conv.attributes.contains(OnnxAttribute("group", .int(op.groups))), op.name)
                XCTAssertEqual(inits["\(op.name).weight_q"]?.dims, [op.outChannels, 1, op.kernel, op.kernel])
            }
            for op in m.ops where op.relu6 { XCTAssertEqual(nodes["\(op.name).relu6"]?.opType, "Min", op.name) }
            for v in m.values where v.signed {
                XCTAssertEqual(nodes["\(v.name).max_clip"]?.opType, "Max", v.name)
                XCTAssertEqual(floats(try XCTUnwrap(inits["\(v.name).min_value"])), [-Float(v.levels) * v.step], v.name)
                XCTAssertEqual(inits["\(v.name).zero_point"]?.dataType, v.bits <= 4 ? .int4 : .int8, v.name)
            }
            var signedReaders = 0
            for op in m.ops where op.hasWeights && m.values[op.inputs[0]].signed {
                let x = m.values[op.inputs[0]], per = op.weightCount / op.outChannels
                let onnxBias = floats(try XCTUnwrap(inits["\(op.name).bias"]))
                for c in 0..<op.outChannels {
                    let sum = op.weights[(c * per)..<((c + 1) * per)].reduce(0) { $0 + Int($1) }
                    let shifted = Double(onnxBias[c]) - Double(op.multiplier[c]) * Double(x.zeroLevel) * Double(sum)
                    // Two roundings to Float of values of magnitude |bias| + |m·L·ΣW|.
                    let scale = abs(Double(op.bias[c])) + abs(Double(op.multiplier[c]) * Double(x.zeroLevel * sum))
                    XCTAssertEqual(shifted, Double(op.bias[c]), accuracy: 2.5e-7 * scale + 1e-30, "\(op.name) channel \(c)")
                }
                signedReaders += 1
            }
            XCTAssertEqual(signedReaders > 0, spec.arch == .mobilenetv2, spec.description)
            if spec.arch == .vgg {
                let hidden = try XCTUnwrap(m.ops.first { $0.kind == .linear && m.values[$0.output].kind == .integer })
                XCTAssertEqual(nodes[hidden.name]?.opType, "Gemm")
                XCTAssertEqual(nodes["\(hidden.name).relu"]?.opType, "Relu")
                XCTAssertNotNil(inits["\(m.values[hidden.output].name).scale"])
            }
        }
    }

    func testDegenerateActivationStepIsAnError() throws {
        var m = try ModelFileTests.foldedModel()
        let i = try XCTUnwrap(m.values.firstIndex { $0.kind == .integer })
        m.values[i].threshold = 0
        XCTAssertThrowsError(try OnnxExport.model(m)) {
            XCTAssertEqual("\($0)", "activation \(m.values[i].name): step 0.0 (threshold 0.0) is not positive; "
                           + "QuantizeLinear needs a positive scale")
        }
    }
}
