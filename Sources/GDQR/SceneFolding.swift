// Folding a quantized SceneNetwork (ResNet backbone + CenterNet or FCN head) into
// an IntegerModel, with the same conv/BN and residual-block folds as the
// classifier (Folding.swift).
//
// CenterNet: per branch (heatmap, size, offset) the 3x3 conv with its bias and
// ReLU, requantized to the branch's activation quantizer, then the 1x1 prediction
// conv with float output; a concat op joins the three outputs in the network's
// channel order. FCN: the score convs (float output) of the last stage and of the
// skip stage, upsample2x of the deep scores, their sum, then the 2x steps up to
// the image size. Sigmoid (heatmap) and argmax (segmentation) stay with the caller.

import IntegerInference
import Layers
import TensorEngine

extension Folding {
    /// Folds `net` (built with a GDQRPolicy, statistics loaded). Every conv must be
    /// quantized, and the activations that feed them (except the image).
    public static func fold(_ net: SceneNetwork, normalization: (mean: [Float], std: [Float]),
                            info: [String: String] = [:]) throws -> IntegerModel {
        var f = try Folder(arena: net.arena, input: net.input, normalization: normalization)
        // Stem: conv1, bn1 (ReLU fused), its activation quantizer.
        let stem = net.stem.layers
        guard stem.count == 3, let c1 = stem[0] as? Conv2dLayer, let bn1 = stem[1] as? BatchNormLayer,
              let q1 = stem[2] as? ActivationQuantizer else {
            throw IntegerModelError("conv1: the stem's output activation is not quantized")
        }
        var cur = f.add(try f.intValue(q1, shape: c1.outputShape))
        try f.conv(c1, bn: bn1, input: 0, output: cur, relu: bn1.fuseReLU)
        var stageOutputs: [Int] = []
        for stage in net.stages {
            for layer in stage.layers {
                guard let block = layer as? BasicBlock else { throw IntegerModelError("cannot fold layer \(type(of: layer))") }
                cur = try f.block(block, input: cur)
            }
            stageOutputs.append(cur)
        }
        let task: IntegerTask
        if let head = net.centerNet {
            task = .centernet
            var outputs: [Int] = []
            for branch in head.branches {
                guard let q = branch.actQuantizer as? ActivationQuantizer else {
                    throw IntegerModelError("\(branch.hidden.name): its output activation is not quantized")
                }
                let hidden = f.add(try f.intValue(q, shape: branch.hidden.outputShape))
                try f.conv(branch.hidden, bn: nil, input: cur, output: hidden, relu: true)
                let out = f.add(f.floatValue(branch.out.name, branch.out.outputShape))
                try f.conv(branch.out, bn: nil, input: hidden, output: out, relu: false)
                outputs.append(out)
            }
            let o = f.add(f.floatValue("head.output", head.outputShape))
            f.ops.append(f.headOp("head.concat", .concat, inputs: outputs, output: o))
        } else if let head = net.fcn {
            task = .segmentation
            let deep = f.add(f.floatValue(head.scoreDeep.name, head.scoreDeep.outputShape))
            try f.conv(head.scoreDeep, bn: nil, input: stageOutputs[2], output: deep, relu: false)
            let up = f.upsample(deep, name: "head.score_deep.up")
            let skip = f.add(f.floatValue(head.scoreSkip.name, head.scoreSkip.outputShape))
            try f.conv(head.scoreSkip, bn: nil, input: stageOutputs[1], output: skip, relu: false)
            var v = f.values[up]
            v.name = "head.fused"
            let fused = f.add(v)
            f.ops.append(f.headOp("head.sum", .sum, inputs: [up, skip], output: fused))
            var last = fused
            for k in 0..<head.upsamplingSteps { last = f.upsample(last, name: "head.up\(k + 1)") }
        } else {
            throw IntegerModelError("scene network without a head")
        }
        let m = IntegerModel(values: f.values, ops: f.ops, classes: net.classes, task: task,
                             normMean: normalization.mean, normStd: normalization.std, info: info)
        try m.validate()
        return m
    }
}

extension Folder {
    func floatValue(_ name: String, _ s: FeatureShape) -> IntegerValue {
        IntegerValue(name: name, kind: .float, channels: s.channels, height: s.height, width: s.width)
    }

    func headOp(_ name: String, _ kind: IntegerOpKind, inputs: [Int], output: Int) -> IntegerOp {
        var op = IntegerOp(name: name, kind: kind, inputs: inputs, output: output)
        op.inChannels = inputs.reduce(0) { $0 + values[$1].channels }
        op.outChannels = values[output].channels
        return op
    }

    /// A float value twice the size of `input`, produced by an upsample2x op.
    mutating func upsample(_ input: Int, name: String) -> Int {
        var v = values[input]
        v.name = name; v.height *= 2; v.width *= 2
        let out = add(v)
        ops.append(headOp(name, .upsample2x, inputs: [input], output: out))
        return out
    }
}
