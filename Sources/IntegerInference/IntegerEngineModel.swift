// The integer model: what Folding.swift produces from a quantized Network and
// what the integer engine runs and the `*.gdqr` file stores. A list of ops over
// numbered values, in execution order.
//
// Values:
//   image    the uint8 pixels of the input (value 0)
//   integer  unsigned activation levels 0 ... 2^bits − 1 (uint8), real value q·step,
//            step = threshold / (2^bits − 1) computed in Float as the fake-quant does
//            (a threshold that is not positive makes every level 0); or, `signed`
//            (MobileNetV2's linear bottlenecks), levels q in −L ... L, L = 2^(bits−1) − 1,
//            step = threshold / L, stored as the uint8 q + L (0 ... 2L): the stored
//            level minus `zeroLevel` is q. Only a conv without padding (its bias
//            absorbs −multiplier·L·Σ W, Folding.swift) and an add read them.
//   float    a folded pre-activation z (BN output), or the logits
// Ops:
//   conv     integer (or image) input × int4/int8 weights, Int32 accumulation,
//            z_c = multiplier_c·acc + bias_c (BN, group step and input step folded),
//            optional ReLU or ReLU6 (min(max(z, 0), 6)), then either requantized to an
//            integer value or kept float. `groups` > 1: grouped conv, weights
//            [Cout, Cin/groups, k, k]; groups == Cin == Cout is the depthwise conv.
//            For the stem (image input), zero padding of the normalised image is
//            handled exactly with a per-output-position bias map built at load
//            from the integer weights and `zeroPoint` (see Folding.swift).
//   add      float main + (float | dequantized integer) shortcut, optional ReLU, requantize
//   maxpool  on unsigned integer levels (same step)
//   avgquant global average of q·step (or of a float value), then the next quantizer
//   linear   integer input (any shape, flattened C·H·W) × int4/int8 weights,
//            z_o = multiplier_o·acc + bias_o: float logits, or (hidden classifier
//            layers) optional ReLU and requantized to an integer value
// Ops of the dense-prediction heads, all float → float (the prediction convs
// before them have float output; sigmoid and argmax stay with the caller):
//   upsample2x  bilinear 2x, align_corners = false (TensorEngine's upsample)
//   sum         float + float, no activation (the FCN skip)
//   concat      channel concatenation of float values of one size (CenterNet's
//               heatmap, size and offset)
//
// Tasks: what the last value holds. classification: `classes` logits;
// centernet: [classes + 4, h, w] (heatmap logits, size, offset, one cell =
// input / h pixels); segmentation: [classes + 1, H, W] logits at the input size
// (class 0 = background).

public struct IntegerModelError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public enum IntegerValueKind: String, Codable, Sendable { case image, integer, float }

public struct IntegerValue: Codable, Equatable, Sendable {
    public var name: String
    public var kind: IntegerValueKind
    public var channels: Int
    public var height: Int
    public var width: Int
    /// integer values: bits and threshold T (step = T / (2^bits − 1), signed: T / (2^(bits−1) − 1)).
    public var bits: Int
    public var threshold: Float
    /// Signed levels −L ... L stored as q + L (format version 3; absent in a file: false).
    public var signed: Bool

    public init(name: String, kind: IntegerValueKind, channels: Int, height: Int, width: Int,
                bits: Int = 0, threshold: Float = 0, signed: Bool = false) {
        self.name = name; self.kind = kind; self.channels = channels; self.height = height; self.width = width
        self.bits = bits; self.threshold = threshold; self.signed = signed
    }

    enum CodingKeys: String, CodingKey { case name, kind, channels, height, width, bits, threshold, signed }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(IntegerValueKind.self, forKey: .kind)
        channels = try c.decode(Int.self, forKey: .channels)
        height = try c.decode(Int.self, forKey: .height)
        width = try c.decode(Int.self, forKey: .width)
        bits = try c.decode(Int.self, forKey: .bits)
        threshold = try c.decode(Float.self, forKey: .threshold)
        signed = try c.decodeIfPresent(Bool.self, forKey: .signed) ?? false
    }

    /// `signed` is written only when set, so files of unsigned models keep their older layout.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(kind, forKey: .kind)
        try c.encode(channels, forKey: .channels); try c.encode(height, forKey: .height); try c.encode(width, forKey: .width)
        try c.encode(bits, forKey: .bits); try c.encode(threshold, forKey: .threshold)
        if signed { try c.encode(true, forKey: .signed) }
    }

    public var count: Int { channels * height * width }
    /// The quantizer's top level: S = 2^bits − 1, or L = 2^(bits−1) − 1 when signed.
    public var levels: Int { signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1 }
    /// The stored level of real value 0 (L when signed, else 0).
    public var zeroLevel: Int { signed ? levels : 0 }
    /// The largest stored level (2L when signed).
    public var maxLevel: Int { signed ? 2 * levels : levels }
    /// The activation step, exactly as ActivationQuantizer.grid computes it.
    public var step: Float { threshold / Float(levels) }
    /// Largest level an input of this value can hold (image: 255).
    public var maxInput: Int { kind == .image ? 255 : maxLevel }
}

