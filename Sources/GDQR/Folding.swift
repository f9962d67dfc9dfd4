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
        var cur = 0
        var pendingConv: Conv2dLayer?
        var pendingBN: BatchNormLayer?
        var pooled = false
        for layer in net.body.layers {
            switch layer {
            case let c as Conv2dLayer:
                guard pendingConv == nil else { throw IntegerModelError("\(c.name): two convolutions in a row") }
                pendingConv = c
            case let b as BatchNormLayer:
                guard pendingConv != nil, pendingBN == nil else { throw IntegerModelError("\(b.name): batch norm without a conv") }
                pendingBN = b
            case let q as ActivationQuantizer:
                if let c = pendingConv {
                    guard let bn = pendingBN else { throw IntegerModelError("\(c.name): no batch norm to fold") }
                    let out = f.add(try f.intValue(q, shape: c.outputShape))
                    try f.conv(c, bn: bn, input: cur, output: out, relu: bn.fuseReLU)
                    cur = out
                    pendingConv = nil; pendingBN = nil
                } else if pooled {
                    let out = f.add(try f.intValue(q, shape: q.inputShape))
                    var op = IntegerOp(name: "avgpool+\(q.name)", kind: .avgquant, inputs: [cur], output: out)
                    op.inChannels = q.inputShape.channels; op.outChannels = q.inputShape.channels
                    f.ops.append(op)
                    cur = out
                    pooled = false
                } else {
                    throw IntegerModelError("\(q.name): activation quantizer in an unexpected place")
                }
            case let p as MaxPoolLayer:
                guard pendingConv == nil, f.values[cur].kind == .integer else {
                    throw IntegerModelError("max pool needs a quantized input")
                }
                var v = f.values[cur]
                v.name += ".maxpool"; v.height = p.outputShape.height; v.width = p.outputShape.width
                let out = f.add(v)
                var op = IntegerOp(name: "maxpool\(f.ops.count)", kind: .maxpool, inputs: [cur], output: out)
                op.inChannels = v.channels; op.outChannels = v.channels
                op.kernel = p.kernel; op.stride = p.stride; op.padding = p.padding
                f.ops.append(op)
                cur = out
            case let blk as BasicBlock:
                guard pendingConv == nil else { throw IntegerModelError("block after an unfolded conv") }
                cur = try f.block(blk, input: cur)
            case is GlobalAvgPoolLayer:
                guard pendingConv == nil, f.values[cur].kind == .integer else {
                    throw IntegerModelError("global average pool needs a quantized input")
                }
                pooled = true
            case let l as LinearLayer:
                guard !pooled else { throw IntegerModelError("fc: its input activation fc.act_in is not quantized") }
                guard let wq = l.weightTransform as? GroupWeightQuantizer else {
                    throw IntegerModelError("fc: weights are full precision; the integer engine needs quantized weights")
                }
                let x = f.values[cur]
                guard x.kind == .integer, x.count == l.inputShape.count else { throw IntegerModelError("fc: input not quantized") }
                let out = f.add(IntegerValue(name: "logits", kind: .float, channels: l.outputShape.channels, height: 1, width: 1))
                var op = IntegerOp(name: l.name, kind: .linear, inputs: [cur], output: out)
                op.inChannels = l.inputShape.count; op.outChannels = l.outputShape.channels
                let (levels, deltas) = try f.levels(wq)
                op.weights = levels; op.weightBits = wq.bits
                op.multiplier = deltas.map { Float(Double($0) * Double(x.step)) }
                op.bias = Array(UnsafeBufferPointer(start: f.rt.arena.value(l.bias), count: op.outChannels))
                f.ops.append(op)
                cur = out
            default:
                throw IntegerModelError("cannot fold layer \(type(of: layer))")
            }
        }
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

    func intValue(_ q: ActivationQuantizer, shape: FeatureShape) throws -> IntegerValue {
        guard q.bits <= 8 else { throw IntegerModelError("\(q.name): \(q.bits)-bit activations, the engine holds at most 8") }
        return IntegerValue(name: q.name, kind: .integer, channels: shape.channels, height: shape.height,
                            width: shape.width, bits: q.bits, threshold: q.threshold(arena: rt.arena))
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
    mutating func conv(_ c: Conv2dLayer, bn: BatchNormLayer?, input: Int, output: Int, relu: Bool) throws {
        guard let wq = c.weightTransform as? GroupWeightQuantizer else {
            throw IntegerModelError("\(c.name): weights are full precision; the integer engine needs quantized weights")
        }
        let g = c.geometry
        guard g.groups == 1, g.kernelH == g.kernelW, g.strideH == g.strideW, g.padH == g.padW else {
            throw IntegerModelError("\(c.name): only square, ungrouped convolutions fold")
        }
        let x = values[input]
        guard x.kind != .float else { throw IntegerModelError("\(c.name): input is not quantized") }
        var op = IntegerOp(name: c.name, kind: .conv, inputs: [input], output: output)
        op.inChannels = g.inChannels; op.outChannels = g.outChannels
        op.kernel = g.kernelH; op.stride = g.strideH; op.padding = g.padH
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
        op.relu = relu
        ops.append(op)
    }

    /// A residual block: conv1 (+act1) → conv2 (float z) ; shortcut ; add, ReLU, act_out.
    mutating func block(_ b: BasicBlock, input: Int) throws -> Int {
        guard let q1 = b.innerQuantizer as? ActivationQuantizer else {
            throw IntegerModelError("\(b.conv1.name): its output activation is not quantized")
        }
        guard let qo = b.outputQuantizer as? ActivationQuantizer else {
            throw IntegerModelError("\(b.conv2.name): the block output activation is not quantized")
        }
        let a1 = add(try intValue(q1, shape: b.conv1.outputShape))
        try conv(b.conv1, bn: b.bn1, input: input, output: a1, relu: b.bn1.fuseReLU)
        let s = b.conv2.outputShape
        let z2 = add(IntegerValue(name: "\(b.bn2.name).z", kind: .float, channels: s.channels, height: s.height, width: s.width))
        try conv(b.conv2, bn: b.bn2, input: a1, output: z2, relu: false)
        var shortcut = input
        if let (dc, dbn) = b.downsample {
            let zd = add(IntegerValue(name: "\(dbn.name).z", kind: .float, channels: s.channels, height: s.height, width: s.width))
            try conv(dc, bn: dbn, input: input, output: zd, relu: false)
            shortcut = zd
        }
        let out = add(try intValue(qo, shape: b.outputShape))
        var op = IntegerOp(name: "\(qo.name.dropLast(8)).add", kind: .add, inputs: [z2, shortcut], output: out)
        op.relu = true
        op.inChannels = s.channels; op.outChannels = s.channels
        ops.append(op)
        return out
    }
}
