// MobileNetV2 (Sandler et al. 2018) in torchvision's layout: features.0 is a 3x3
// stride-2 conv + BN + ReLU6 (32 channels), features.1...17 inverted residual
// blocks, features.18 a 1x1 conv + BN + ReLU6 to 1280 channels, then global average
// pool and classifier.1 (torchvision's classifier.0 is the dropout, not kept here).
// An inverted residual block expands with a 1x1 conv (factor t, skipped for t = 1),
// filters with a depthwise 3x3 conv, both + BN + ReLU6, and projects with a 1x1
// conv + BN and no activation (the linear bottleneck); it adds its input when the
// stride is 1 and the channels match. Channels are multiplied by the width
// multiplier and rounded to a multiple of 8 as torchvision's _make_divisible does.
// The cifar stem keeps small inputs large: stride 1 in features.0 and in the first
// block of the 24-channel stage (total stride 8 instead of 32).

import TensorEngine

public enum MobileNetV2Layout {
    /// (expansion t, channels c, blocks n, stride s) of each stage, from the paper's table 2.
    public static let stages: [(t: Int, c: Int, n: Int, s: Int)] = [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]

    /// torchvision's _make_divisible(v, 8): the nearest multiple of 8, at least 8, never
    /// more than 10% below v.
    public static func divisible(_ v: Double, by d: Int = 8) -> Int {
        var n = max(d, Int(v + Double(d) / 2) / d * d)
        if Double(n) < 0.9 * v { n += d }
        return n
    }
}

/// One inverted residual block; its inner layers (convs, batch norms, ReLU6 and the
/// activation quantizers after them) run as a Sequential, so evaluation fuses each
/// conv with its batch norm.
public final class InvertedResidual: OutputQuantizable {
    public let body: Sequential
    /// Input added to the projection (stride 1, same channels).
    public let residual: Bool
    /// Optional layer applied to the block output (the next layer's input quantizer).
    public var outputQuantizer: Layer?
    public var inputShape: FeatureShape { body.inputShape }
    public var outputShape: FeatureShape { body.outputShape }
    public var macsPerSample: Int { body.macsPerSample }
    private let out: BatchBuffer

    init(_ build: Builder, name: String, input: FeatureShape, outChannels: Int, stride: Int, expansion: Int) {
        let b = build.b
        let list = LayerList(b)
        let hidden = input.channels * expansion
        var shape = input
        var unit = 0
        // Expansion and depthwise units are torchvision Conv2dNormActivations (conv.U.0, conv.U.1),
        // each followed by its ReLU6's quantizer; the projection conv and BN are conv.U and conv.U+1.
        for (channels, s, groups) in (expansion == 1 ? [] : [(hidden, 1, 1)]) + [(hidden, stride, hidden)] {
            shape = build.convBNReLU6("\(name).conv.\(unit)", shape, channels, kernel: groups == 1 ? 1 : 3, stride: s,
                                      groups: groups, into: list)
            if let q = build.actQuant("\(name).conv.\(unit).act", shape, range: .relu6) { list.append(q) }
            unit += 1
        }
        let project = build.conv("\(name).conv.\(unit)", shape, outChannels, kernel: 1, padding: 0)
        list.append(project)
        list.append(BatchNormLayer(b, name: "\(name).conv.\(unit + 1)", shape: project.outputShape, fuseReLU: false,
                                   maxBatch: build.maxBatch))
        shape = project.outputShape
        body = list.sequential()
        residual = stride == 1 && input.channels == outChannels
        out = BatchBuffer(shape, maxBatch: build.maxBatch)
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        var y = body.forward(x, batch: batch, rt: rt)
        if residual {
            add(y, x, into: out.pointer, count: batch * outputShape.count, pool: rt.pool)
            y = out.pointer
        }
        return outputQuantizer?.forward(y, batch: batch, rt: rt) ?? y
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        var g = dy
        if let q = outputQuantizer { g = UnsafePointer(q.backward(g, batch: batch, rt: rt)!) }
        let dx = body.backward(g, batch: batch, rt: rt)!
        if residual { addInPlace(dx, g, count: batch * inputShape.count, pool: rt.pool) }
        return dx
    }
}

extension Builder {
    /// A conv + BN + ReLU6 unit named like torchvision's Conv2dNormActivation (PREFIX.0, PREFIX.1).
    func convBNReLU6(_ prefix: String, _ input: FeatureShape, _ out: Int, kernel: Int, stride: Int, groups: Int = 1,
                     position: LayerPosition = .middle, into layers: LayerList) -> FeatureShape {
        let c = conv("\(prefix).0", input, out, kernel: kernel, stride: stride, padding: kernel / 2, groups: groups,
                     position: position)
        layers.append(c)
        layers.append(BatchNormLayer(b, name: "\(prefix).1", shape: c.outputShape, fuseReLU: false, maxBatch: maxBatch))
        layers.append(ActivationLayer(.relu6, shape: c.outputShape, maxBatch: maxBatch))
        return c.outputShape
    }

    func mobilenetV2(_ s: ModelSpec) -> Sequential {
        let layers = LayerList(b)
        let m = s.widthMultiplier, cifar = s.stem == .cifar
        var shape = convBNReLU6("features.0", s.input, MobileNetV2Layout.divisible(32 * m), kernel: 3,
                                stride: cifar ? 1 : 2, position: .first, into: layers)
        if let q = actQuant("features.0.act", shape, range: .relu6) { layers.append(q) }
        var index = 1
        for (k, stage) in MobileNetV2Layout.stages.enumerated() {
            let channels = MobileNetV2Layout.divisible(Double(stage.c) * m)
            for i in 0..<stage.n {
                let stride = i > 0 || (cifar && k == 1) ? 1 : stage.s
                let block = InvertedResidual(self, name: "features.\(index)", input: shape, outChannels: channels,
                                             stride: stride, expansion: stage.t)
                // The linear bottleneck's output (plus the residual) is signed.
                block.outputQuantizer = actQuant("features.\(index).act_out", block.outputShape, range: .signed)
                layers.append(block)
                shape = block.outputShape
                index += 1
            }
        }
        shape = convBNReLU6("features.\(index)", shape, MobileNetV2Layout.divisible(1280 * max(1, m)), kernel: 1,
                            stride: 1, position: .middle, into: layers)
        head(shape, s, into: layers, name: "classifier.1")
        return layers.sequential()
    }
}