public enum IntegerOpKind: String, Codable, Sendable, CaseIterable {
    case conv, add, maxpool, avgquant, linear, upsample2x, sum, concat

    /// The op kinds of the dense-prediction heads (model file format version 2).
    public var isHeadOp: Bool { self == .upsample2x || self == .sum || self == .concat }
}

public enum IntegerTask: String, Codable, Sendable {
    case classification, centernet, segmentation

    /// Channels of the last value for `classes` (foreground) classes.
    public func outputChannels(classes: Int) -> Int {
        switch self {
        case .classification: return classes
        case .centernet: return classes + 4
        case .segmentation: return classes + 1
        }
    }
}

public struct IntegerOp: Equatable, Sendable {
    public var name: String
    public var kind: IntegerOpKind
    public var inputs: [Int]
    public var output: Int
    // conv / linear / maxpool geometry
    public var inChannels = 0, outChannels = 0
    public var kernel = 1, stride = 1, padding = 0
    public var weightBits = 0
    /// Weight levels [outChannels, inChannels, kernel, kernel] (linear: [out, in]).
    public var weights: [Int8] = []
    public var multiplier: [Float] = []
    public var bias: [Float] = []
    public var relu = false
    /// ReLU6 (min(max(z, 0), 6)) instead of ReLU (format version 3).
    public var relu6 = false
    /// Grouped conv (format version 3): weights [outChannels, inChannels / groups, k, k].
    public var groups = 1
    /// Stem only: per input channel, the pixel value that normalises to 0 (255·mean).
    public var zeroPoint: [Float] = []

    public init(name: String, kind: IntegerOpKind, inputs: [Int], output: Int) {
        self.name = name; self.kind = kind; self.inputs = inputs; self.output = output
    }

    public var hasWeights: Bool { kind == .conv || kind == .linear }
    public var weightCount: Int { outChannels * (inChannels / max(groups, 1)) * kernel * kernel }
    /// Whether the op needs format version 3 (the layer kinds of VGG, ResNet-50 and MobileNetV2).
    public var usesVersion3: Bool { relu6 || groups != 1 || (kind == .add && !relu) }
    /// Largest |level| allowed by the weight bits (full range: one more negative).
    public var weightLimit: Int { (1 << (weightBits - 1)) - 1 }
}

public struct IntegerModel: Equatable, Sendable {
    public var values: [IntegerValue]
    public var ops: [IntegerOp]
    public var classes: Int
    public var task: IntegerTask
    /// Normalisation of the training pipeline (x = (p/255 − mean)/std), per channel or one value.
    public var normMean: [Float]
    public var normStd: [Float]
    /// Free-form provenance (source file, config hash, ...).
    public var info: [String: String]

    public init(values: [IntegerValue], ops: [IntegerOp], classes: Int, task: IntegerTask = .classification,
                normMean: [Float], normStd: [Float], info: [String: String] = [:]) {
        self.values = values; self.ops = ops; self.classes = classes; self.task = task
        self.normMean = normMean; self.normStd = normStd; self.info = info
    }

    public var input: IntegerValue { values[0] }
    /// The last value: logits, or the head's output map.
    public var logits: IntegerValue { values[ops.last!.output] }
    /// Whether the model needs format version 2 (a scene task or a head op).
    public var usesHeadOps: Bool { task != .classification || ops.contains { $0.kind.isHeadOp } }
    /// Whether the model needs format version 3: signed values, grouped convs, ReLU6, an add
    /// without ReLU, an average of a float value, or a linear op on a spatial input or with
    /// an integer output.
    public var usesVersion3: Bool {
        values.contains { $0.signed } || ops.contains { op in
            op.usesVersion3
                || (op.kind == .avgquant && values[op.inputs[0]].kind == .float)
                || (op.kind == .linear && (values[op.output].kind != .float || values[op.inputs[0]].count != values[op.inputs[0]].channels))
        }
    }

    public func outputShape(_ op: IntegerOp) -> IntegerValue { values[op.output] }

