// The folded integer model (IntegerModel, see IntegerInference/IntegerEngineModel.swift) as an
// ONNX opset-21 QDQ graph, so that onnxruntime computes the function of our
// integer engine / fake-quant model:
//
//   image (float pixel values 0 ... 255, [N, C, H, W], N dynamic)
//     → QuantizeLinear(scale 1, uint8) → DequantizeLinear   the uint8 image the engine takes
//     → Div 255 → Sub mean → Div std                          the training normalisation, same ops
//   per conv:   DequantizeLinear(INT4/INT8 levels, per-output-channel scale, axis 0)
//               → Conv(x, W, bias; group = channels for a depthwise conv) [→ Relu [→ Min 6]]
//               (bias: a separate Add between quantized activations; ReLU6 as Relu, Min 6)
//   per integer activation (bits b, threshold T, step Δ = T/(2^b − 1)):
//               [Min((2^b−1)·Δ) if b ∉ {4, 8}] → QuantizeLinear(Δ, UINT4/UINT8 zero point 0)
//               → DequantizeLinear(Δ)                         the real activation q·Δ
//   signed (L = 2^(b−1) − 1, Δ = T/L): Max(−L·Δ) [→ Min(L·Δ) if b ∉ {4, 8}]
//               → QuantizeLinear(Δ, INT4/INT8 zero point 0) → DequantizeLinear(Δ); the
//               engine's stored q + L and the bias term that undoes it (Folding.swift)
//               are not needed here: the consumer's bias is the unshifted one
//   add:        Add(z_main, z_shortcut | q·Δ) [→ Relu] → Q/DQ
//   avgquant:   GlobalAveragePool (of levels or of a float value) → Q/DQ
//   maxpool:    MaxPool on the float z, then [Min((2^b−1)·Δ) for b <= 4] and the Q/DQ of
//               the pooled value when pooling is the quantized value's only use:
//               quantization is monotone, so the max of the levels is the level of the
//               max. (onnxruntime 1.32 would otherwise move the DequantizeLinear past
//               MaxPool, or propagate the QuantizeLinear back over it, and reject MaxPool
//               on UINT4.)
//   linear:     Flatten → Gemm(x, DQ(W), bias, transB) → logits, or (a hidden layer)
//               → Relu → Q/DQ
// Dense-prediction heads (scene models), in float after their prediction convs:
//   upsample2x: Resize(scales 1, 1, 2, 2; linear, half_pixel: PyTorch's bilinear with
//               align_corners = false for a 2x scale)
//   sum:        Add          concat: Concat(axis 1)
// and the output is the head's map [N, C, H, W] instead of [N, classes].
//
// Scales. The engine computes z_c = multiplier_c · Σ Ŵ·x̂ + bias_c with
// multiplier_c = s_c · Δ_g · Δ_in (BN scale s_c, group step Δ_g, input step Δ_in).
// With the activations dequantized to x̂·Δ_in, the weight scale of channel c is
// therefore s_c · Δ_g = multiplier_c / Δ_in: BN folded into the per-channel weight
// scale (GDQR's group steps fold into BN), and bias_c is the Conv/Gemm bias. For
// the stem Δ_in = 1/(255·std) (Folding.swift): Conv sees the normalised image
// zero-padded in the normalised space, as the float model does. QuantizeLinear
// divides by the scale and rounds half to even, saturating at 0 and 2^b − 1: the
// requantization of the engine. What remains different is float rounding
// (summation order, the weight scale recovered by one division).

import Foundation
import IntegerInference

public enum OnnxExport {
    /// Builds the ONNX model of `m`. Throws if an activation has a degenerate step
    /// (QuantizeLinear needs a positive scale) or a weight level does not fit its type.
    public static func model(_ m: IntegerModel, name: String = "gdqr") throws -> OnnxModel {
        try m.validate()
        var b = GraphBuilder(m, name: name)
        try b.build()
        var model = OnnxModel(graph: b.graph)
        model.docString = "Input 'image': float pixel values 0...255 (the uint8 image), NCHW. "
            + (m.task == .classification ? "Output 'logits'. "
               : "Output: the \(m.task.rawValue) head's map [N, C, H, W] (sigmoid and argmax left to the reader). ")
            + "Exported from a BN-folded GDQR integer model."
        model.metadata = m.info.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            + [("normalize_mean", m.normMean.map { "\($0)" }.joined(separator: ",")),
               ("normalize_std", m.normStd.map { "\($0)" }.joined(separator: ","))]
        return model
    }

