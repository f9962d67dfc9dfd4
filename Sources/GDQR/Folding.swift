// Folding a quantized Network (eval semantics) into an IntegerModel (the GDQR paper, see docs/method.md:
// "Folding into batch norm"). For output channel c in weight group g:
//
//   z_c = γ'_c · (Ŵ_c ⊛ x̂) + β'_c,   γ'_c = s_c · Δ_g · Δ_a,   β'_c = β_c − μ_c · s_c
//
// with s_c = γ_c / √(σ²_c + ε) computed exactly as the float model's inference
// batch norm does (Double, rounded to Float), Ŵ the integer weight levels
// (clamp(round(w/Δ_g), lo, L) with the same true division as the fake-quant) and
// x̂ the integer input levels. Requantization is z → clamp(round(z/Δ_next), 0, S)
// in Float, round half to even, the same division the fake-quant performs: one
// float multiply-add per element plus the quantizer's own division, so that the
// integer model departs from the fake-quant model only by float rounding of the
// accumulation order (a level can differ by one where z/Δ lies within float
// rounding of a half-integer). A fixed-point multiplier would add its own
// rounding on top of that; on this CPU the float epilogue costs nothing.
//
// The stem. Its input x = (p/255 − m_i)/s over uint8 pixels p (one std for all
// channels, required), zero-padded in the NORMALISED space. Then
//   conv(x)_c = Δ_g/(255 s) · Σ_valid Ŵ·p − Δ_g/s · Σ_i m_i · Σ_valid taps of channel i Ŵ
// so γ' = s_c·Δ_g/(255 s), and the second term depends on the output position
// only through which taps fall inside the image: the engine builds, at load, a
// per-(channel, output position) bias map
//   B[c, oy, ox] = β'_c − γ'_c · Σ_i zeroPoint_i · Σ_{taps of (oy,ox) inside} Ŵ[c, i, tap]
// with zeroPoint_i = 255·m_i (the pixel value that normalises to 0). Padding the
// pixels with zeros and using B is then exactly the normalised zero padding, in
// real arithmetic (only float rounding differs from the float model).
//
// The layer kinds of VGG, ResNet-18/50 and MobileNetV2. A depthwise conv folds
// like any conv, its BN per channel (one weight group spans several channels).
// ReLU6 before a quantizer is the quantizer's clip already (T' = min(T_a, 6), so
// clamp(min(z, 6)/Δ) = clamp(z/Δ)); the op still says relu6 so that a float output
// (MobileNetV2's last 1x1 conv, averaged before its quantizer) is clipped at 6.
// A signed activation (MobileNetV2's block outputs, q in −L ... L) is stored as
// q + L; a conv reading it computes Σ Ŵ·(q + L) and its bias absorbs
// −γ'_c·L·Σ Ŵ_c, exact where every tap is inside the input (padding 0, checked).
// A hidden classifier layer (VGG) is a linear op with ReLU and a requantized
// output; the residual blocks fold in FoldingBlocks.swift.

import IntegerInference
import Layers
import TensorEngine

public enum Folding {
    /// Folds `net` (built with a GDQRPolicy, statistics loaded) into an integer model.
    /// Every conv and the classifier must be quantized (weights and the activations
    /// that feed them, except the image), with at most 8 bits.
    public static func fold(_ net: Network, normalization: (mean: [Float], std: [Float]),
                            info: [String: String] = [:]) throws -> IntegerModel {
        let spec = net.spec
        var f = try Folder(arena: net.arena, input: spec.input, normalization: normalization)
        try f.run(net.body.layers)
        if let c = f.pendingConv { throw IntegerModelError("\(c.name): its output is never quantized") }
        let m = IntegerModel(values: f.values, ops: f.ops, classes: spec.numClasses,
                             normMean: normalization.mean, normStd: normalization.std, info: info)
        try m.validate()
        return m
    }
}