    /// Structural checks: wiring in range and in order, kinds and shapes consistent,
    /// weights within their bits, parameters finite. Used after folding and after
    /// reading a file (a file is never trusted).
    public func validate() throws {
        func fail(_ s: String) -> IntegerModelError { IntegerModelError(s) }
        guard !values.isEmpty, values[0].kind == .image else { throw fail("value 0 must be the image input") }
        guard !ops.isEmpty else { throw fail("no ops") }
        guard classes >= 1, classes <= 1 << 20 else { throw fail("classes \(classes) out of range") }
        let c0 = values[0].channels
        guard normMean.count == 1 || normMean.count == c0, normStd.count == normMean.count else {
            throw fail("normalization has \(normMean.count) means / \(normStd.count) stds for \(c0) channels")
        }
        guard normMean.allSatisfy({ $0.isFinite }), normStd.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw fail("normalization values must be finite, std > 0")
        }
        for (i, v) in values.enumerated() {
            guard (1...65_536).contains(v.channels), (1...4096).contains(v.height), (1...4096).contains(v.width),
                  v.count <= 1 << 26 else {
                throw fail("value \(i) (\(v.name)) has shape \(v.channels)x\(v.height)x\(v.width) out of range")
            }
            if v.kind == .integer {
                guard (1...8).contains(v.bits) else { throw fail("value \(v.name): bits \(v.bits), expected 1 ... 8") }
                guard v.threshold.isFinite else { throw fail("value \(v.name): threshold not finite") }
                guard !v.signed || v.bits >= 2 else { throw fail("value \(v.name): signed levels need at least 2 bits") }
            } else if v.signed {
                throw fail("value \(v.name): only integer values can be signed")
            }
        }
        var produced = Set<Int>([0])
        for op in ops {
            let where_ = "op \(op.name)"
            guard op.output > 0, op.output < values.count, !produced.contains(op.output) else {
                throw fail("\(where_): output \(op.output) invalid or produced twice")
            }
            for i in op.inputs where !(produced.contains(i)) {
                throw fail("\(where_): input \(i) is not produced before it")
            }
            let out = values[op.output]
            let inputs = op.inputs.map { values[$0] }
            switch op.kind {
            case .conv, .linear:
                guard inputs.count == 1 else { throw fail("\(where_): expects one input") }
                let x = inputs[0]
                guard x.kind != .float else { throw fail("\(where_): input must be integer or image") }
                guard (2...8).contains(op.weightBits) else { throw fail("\(where_): weight bits \(op.weightBits), expected 2 ... 8") }
                guard (1...15).contains(op.kernel), (1...15).contains(op.stride), (0...14).contains(op.padding) else {
                    throw fail("\(where_): kernel/stride/padding out of range")
                }
                guard op.inChannels == (op.kind == .linear ? x.count : x.channels), op.outChannels == out.channels else {
                    throw fail("\(where_): channels \(op.inChannels)->\(op.outChannels) do not match its values")
                }
                guard op.groups == 1 || (op.groups == op.inChannels && op.groups == op.outChannels && op.kind == .conv) else {
                    throw fail("\(where_): groups \(op.groups): only 1 or depthwise (groups = channels = \(op.inChannels)->\(op.outChannels))")
                }
                guard !op.relu6 || op.relu else { throw fail("\(where_): relu6 needs relu") }
                guard !x.signed || op.padding == 0 else {
                    throw fail("\(where_): a signed input needs padding 0 (its zero level is folded into the bias)")
                }
                if op.kind == .linear {
                    guard op.kernel == 1, op.groups == 1, out.height == 1, out.width == 1, x.kind == .integer else {
                        throw fail("\(where_): linear needs an integer input and a 1x1 output")
                    }
                    guard out.kind == .float || !out.signed else { throw fail("\(where_): linear output cannot be signed") }
                } else {
                    let oh = (x.height + 2 * op.padding - op.kernel) / op.stride + 1
                    let ow = (x.width + 2 * op.padding - op.kernel) / op.stride + 1
                    guard x.height + 2 * op.padding >= op.kernel, oh == out.height, ow == out.width else {
                        throw fail("\(where_): output \(out.height)x\(out.width) does not match the geometry")
                    }
                    guard out.kind != .image else { throw fail("\(where_): output cannot be an image") }
                    if x.kind == .image {
                        guard op.zeroPoint.count == x.channels, op.zeroPoint.allSatisfy({ $0.isFinite }) else {
                            throw fail("\(where_): image input needs one finite zero point per channel")
                        }
                    }
                }
                guard op.weights.count == op.weightCount else { throw fail("\(where_): \(op.weights.count) weights, expected \(op.weightCount)") }
                let lim = op.weightLimit
                guard op.weights.allSatisfy({ Int($0) >= -lim - 1 && Int($0) <= lim }) else {
                    throw fail("\(where_): weight level outside \(-lim - 1) ... \(lim)")
                }
                guard op.multiplier.count == op.outChannels, op.bias.count == op.outChannels,
                      op.multiplier.allSatisfy({ $0.isFinite }), op.bias.allSatisfy({ $0.isFinite }) else {
                    throw fail("\(where_): needs \(op.outChannels) finite multipliers and biases")
                }
            case .add:
                guard inputs.count == 2, inputs[0].kind == .float, inputs[1].kind != .image,
                      inputs.allSatisfy({ $0.channels == out.channels && $0.height == out.height && $0.width == out.width }),
                      out.kind == .integer else {
                    throw fail("\(where_): add needs float main + float/integer shortcut of the output's shape, integer output")
                }
            case .maxpool:
                guard inputs.count == 1, inputs[0].kind == .integer, out.kind == .integer, !inputs[0].signed, !out.signed,
                      inputs[0].bits == out.bits, inputs[0].threshold == out.threshold,
                      inputs[0].channels == out.channels, (1...15).contains(op.kernel), (1...15).contains(op.stride),
                      op.padding >= 0, op.padding < op.kernel else {
                    throw fail("\(where_): maxpool needs an integer input with the output's grid")
                }
                let oh = (inputs[0].height + 2 * op.padding - op.kernel) / op.stride + 1
                let ow = (inputs[0].width + 2 * op.padding - op.kernel) / op.stride + 1
                guard inputs[0].height + 2 * op.padding >= op.kernel, oh == out.height, ow == out.width else {
                    throw fail("\(where_): output shape does not match the pooling geometry")
                }
            case .upsample2x:
                guard inputs.count == 1, inputs[0].kind == .float, out.kind == .float, out.channels == inputs[0].channels,
                      out.height == 2 * inputs[0].height, out.width == 2 * inputs[0].width else {
                    throw fail("\(where_): upsample2x needs a float input and a float output of twice its size")
                }
            case .sum:
                guard inputs.count == 2, out.kind == .float,
                      inputs.allSatisfy({ $0.kind == .float && $0.channels == out.channels && $0.height == out.height && $0.width == out.width }) else {
                    throw fail("\(where_): sum needs two float inputs of the output's shape, float output")
                }
            case .concat:
                guard inputs.count >= 2, out.kind == .float,
                      inputs.allSatisfy({ $0.kind == .float && $0.height == out.height && $0.width == out.width }),
                      inputs.reduce(0, { $0 + $1.channels }) == out.channels else {
                    throw fail("\(where_): concat needs float inputs of the output's size whose channels add up to the output's")
                }
            case .avgquant:
                guard inputs.count == 1, inputs[0].kind != .image, out.kind == .integer,
                      out.channels == inputs[0].channels, out.height == 1, out.width == 1 else {
                    throw fail("\(where_): avgquant needs an integer or float input and a Cx1x1 integer output")
                }
            }
            produced.insert(op.output)
        }
        let last = values[ops.last!.output]
        switch task {
        case .classification:
            guard last.kind == .float, last.count == classes else { throw fail("the last op must produce \(classes) float logits") }
        case .centernet, .segmentation:
            let c = task.outputChannels(classes: classes)
            guard last.kind == .float, last.channels == c else {
                throw fail("the last op must produce a float \(task.rawValue) map of \(c) channels for \(classes) classes")
            }
            if task == .segmentation {
                guard last.height == values[0].height, last.width == values[0].width else {
                    throw fail("segmentation logits are \(last.height)x\(last.width), the image \(values[0].height)x\(values[0].width)")
                }
            }
        }
    }
}