    public static func write(_ m: IntegerModel, to path: String, name: String = "gdqr") throws -> Int {
        let bytes = try model(m, name: name).serialized()
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw OnnxError("\(path): cannot write the ONNX model: \(error.localizedDescription)")
        }
        return bytes.count
    }
}

private struct GraphBuilder {
    let m: IntegerModel
    var graph: OnnxGraph
    /// Per model value: the name of its float (real-valued) tensor in the graph.
    var floatName: [String?]
    /// Integer values read only by max pools: quantized after the pool (see the header).
    let quantizedAfterPool: Set<Int>

    init(_ m: IntegerModel, name: String) {
        self.m = m
        graph = OnnxGraph(name: name)
        floatName = Array(repeating: nil, count: m.values.count)
        var readers = [Int: [IntegerOpKind]]()
        for op in m.ops { for i in op.inputs { readers[i, default: []].append(op.kind) } }
        quantizedAfterPool = Set(readers.filter { i, kinds in
            m.values[i].kind == .integer && kinds.allSatisfy { $0 == .maxpool }
        }.keys)
    }

    mutating func node(_ op: String, _ name: String, _ inputs: [String], _ output: String,
                       _ attributes: [OnnxAttribute] = []) {
        graph.nodes.append(OnnxNode(op, name: name, inputs: inputs, outputs: [output], attributes: attributes))
    }

    mutating func scalar(_ name: String, _ v: Float) -> String {
        graph.initializers.append(.float(name, dims: [], [v]))
        return name
    }

    mutating func build() throws {
        try image()
        for op in m.ops {
            switch op.kind {
            case .conv: try conv(op)
            case .linear: try linear(op)
            case .upsample2x:
                let scales = "\(op.name).scales", out = m.values[op.output].name
                graph.initializers.append(.float(scales, dims: [4], [1, 1, 2, 2]))
                node("Resize", out, [try input(op, 0), "", scales], out,
                     [OnnxAttribute("mode", .string("linear")),
                      OnnxAttribute("coordinate_transformation_mode", .string("half_pixel"))])
                floatName[op.output] = out
            case .sum:
                let out = m.values[op.output].name
                node("Add", out, [try input(op, 0), try input(op, 1)], out)
                floatName[op.output] = out
            case .concat:
                let out = m.values[op.output].name
                node("Concat", out, try op.inputs.indices.map { try input(op, $0) }, out, [OnnxAttribute("axis", .int(1))])
                floatName[op.output] = out
            case .add: try add(op)
            case .avgquant:
                let gap = "\(op.name).gap"
                node("GlobalAveragePool", gap, [try input(op, 0)], gap)
                try quantize(op.output, from: gap)
            case .maxpool:
                let out = "\(op.name).out"
                node("MaxPool", out, [try input(op, 0)], out,
                     [OnnxAttribute("kernel_shape", .ints([op.kernel, op.kernel])),
                      OnnxAttribute("strides", .ints([op.stride, op.stride])),
                      OnnxAttribute("pads", .ints([op.padding, op.padding, op.padding, op.padding]))])
                if quantizedAfterPool.contains(op.inputs[0]) {
                    try quantize(op.output, from: out, afterPool: true)   // same bits and threshold as the input
                } else {
                    floatName[op.output] = out   // max of levels on one grid stays on that grid
                }
            }
        }
        let last = m.ops.last!.output, y = m.values[last]
        let shape: [OnnxDim] = m.task == .classification ? [.param("N"), .value(m.classes)]
            : [.param("N"), .value(y.channels), .value(y.height), .value(y.width)]
        graph.outputs = [OnnxValueInfo(name: floatName[last]!, elemType: .float, shape: shape)]
    }

    func input(_ op: IntegerOp, _ i: Int) throws -> String {
        guard let n = floatName[op.inputs[i]] else { throw OnnxError("op \(op.name): input \(op.inputs[i]) has no tensor") }
        return n
    }

