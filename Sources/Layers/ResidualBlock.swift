// The CIFAR-style ResNet basic block: conv-BN-ReLU-conv-BN, plus the shortcut
// (identity, or a 1x1 strided projection conv + BN when the shape changes),
// then ReLU. Parameter names follow torchvision (conv1, bn1, conv2, bn2,
// downsample.0, downsample.1) so weights move to and from PyTorch unchanged.

import TensorEngine

public final class BasicBlock: Layer {
    public let conv1: Conv2dLayer, bn1: BatchNormLayer
    public let conv2: Conv2dLayer, bn2: BatchNormLayer
    public let downsample: (conv: Conv2dLayer, bn: BatchNormLayer)?
    /// Optional layer applied to the block output (an activation quantizer).
    /// Set by the model builder: the next block's (or the head's) input quantizer.
    public var outputQuantizer: Layer?
    /// Optional layer between bn1+ReLU and conv2 (an activation quantizer).
    public private(set) var innerQuantizer: Layer?
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    private let out: BatchBuffer
    private let gradSum: BatchBuffer
    private var lastOutput: UnsafeMutablePointer<Float>?

    public init(_ b: ArenaBuilder, name: String, input: FeatureShape, outChannels: Int, stride: Int,
                maxBatch: Int, threads: Int, policy: QuantizationPolicy? = nil) {
        inputShape = input
        conv1 = Conv2dLayer(b, name: "\(name).conv1", input: input, outChannels: outChannels, kernel: 3,
                            stride: stride, padding: 1, maxBatch: maxBatch, threads: threads, policy: policy)
        bn1 = BatchNormLayer(b, name: "\(name).bn1", shape: conv1.outputShape, fuseReLU: true, maxBatch: maxBatch)
        conv2 = Conv2dLayer(b, name: "\(name).conv2", input: conv1.outputShape, outChannels: outChannels, kernel: 3,
                            stride: 1, padding: 1, maxBatch: maxBatch, threads: threads, policy: policy)
        bn2 = BatchNormLayer(b, name: "\(name).bn2", shape: conv2.outputShape, fuseReLU: false, maxBatch: maxBatch)
        downsample = projectionShortcut(b, name: name, input: input, outChannels: outChannels, stride: stride,
                                        maxBatch: maxBatch, threads: threads, policy: policy)
        innerQuantizer = policy?.activationQuantizer(name: "\(name).act1", shape: conv1.outputShape,
                                                     maxBatch: maxBatch, builder: b, feeds: .middle)
        outputShape = conv2.outputShape
        out = BatchBuffer(outputShape, maxBatch: maxBatch)
        gradSum = BatchBuffer(outputShape, maxBatch: maxBatch)
    }

    public var macsPerSample: Int {
        conv1.macsPerSample + conv2.macsPerSample + (downsample?.conv.macsPerSample ?? 0)
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        if let y = fusedForward(x, batch: batch, rt: rt) {
            if let q = outputQuantizer { return q.forward(y, batch: batch, rt: rt) }
            return y
        }
        var h = UnsafePointer(bn1.forward(conv1.forward(x, batch: batch, rt: rt), batch: batch, rt: rt))
        if let q = innerQuantizer { h = UnsafePointer(q.forward(h, batch: batch, rt: rt)) }
        let main = bn2.forward(conv2.forward(h, batch: batch, rt: rt), batch: batch, rt: rt)
        let shortcut: UnsafePointer<Float>
        if let (c, n) = downsample {
            shortcut = UnsafePointer(n.forward(c.forward(x, batch: batch, rt: rt), batch: batch, rt: rt))
        } else {
            shortcut = x
        }
        let count = batch * outputShape.count
        add(main, shortcut, into: out.pointer, count: count, pool: rt.pool)
        reluForward(input: out.pointer, output: out.pointer, count: count, pool: rt.pool)
        lastOutput = out.pointer
        if let q = outputQuantizer { return q.forward(out.pointer, batch: batch, rt: rt) }
        return out.pointer
    }

    /// Evaluation: each conv writes its batch norm's output, conv2 also adds the shortcut
    /// and applies the ReLU (same values as the layer-by-layer forward). Nil in training.
    private func fusedForward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        guard let y1 = bn1.fusedForward(after: conv1, x, batch: batch, rt: rt) else { return nil }
        var h = UnsafePointer(y1)
        if let q = innerQuantizer { h = UnsafePointer(q.forward(h, batch: batch, rt: rt)) }
        var shortcut = x
        if let (c, n) = downsample {
            guard let s = n.fusedForward(after: c, x, batch: batch, rt: rt) else { return nil }
            shortcut = UnsafePointer(s)
        }
        return bn2.fusedForward(after: conv2, h, batch: batch, rt: rt, residual: shortcut, relu: true)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        var g = dy
        if let q = outputQuantizer { g = UnsafePointer(q.backward(g, batch: batch, rt: rt)!) }
        let count = batch * outputShape.count
        reluBackward(output: lastOutput!, gradOutput: g, gradInput: gradSum.pointer, count: count, pool: rt.pool)
        let gz = UnsafePointer(gradSum.pointer)
        var gh = UnsafePointer(conv2.backward(bn2.backward(gz, batch: batch, rt: rt)!, batch: batch, rt: rt)!)
        if let q = innerQuantizer { gh = UnsafePointer(q.backward(gh, batch: batch, rt: rt)!) }
        let dx = conv1.backward(bn1.backward(gh, batch: batch, rt: rt)!, batch: batch, rt: rt)!
        let inCount = batch * inputShape.count
        if let (c, n) = downsample {
            let ds = c.backward(n.backward(gz, batch: batch, rt: rt)!, batch: batch, rt: rt)!
            addInPlace(dx, ds, count: inCount, pool: rt.pool)
        } else {
            addInPlace(dx, gz, count: inCount, pool: rt.pool)
        }
        return dx
    }
}

/// A residual block whose output the model builder may quantize.
public protocol OutputQuantizable: Layer {
    /// Applied to the block output: the next layer's input quantizer.
    var outputQuantizer: Layer? { get set }
}

extension BasicBlock: OutputQuantizable {}

/// The shortcut of a block whose shape changes: a 1x1 strided conv + BN (torchvision's
/// downsample.0 and downsample.1); nil when the identity fits.
func projectionShortcut(_ b: ArenaBuilder, name: String, input: FeatureShape, outChannels: Int, stride: Int,
                        maxBatch: Int, threads: Int, policy: QuantizationPolicy?) -> (conv: Conv2dLayer, bn: BatchNormLayer)? {
    guard stride != 1 || input.channels != outChannels else { return nil }
    let c = Conv2dLayer(b, name: "\(name).downsample.0", input: input, outChannels: outChannels, kernel: 1,
                        stride: stride, padding: 0, maxBatch: maxBatch, threads: threads, policy: policy)
    return (c, BatchNormLayer(b, name: "\(name).downsample.1", shape: c.outputShape, fuseReLU: false, maxBatch: maxBatch))
}