/// Two's-complement 4-bit levels, two per byte: element 2i in the low nibble,
/// 2i+1 in the high nibble; an odd count leaves the last high nibble zero.
public enum Int4Packing {
    public static func packedCount(_ n: Int) -> Int { (n + 1) / 2 }

    /// Packs levels in −8 ... 7 (precondition).
    public static func pack(_ v: [Int8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: packedCount(v.count))
        for (i, x) in v.enumerated() {
            precondition(x >= -8 && x <= 7, "Int4Packing: level \(x) outside -8 ... 7")
            let nib = UInt8(bitPattern: x) & 0x0f
            out[i >> 1] |= (i & 1) == 0 ? nib : nib << 4
        }
        return out
    }

    /// Unpacks `count` levels from `bytes` (which must hold packedCount(count) bytes).
    public static func unpack(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Int8] {
        precondition(bytes.count >= packedCount(count), "Int4Packing: \(bytes.count) bytes for \(count) levels")
        var out = [Int8](repeating: 0, count: count)
        for i in 0..<count {
            let b = bytes[i >> 1]
            let nib = (i & 1) == 0 ? b & 0x0f : b >> 4
            out[i] = Int8(bitPattern: nib << 4) >> 4   // sign-extend
        }
        return out
    }

    public static func unpack(_ bytes: [UInt8], count: Int) -> [Int8] {
        bytes.withUnsafeBytes { unpack($0, count: count) }
    }
}