    /// The uint8 image, then the training normalisation (x/255 − mean)/std.
    mutating func image() throws {
        let x = m.input
        graph.inputs = [OnnxValueInfo(name: "image", elemType: .float,
                                      shape: [.param("N"), .value(x.channels), .value(x.height), .value(x.width)])]
        let one = scalar("image.scale", 1)
        graph.initializers.append(try .unsigned("image.zero_point", dims: [], [0], bits: 8))
        node("QuantizeLinear", "image.q", ["image", one, "image.zero_point"], "image.q")
        node("DequantizeLinear", "image.pixels", ["image.q", one, "image.zero_point"], "image.pixels")
        let c = m.normMean.count
        node("Div", "image.div255", ["image.pixels", scalar("image.255", 255)], "image.div255")
        graph.initializers.append(.float("image.mean", dims: [1, c, 1, 1], m.normMean))
        graph.initializers.append(.float("image.std", dims: [1, c, 1, 1], m.normStd))
        node("Sub", "image.sub_mean", ["image.div255", "image.mean"], "image.sub_mean")
        node("Div", "image.normalized", ["image.sub_mean", "image.std"], "image.normalized")
        floatName[0] = "image.normalized"
    }

    /// The real step of the activations entering `op` (the stem: 1/(255·std), Folding.swift).
    func inputStep(_ op: IntegerOp) throws -> Float {
        let x = m.values[op.inputs[0]]
        let step = x.kind == .image ? Float(1.0 / (255.0 * Double(m.normStd[0]))) : x.step
        guard step > 0, step.isFinite else { throw OnnxError("op \(op.name): input step \(step) is not positive") }
        return step
    }

    /// INT4/INT8 weight levels dequantized with scale multiplier_c / Δ_in per output channel.
    mutating func weights(_ op: IntegerOp, dims: [Int]) throws -> String {
        let step = try inputStep(op)
        let q = "\(op.name).weight_q", s = "\(op.name).weight_scale", w = "\(op.name).weight"
        graph.initializers.append(try .signed(q, dims: dims, op.weights, bits: op.weightBits))
        graph.initializers.append(.float(s, dims: [op.outChannels],
                                         op.multiplier.map { Float(Double($0) / Double(step)) }))
        node("DequantizeLinear", w, [q, s], w, [OnnxAttribute("axis", .int(0))])
        return w
    }

    /// The bias the ONNX node adds to real-valued inputs: for a signed input the engine's
    /// bias minus the zero-level term it absorbed (bias_c + multiplier_c · L · Σ Ŵ_c).
    func realBias(_ op: IntegerOp) -> [Float] {
        let x = m.values[op.inputs[0]]
        guard x.signed else { return op.bias }
        let per = op.weights.count / op.outChannels
        return (0..<op.outChannels).map { c in
            let s = op.weights[(c * per)..<((c + 1) * per)].reduce(0) { $0 + Int($1) }
            return Float(Double(op.bias[c]) + Double(op.multiplier[c]) * Double(x.zeroLevel) * Double(s))
        }
    }

    /// Relu (and Min 6 for ReLU6) after `tensor` when the op asks for it.
    mutating func activation(_ op: IntegerOp, _ tensor: String) -> String {
        guard op.relu else { return tensor }
        node("Relu", "\(op.name).relu", [tensor], "\(op.name).relu")
        guard op.relu6 else { return "\(op.name).relu" }
        node("Min", "\(op.name).relu6", ["\(op.name).relu", scalar("\(op.name).six", 6)], "\(op.name).relu6")
        return "\(op.name).relu6"
    }

    mutating func conv(_ op: IntegerOp) throws {
        let x = try input(op, 0)
        let w = try weights(op, dims: [op.outChannels, op.inChannels / op.groups, op.kernel, op.kernel])
        let bias = "\(op.name).bias"
        var out = "\(op.name).conv"
        var attributes = [OnnxAttribute("kernel_shape", .ints([op.kernel, op.kernel])),
                          OnnxAttribute("strides", .ints([op.stride, op.stride])),
                          OnnxAttribute("pads", .ints([op.padding, op.padding, op.padding, op.padding]))]
        if op.groups > 1 { attributes.append(OnnxAttribute("group", .int(op.groups))) }
        if m.values[op.inputs[0]].kind == .integer && m.values[op.output].kind == .integer {
            // DQ → Conv(bias) → Q is a quantized node unit to onnxruntime, which then rounds a
            // float bias to int32 at scale Δ_in·w_c (its bias quantization); our fold keeps
            // the BN shift in float, so the bias is added by its own node.
            graph.initializers.append(.float(bias, dims: [op.outChannels, 1, 1], realBias(op)))
            node("Conv", out, [x, w], out, attributes)
            node("Add", "\(op.name).add_bias", [out, bias], "\(op.name).add_bias")
            out = "\(op.name).add_bias"
        } else {
            graph.initializers.append(.float(bias, dims: [op.outChannels], realBias(op)))
            node("Conv", out, [x, w, bias], out, attributes)
        }
        try finish(op.output, activation(op, out))
    }