struct Folder {
    let rt: Runtime
    var values: [IntegerValue] = []
    var ops: [IntegerOp] = []
    /// The value the next layer reads, and the conv (with its BN and activation) whose
    /// output kind is decided by the layer after it.
    var cur = 0
    var pendingConv: Conv2dLayer?
    var pendingBN: BatchNormLayer?
    var pendingAct: ActivationLayer.Kind?
    /// A global average pool waits for the quantizer after it.
    var pooled = false
    /// The image's step (one normalisation std for all channels) and per-channel zero points.
    let imageStep: Float
    let zeroPoints: [Float]

    /// Value 0 is the image of shape `input`; quantizers evaluate as after training.
    init(arena: ParameterArena, input: FeatureShape, normalization: (mean: [Float], std: [Float])) throws {
        rt = Runtime(arena: arena, pool: nil)
        rt.training = false
        rt.step = Int.max / 2   // past any clip-only warm-up: rounding on
        guard let s0 = normalization.std.first, normalization.std.allSatisfy({ $0 == s0 }) else {
            throw IntegerModelError("the stem fold needs one normalisation std for all channels, got \(normalization.std)")
        }
        imageStep = Float(1.0 / (255.0 * Double(s0)))
        zeroPoints = (0..<input.channels).map { i -> Float in
            255 * (normalization.mean.count == 1 ? normalization.mean[0] : normalization.mean[i])
        }
        values.append(IntegerValue(name: "image", kind: .image, channels: input.channels,
                                   height: input.height, width: input.width))
    }

    mutating func add(_ v: IntegerValue) -> Int { values.append(v); return values.count - 1 }

    /// Folds `layers` in order, from value `cur`.
    mutating func run(_ layers: [Layer]) throws {
        var i = 0
        while i < layers.count {
            let layer = layers[i]
            i += 1
            switch layer {
            case let c as Conv2dLayer:
                guard pendingConv == nil else { throw IntegerModelError("\(c.name): two convolutions in a row") }
                pendingConv = c
            case let b as BatchNormLayer:
                guard pendingConv != nil, pendingBN == nil else { throw IntegerModelError("\(b.name): batch norm without a conv") }
                pendingBN = b
            case let a as ActivationLayer:
                guard pendingBN != nil, pendingAct == nil else {
                    throw IntegerModelError("\(a.kind) after layer \(i - 1) does not follow a conv and its batch norm")
                }
                pendingAct = a.kind
            case let q as ActivationQuantizer:
                if let c = pendingConv {
                    let out = add(try intValue(q, shape: c.outputShape))
                    try flushConv(output: out)
                } else if pooled {
                    let out = add(try intValue(q, shape: q.inputShape))
                    var op = IntegerOp(name: "avgpool+\(q.name)", kind: .avgquant, inputs: [cur], output: out)
                    op.inChannels = q.inputShape.channels; op.outChannels = q.inputShape.channels
                    ops.append(op)
                    cur = out
                    pooled = false
                } else {
                    throw IntegerModelError("\(q.name): activation quantizer in an unexpected place")
                }
            case let p as MaxPoolLayer:
                guard pendingConv == nil, values[cur].kind == .integer, !values[cur].signed else {
                    throw IntegerModelError("max pool needs a quantized input")
                }
                var v = values[cur]
                v.name += ".maxpool"; v.height = p.outputShape.height; v.width = p.outputShape.width
                let out = add(v)
                var op = IntegerOp(name: "maxpool\(ops.count)", kind: .maxpool, inputs: [cur], output: out)
                op.inChannels = v.channels; op.outChannels = v.channels
                op.kernel = p.kernel; op.stride = p.stride; op.padding = p.padding
                ops.append(op)
                cur = out
            case let blk as BasicBlock:
                guard pendingConv == nil else { throw IntegerModelError("block after an unfolded conv") }
                cur = try block(blk, input: cur)
            case let blk as BottleneckBlock:
                guard pendingConv == nil else { throw IntegerModelError("block after an unfolded conv") }
                cur = try bottleneck(blk, input: cur)
            case let blk as InvertedResidual:
                guard pendingConv == nil else { throw IntegerModelError("block after an unfolded conv") }
                cur = try invertedResidual(blk, input: cur)
            case is GlobalAvgPoolLayer:
                if let c = pendingConv {
                    // A conv averaged before any quantizer (MobileNetV2's last 1x1 conv): float output.
                    let s = c.outputShape
                    let out = add(IntegerValue(name: "\(pendingBN?.name ?? c.name).z", kind: .float, channels: s.channels,
                                               height: s.height, width: s.width))
                    try flushConv(output: out)
                }
                guard values[cur].kind != .image else { throw IntegerModelError("global average pool needs a quantized input") }
                pooled = true
            case let l as LinearLayer:
                guard pendingConv == nil else { throw IntegerModelError("\(l.name): follows an unfolded conv") }
                guard !pooled else { throw IntegerModelError("\(l.name): its input activation \(l.name).act_in is not quantized") }
                // A hidden classifier layer: Linear, ReLU and the next layer's input quantizer.
                var q: ActivationQuantizer?
                if i + 1 < layers.count, let a = layers[i] as? ActivationLayer, a.kind == .relu,
                   let next = layers[i + 1] as? ActivationQuantizer {
                    q = next
                    i += 2
                }
                cur = try linear(l, input: cur, quantizer: q)
            default:
                throw IntegerModelError("cannot fold layer \(type(of: layer))")
            }
        }
    }

