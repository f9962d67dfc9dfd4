// The ResNet-50/101/152 bottleneck block (torchvision's v1.5 layout: the stride
// sits on the 3x3 conv): conv1 1x1 -> planes, bn1, ReLU; conv2 3x3 stride s,
// bn2, ReLU; conv3 1x1 -> 4*planes, bn3; plus the shortcut (identity, or a 1x1
// strided projection conv + BN when the shape changes), then ReLU. Parameter
// names follow torchvision so weights move to and from PyTorch unchanged.
// Activation quantizers (when a policy asks for them) sit after each inner ReLU
// ("<name>.act1", "<name>.act2") and, set by the model builder, on the output.

import TensorEngine

public final class BottleneckBlock: OutputQuantizable {
    public static let expansion = 4
    /// conv1/bn1, conv2/bn2, conv3/bn3 in forward order; the first two batch norms fuse their ReLU.
    public let stages: [(conv: Conv2dLayer, bn: BatchNormLayer)]
    /// The quantizers after stage 1 and stage 2 (nil entries in float).
    public let innerQuantizers: [Layer?]
    public let downsample: (conv: Conv2dLayer, bn: BatchNormLayer)?
    /// Optional layer applied to the block output (the next layer's input quantizer).
    public var outputQuantizer: Layer?
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    private let out: BatchBuffer
    private let gradSum: BatchBuffer

    public init(_ b: ArenaBuilder, name: String, input: FeatureShape, planes: Int, stride: Int,
                maxBatch: Int, threads: Int, policy: QuantizationPolicy? = nil) {
        inputShape = input
        let outChannels = planes * Self.expansion
        var stages: [(conv: Conv2dLayer, bn: BatchNormLayer)] = []
        var shape = input
        for (i, (channels, kernel, s)) in [(planes, 1, 1), (planes, 3, stride), (outChannels, 1, 1)].enumerated() {
            let conv = Conv2dLayer(b, name: "\(name).conv\(i + 1)", input: shape, outChannels: channels, kernel: kernel,
                                   stride: s, padding: kernel / 2, maxBatch: maxBatch, threads: threads, policy: policy)
            stages.append((conv, BatchNormLayer(b, name: "\(name).bn\(i + 1)", shape: conv.outputShape, fuseReLU: i < 2,
                                                maxBatch: maxBatch)))
            shape = conv.outputShape
        }
        self.stages = stages
        downsample = projectionShortcut(b, name: name, input: input, outChannels: outChannels, stride: stride,
                                        maxBatch: maxBatch, threads: threads, policy: policy)
        innerQuantizers = (0..<2).map { i in
            policy?.activationQuantizer(name: "\(name).act\(i + 1)", shape: stages[i].conv.outputShape,
                                        maxBatch: maxBatch, builder: b, feeds: .middle)
        }
        outputShape = shape
        out = BatchBuffer(shape, maxBatch: maxBatch)
        gradSum = BatchBuffer(shape, maxBatch: maxBatch)
    }

    public var macsPerSample: Int {
        stages.reduce(0) { $0 + $1.conv.macsPerSample } + (downsample?.conv.macsPerSample ?? 0)
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        var shortcut = x
        if let (c, n) = downsample {
            let fused = n.fusedForward(after: c, x, batch: batch, rt: rt)
            shortcut = UnsafePointer(fused ?? n.forward(c.forward(x, batch: batch, rt: rt), batch: batch, rt: rt))
        }
        var h = x
        for (i, (conv, bn)) in stages.enumerated() {
            let last = i == stages.count - 1
            // Evaluation: each conv writes its batch norm's output; the last one also adds
            // the shortcut and applies the ReLU (bit for bit the unfused sequence).
            if let y = bn.fusedForward(after: conv, h, batch: batch, rt: rt, residual: last ? shortcut : nil, relu: last) {
                h = UnsafePointer(y)
                if last { return outputQuantizer?.forward(y, batch: batch, rt: rt) ?? y }
            } else {
                h = UnsafePointer(bn.forward(conv.forward(h, batch: batch, rt: rt), batch: batch, rt: rt))
            }
            if !last, let q = innerQuantizers[i] { h = UnsafePointer(q.forward(h, batch: batch, rt: rt)) }
        }
        let count = batch * outputShape.count
        add(h, shortcut, into: out.pointer, count: count, pool: rt.pool)
        reluForward(input: out.pointer, output: out.pointer, count: count, pool: rt.pool)
        return outputQuantizer?.forward(out.pointer, batch: batch, rt: rt) ?? out.pointer
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        var g = dy
        if let q = outputQuantizer { g = UnsafePointer(q.backward(g, batch: batch, rt: rt)!) }
        reluBackward(output: out.pointer, gradOutput: g, gradInput: gradSum.pointer, count: batch * outputShape.count,
                     pool: rt.pool)
        let gz = UnsafePointer(gradSum.pointer)
        var gh = gz
        for (i, (conv, bn)) in stages.enumerated().reversed() {
            if i < stages.count - 1, let q = innerQuantizers[i] { gh = UnsafePointer(q.backward(gh, batch: batch, rt: rt)!) }
            gh = UnsafePointer(conv.backward(bn.backward(gh, batch: batch, rt: rt)!, batch: batch, rt: rt)!)
        }
        let dx = UnsafeMutablePointer(mutating: gh)
        let inCount = batch * inputShape.count
        if let (c, n) = downsample {
            addInPlace(dx, c.backward(n.backward(gz, batch: batch, rt: rt)!, batch: batch, rt: rt)!, count: inCount, pool: rt.pool)
        } else {
            addInPlace(dx, gz, count: inCount, pool: rt.pool)
        }
        return dx
    }
}