    mutating func linear(_ op: IntegerOp) throws {
        let flat = "\(op.name).flatten"
        node("Flatten", flat, [try input(op, 0)], flat, [OnnxAttribute("axis", .int(1))])
        let w = try weights(op, dims: [op.outChannels, op.inChannels])
        let bias = "\(op.name).bias"
        graph.initializers.append(.float(bias, dims: [op.outChannels], realBias(op)))
        let y = m.values[op.output]
        // Logits keep the value's name; a hidden layer's Gemm output is named apart from its Q/DQ.
        let out = y.kind == .float ? y.name : "\(op.name).gemm"
        node("Gemm", op.name, [flat, w, bias], out, [OnnxAttribute("transB", .int(1))])
        try finish(op.output, activation(op, out))
    }

    mutating func add(_ op: IntegerOp) throws {
        let sum = "\(op.name).sum"
        node("Add", sum, [try input(op, 0), try input(op, 1)], sum)
        var out = sum
        if op.relu {
            node("Relu", "\(op.name).relu", [sum], "\(op.name).relu")
            out = "\(op.name).relu"
        }
        try finish(op.output, out)
    }

    /// A float result: kept as is (float value) or requantized (integer value).
    mutating func finish(_ value: Int, _ tensor: String) throws {
        if m.values[value].kind == .integer && !quantizedAfterPool.contains(value) {
            try quantize(value, from: tensor)
        } else {
            floatName[value] = tensor
        }
    }

    /// Q/DQ of an integer value: UINT4 (bits <= 4) or UINT8 levels (signed: INT4 or INT8), zero point 0.
    /// `afterPool`: the Q/DQ of a max pool's output. A 4-bit one gets its Min too:
    /// onnxruntime 1.32 otherwise propagates the QuantizeLinear back over the MaxPool and
    /// then rejects MaxPool on UINT4 (the Min stops the propagation; it changes no value,
    /// the type saturates at the same level).
    mutating func quantize(_ value: Int, from tensor: String, afterPool: Bool = false) throws {
        let v = m.values[value]
        let step = v.step
        guard step > 0, step.isFinite else {
            throw OnnxError("activation \(v.name): step \(step) (threshold \(v.threshold)) is not positive; "
                            + "QuantizeLinear needs a positive scale")
        }
        var src = tensor
        if v.signed {
            // Levels −L ... L: INT4/INT8 saturate at −2^(b−1), one below −L.
            let lo = scalar("\(v.name).min_value", -Float(v.levels) * step)
            node("Max", "\(v.name).max_clip", [tensor, lo], "\(v.name).max_clip")
            src = "\(v.name).max_clip"
        }
        if (v.bits != 4 && v.bits != 8) || (afterPool && v.bits <= 4) {
            // The type saturates at 15 or 255; fewer bits need their own upper bound, and
            // round((2^b − 1)·Δ / Δ) = 2^b − 1. (Min, not Clip: onnxruntime 1.32 fails to
            // load a Clip → QuantizeLinear with a UINT4 zero point, in its Clip/Q fusion.)
            let hi = scalar("\(v.name).max", Float(v.levels) * step)
            node("Min", "\(v.name).min", [src, hi], "\(v.name).min")
            src = "\(v.name).min"
        }
        let s = scalar("\(v.name).scale", step), zp = "\(v.name).zero_point"
        graph.initializers.append(try v.signed ? OnnxTensor.signed(zp, dims: [], [0], bits: v.bits)
                                               : OnnxTensor.unsigned(zp, dims: [], [0], bits: v.bits))
        node("QuantizeLinear", "\(v.name).q", [src, s, zp], "\(v.name).q")
        node("DequantizeLinear", v.name, ["\(v.name).q", s, zp], v.name)
        floatName[value] = v.name
    }
}