    /// The pending conv + BN (+ activation) into value `output`.
    mutating func flushConv(output: Int) throws {
        guard let c = pendingConv else { return }
        guard let bn = pendingBN else { throw IntegerModelError("\(c.name): no batch norm to fold") }
        try conv(c, bn: bn, input: cur, output: output, relu: bn.fuseReLU || pendingAct != nil, relu6: pendingAct == .relu6)
        cur = output
        pendingConv = nil; pendingBN = nil; pendingAct = nil
    }

    /// A linear layer on the flattened value `input`: float logits, or with `quantizer`
    /// (a hidden layer) ReLU and the quantizer's levels.
    mutating func linear(_ l: LinearLayer, input: Int, quantizer: ActivationQuantizer?) throws -> Int {
        guard let wq = l.weightTransform as? GroupWeightQuantizer else {
            throw IntegerModelError("\(l.name): weights are full precision; the integer engine needs quantized weights")
        }
        let x = values[input]
        guard x.kind == .integer, x.count == l.inputShape.count else { throw IntegerModelError("\(l.name): input not quantized") }
        let out = try quantizer.map { add(try intValue($0, shape: l.outputShape)) }
            ?? add(IntegerValue(name: "logits", kind: .float, channels: l.outputShape.channels, height: 1, width: 1))
        var op = IntegerOp(name: l.name, kind: .linear, inputs: [input], output: out)
        op.inChannels = x.count; op.outChannels = l.outputShape.channels
        let (levels, deltas) = try self.levels(wq)
        op.weights = levels; op.weightBits = wq.bits
        op.multiplier = deltas.map { Float(Double($0) * Double(x.step)) }
        op.bias = Array(UnsafeBufferPointer(start: rt.arena.value(l.bias), count: op.outChannels))
        op.relu = quantizer != nil
        absorbZeroLevel(&op, input: x)
        ops.append(op)
        return out
    }

    /// A signed input is stored as q + L: bias_c −= multiplier_c · L · Σ Ŵ_c (every tap inside).
    func absorbZeroLevel(_ op: inout IntegerOp, input x: IntegerValue) {
        guard x.signed else { return }
        let per = op.weights.count / op.outChannels
        for c in 0..<op.outChannels {
            let s = op.weights[(c * per)..<((c + 1) * per)].reduce(0) { $0 + Int($1) }
            op.bias[c] = Float(Double(op.bias[c]) - Double(op.multiplier[c]) * Double(x.zeroLevel) * Double(s))
        }
    }

