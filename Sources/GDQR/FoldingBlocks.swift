// Folding the residual blocks (Folding.swift folds the layers between them):
//   basic block (ResNet-8 ... 34)   conv1 + act1 → conv2 (float z); shortcut; add, ReLU, act_out
//   bottleneck (ResNet-50 ...)     conv1 + act1 → conv2 + act2 → conv3 (float z); shortcut;
//                                  add, ReLU, act_out
//   inverted residual (MobileNetV2) expansion 1x1 + ReLU6 + act, depthwise 3x3 + ReLU6 + act,
//                                  projection 1x1 + BN (the linear bottleneck): straight into
//                                  the signed act_out, or (stride 1, same channels) float z
//                                  plus the block input (signed levels), no ReLU, act_out
// The shortcut is the block input's levels (identity) or a projection conv + BN kept
// in float (downsample). The add's float sum is requantized by the block's output
// quantizer, as the fake-quant model quantizes the block output.

import IntegerInference
import Layers

extension Folder {
    mutating func block(_ b: BasicBlock, input: Int) throws -> Int {
        guard let q1 = b.innerQuantizer as? ActivationQuantizer else {
            throw IntegerModelError("\(b.conv1.name): its output activation is not quantized")
        }
        let a1 = add(try intValue(q1, shape: b.conv1.outputShape))
        try conv(b.conv1, bn: b.bn1, input: input, output: a1, relu: b.bn1.fuseReLU)
        return try residualTail(b.conv2, b.bn2, main: a1, input: input, downsample: b.downsample,
                                output: b.outputQuantizer, shape: b.outputShape, relu: true)
    }

    mutating func bottleneck(_ b: BottleneckBlock, input: Int) throws -> Int {
        var h = input
        for i in 0..<2 {
            let (c, bn) = b.stages[i]
            guard let q = b.innerQuantizers[i] as? ActivationQuantizer else {
                throw IntegerModelError("\(c.name): its output activation is not quantized")
            }
            let a = add(try intValue(q, shape: c.outputShape))
            try conv(c, bn: bn, input: h, output: a, relu: bn.fuseReLU)
            h = a
        }
        let (c3, bn3) = b.stages[2]
        return try residualTail(c3, bn3, main: h, input: input, downsample: b.downsample,
                                output: b.outputQuantizer, shape: b.outputShape, relu: true)
    }

    mutating func invertedResidual(_ b: InvertedResidual, input: Int) throws -> Int {
        let layers = b.body.layers
        guard layers.count >= 2, let project = layers[layers.count - 2] as? Conv2dLayer,
              let bn = layers[layers.count - 1] as? BatchNormLayer else {
            throw IntegerModelError("inverted residual block: expected a projection conv and batch norm at its end")
        }
        cur = input
        try run(Array(layers.dropLast(2)))
        if let c = pendingConv { throw IntegerModelError("\(c.name): its output is never quantized") }
        let hidden = cur
        if b.residual {
            return try residualTail(project, bn, main: hidden, input: input, downsample: nil, output: b.outputQuantizer,
                                    shape: b.outputShape, relu: false)
        }
        guard let q = b.outputQuantizer as? ActivationQuantizer else {
            throw IntegerModelError("\(project.name): the block output activation is not quantized")
        }
        let out = add(try intValue(q, shape: b.outputShape))
        try conv(project, bn: bn, input: hidden, output: out, relu: false)
        return out
    }

    /// The last conv of a residual branch (float z) on `main`, the shortcut from `input`
    /// (identity, or the projection conv + BN in float), their add (with or without ReLU)
    /// and the block output quantizer.
    mutating func residualTail(_ c: Conv2dLayer, _ bn: BatchNormLayer, main: Int, input: Int,
                               downsample: (conv: Conv2dLayer, bn: BatchNormLayer)?, output: Layer?,
                               shape: FeatureShape, relu: Bool) throws -> Int {
        guard let qo = output as? ActivationQuantizer else {
            throw IntegerModelError("\(c.name): the block output activation is not quantized")
        }
        let s = c.outputShape
        let z = add(IntegerValue(name: "\(bn.name).z", kind: .float, channels: s.channels, height: s.height, width: s.width))
        try conv(c, bn: bn, input: main, output: z, relu: false)
        var shortcut = input
        if let (dc, dbn) = downsample {
            let zd = add(IntegerValue(name: "\(dbn.name).z", kind: .float, channels: s.channels, height: s.height, width: s.width))
            try conv(dc, bn: dbn, input: input, output: zd, relu: false)
            shortcut = zd
        }
        let out = add(try intValue(qo, shape: shape))
        let base = qo.name.hasSuffix(".act_out") ? String(qo.name.dropLast(8)) : qo.name
        var op = IntegerOp(name: "\(base).add", kind: .add, inputs: [z, shortcut], output: out)
        op.relu = relu
        op.inChannels = s.channels; op.outChannels = s.channels
        ops.append(op)
        return out
    }
}