    func intValue(_ q: ActivationQuantizer, shape: FeatureShape) throws -> IntegerValue {
        guard q.bits <= 8 else { throw IntegerModelError("\(q.name): \(q.bits)-bit activations, the engine holds at most 8") }
        return IntegerValue(name: q.name, kind: .integer, channels: shape.channels, height: shape.height,
                            width: shape.width, bits: q.bits, threshold: q.threshold(arena: rt.arena),
                            signed: q.range == .signed)
    }

    /// Integer weight levels and the step of each output channel.
    func levels(_ wq: GroupWeightQuantizer) throws -> ([Int8], [Float]) {
        guard wq.bits <= 8 else { throw IntegerModelError("\(wq.layer): \(wq.bits)-bit weights, the engine holds at most 8") }
        let w = rt.arena.value(wq.weight)
        _ = wq.forward(UnsafePointer(w), rt: rt)
        let gs = wq.groupSize, perChannel = wq.count / wq.outChannels
        var levels = [Int8](repeating: 0, count: wq.count)
        var deltas = [Float](repeating: 0, count: wq.outChannels)
        for g in 0..<wq.groups {
            let grid = wq.grid(group: g)
            for i in g * gs..<(g + 1) * gs {
                if grid.isDegenerate { continue }
                let v = w[i] / grid.delta
                levels[i] = Int8(min(max(v.rounded(.toNearestOrEven), grid.lo), grid.hi))
            }
            for c in (g * gs / perChannel)..<((g + 1) * gs / perChannel) { deltas[c] = grid.isDegenerate ? 0 : grid.delta }
        }
        return (levels, deltas)
    }

    /// Conv + BN folded (no BN: the conv's bias alone); the output value (integer or
    /// float) must already exist.
    mutating func conv(_ c: Conv2dLayer, bn: BatchNormLayer?, input: Int, output: Int, relu: Bool,
                       relu6: Bool = false) throws {
        guard let wq = c.weightTransform as? GroupWeightQuantizer else {
            throw IntegerModelError("\(c.name): weights are full precision; the integer engine needs quantized weights")
        }
        let g = c.geometry
        let depthwise = g.groups == g.inChannels && g.groups == g.outChannels
        guard g.groups == 1 || depthwise, g.kernelH == g.kernelW, g.strideH == g.strideW, g.padH == g.padW else {
            throw IntegerModelError("\(c.name): only square convolutions, ungrouped or depthwise, fold")
        }
        let x = values[input]
        guard x.kind != .float else { throw IntegerModelError("\(c.name): input is not quantized") }
        guard !x.signed || g.padH == 0 else {
            throw IntegerModelError("\(c.name): a signed input activation (\(x.name)) needs padding 0, the conv pads \(g.padH)")
        }
        var op = IntegerOp(name: c.name, kind: .conv, inputs: [input], output: output)
        op.inChannels = g.inChannels; op.outChannels = g.outChannels
        op.kernel = g.kernelH; op.stride = g.strideH; op.padding = g.padH; op.groups = g.groups
        let (levels, deltas) = try levels(wq)
        op.weights = levels; op.weightBits = wq.bits
        let stepIn = x.kind == .image ? imageStep : x.step
        if x.kind == .image { op.zeroPoint = zeroPoints }
        let a = rt.arena
        let convBias = c.bias.map { a.value($0) }
        for ch in 0..<g.outChannels {
            var scale: Float = 1, shift: Float = 0
            if let bn {
                // The float model's inference batch norm, bit for bit.
                let gamma = a.value(bn.gamma), beta = a.value(bn.beta), mean = a.stat(bn.runningMean), vr = a.stat(bn.runningVar)
                scale = Float(Double(gamma[ch]) / (Double(vr[ch]) + Double(bn.eps)).squareRoot())
                shift = beta[ch] - mean[ch] * scale
            }
            if let convBias { shift += convBias[ch] * scale }
            op.multiplier.append(Float(Double(scale) * Double(deltas[ch]) * Double(stepIn)))
            op.bias.append(shift)
        }
        op.relu = relu; op.relu6 = relu6
        absorbZeroLevel(&op, input: x)
        ops.append(op)
    }
}
