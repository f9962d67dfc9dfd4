// The models a config can describe: a small CNN, ResNets (CIFAR-style depth 6n+2,
// and ResNet-18/34/50/101/152 with basic or bottleneck blocks and a CIFAR 3x3 or
// ImageNet 7x7 stride-2 stem), VGG with batch norm (VGG-small, VGG-11/13/16/19) and
// MobileNetV2, for any input channels and square size. The builders live in
// ResNet.swift, VGG.swift and MobileNetV2.swift.

import TensorEngine

public struct ModelSpec: Hashable, Sendable {
    public enum Arch: String, Sendable { case cnn, resnet, vgg, mobilenetv2 }
    /// ResNet block: basic (two 3x3 convs) or bottleneck (1x1, 3x3, 1x1 with expansion 4).
    public enum Block: String, Sendable { case basic, bottleneck }
    /// cifar: a 3x3 stride-1 stem; imagenet: 7x7 stride 2 + 3x3 stride-2 max pool (ResNet),
    /// or the standard strides (MobileNetV2; cifar makes its stem and second stage stride 1).
    public enum Stem: String, Sendable { case cifar, imagenet }
    public var arch: Arch
    public var depth: Int
    public var width: Int
    public var numClasses: Int
    public var input: FeatureShape
    public var block: Block
    public var stem: Stem
    /// Channel multiplier of VGG and MobileNetV2.
    public var widthMultiplier: Double
    /// VGG's hidden classifier widths (each Linear + ReLU) before the output layer.
    public var classifier: [Int]

    public init(arch: Arch, depth: Int = 20, width: Int = 16, numClasses: Int = 10, input: FeatureShape,
                block: Block = .basic, stem: Stem = .cifar, widthMultiplier: Double = 1, classifier: [Int] = []) {
        self.arch = arch; self.depth = depth; self.width = width; self.numClasses = numClasses; self.input = input
        self.block = block; self.stem = stem; self.widthMultiplier = widthMultiplier; self.classifier = classifier
    }

    public var description: String {
        switch arch {
        case .cnn: return "cnn (width \(width))"
        case .resnet:
            if block == .basic && stem == .cifar && ResNetLayout.isCIFARDepth(depth) { return "resnet\(depth) (width \(width))" }
            return "resnet\(depth) (\(block.rawValue) blocks, \(stem.rawValue) stem, width \(width))"
        case .vgg: return "\(depth == 7 ? "vgg-small" : "vgg\(depth)") (width x\(widthMultiplier), classifier \(classifier))"
        case .mobilenetv2: return "mobilenetv2 (width x\(widthMultiplier), \(stem.rawValue) stem)"
        }
    }
}

/// A built model: its layers, the arena that holds its parameters, and the loss.
public final class Network {
    public let spec: ModelSpec
    public let body: Sequential
    public let arena: ParameterArena
    public let maxBatch: Int
    private let gradLogits: UnsafeMutablePointer<Float>

    /// Builds the model for batches of up to `maxBatch` on `threads` threads;
    /// parameters are initialised from `seed`.
    /// With a quantization `policy`, every conv/linear gets the policy's weight
    /// transform and every activation feeding one of them its activation quantizer.
    public init(_ spec: ModelSpec, maxBatch: Int, threads: Int, seed: UInt64, policy: QuantizationPolicy? = nil) {
        self.spec = spec
        self.maxBatch = maxBatch
        let b = ArenaBuilder()
        let build = Builder(b: b, maxBatch: maxBatch, threads: threads, policy: policy)
        switch spec.arch {
        case .resnet: body = build.resnet(spec)
        case .vgg: body = build.vgg(spec)
        case .mobilenetv2: body = build.mobilenetV2(spec)
        case .cnn: body = build.cnn(spec)
        }
        arena = ParameterArena(b, seed: seed)
        gradLogits = Tensor.allocate(maxBatch * spec.numClasses)
    }

    deinit { gradLogits.deallocate() }

    public var macsPerSample: Int { body.macsPerSample }

    /// Logits [batch, classes] for `images` [batch, C, H, W].
    public func forward(_ images: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        precondition(batch <= maxBatch, "Network: batch \(batch) exceeds the built maximum \(maxBatch)")
        return body.forward(images, batch: batch, rt: rt)
    }

    /// Mean cross-entropy of the last forward's logits and its backward pass:
    /// every parameter gradient is written into the arena. `gradientScale`
    /// multiplies the loss gradient: 1/ranks under data parallelism, so that the
    /// gradients' all-reduced sum is already the mean over the global batch.
    public func backward(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
                         rt: Runtime) -> CrossEntropyResult {
        backward(logits: logits, labels: labels, batch: batch, rt: rt, gradientScale: 1)
    }

    public func backward(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
                         rt: Runtime, gradientScale: Float) -> CrossEntropyResult {
        let r = softmaxCrossEntropy(logits: logits, labels: labels, gradLogits: gradLogits, batch: batch,
                                    classes: spec.numClasses, pool: rt.pool)
        if gradientScale != 1 { scale(gradLogits, by: gradientScale, count: batch * spec.numClasses) }
        _ = body.backward(gradLogits, batch: batch, rt: rt)
        return r
    }

}

/// Builds the layer lists, asking the quantization policy (if any) at each layer.
struct Builder {
    let b: ArenaBuilder
    let maxBatch: Int
    let threads: Int
    let policy: QuantizationPolicy?

    func conv(_ name: String, _ input: FeatureShape, _ out: Int, kernel: Int = 3, stride: Int = 1,
              padding: Int = 1, groups: Int = 1, bias: Bool = false,
              position: LayerPosition = .middle) -> Conv2dLayer {
        Conv2dLayer(b, name: name, input: input, outChannels: out, kernel: kernel, stride: stride, padding: padding,
                    groups: groups, bias: bias, maxBatch: maxBatch, threads: threads, needsInputGradient: position != .first,
                    policy: policy, position: position)
    }

    func actQuant(_ name: String, _ shape: FeatureShape, feeds: LayerPosition = .middle,
                  range: ActivationRange = .relu) -> Layer? {
        policy?.activationQuantizer(name: name, shape: shape, maxBatch: maxBatch, builder: b, feeds: feeds, range: range)
    }

    /// Global average pool, the classifier's input quantizer ("NAME.act_in"), the classifier NAME.
    func head(_ shape: FeatureShape, _ s: ModelSpec, into layers: LayerList, name: String = "fc") {
        layers.append(GlobalAvgPoolLayer(input: shape, maxBatch: maxBatch))
        let pooled = FeatureShape(shape.channels, 1, 1)
        if let q = actQuant("\(name).act_in", pooled, feeds: .last) { layers.append(q) }
        layers.append(LinearLayer(b, name: name, input: pooled, outFeatures: s.numClasses, maxBatch: maxBatch,
                                  policy: policy))
    }

    func cnn(_ s: ModelSpec) -> Sequential {
        let layers = LayerList(b)
        var shape = s.input
        let plan: [(channels: Int, poolAfter: Bool)] = [(s.width, false), (s.width, true),
                                                          (2 * s.width, false), (2 * s.width, true)]
        for (i, step) in plan.enumerated() {
            let c = conv("conv\(i + 1)", shape, step.channels, position: i == 0 ? .first : .middle)
            layers.append(c)
            layers.append(BatchNormLayer(b, name: "bn\(i + 1)", shape: c.outputShape, fuseReLU: true, maxBatch: maxBatch))
            shape = c.outputShape
            // Max pooling keeps values on the quantization grid, so quantize before it.
            if let q = actQuant("bn\(i + 1).act", shape) { layers.append(q) }
            if step.poolAfter {
                let p = MaxPoolLayer(input: shape, kernel: 2, stride: 2, maxBatch: maxBatch)
                layers.append(p)
                shape = p.outputShape
            }
        }
        head(shape, s, into: layers)
        return layers.sequential()
    }
}

/// Layers in forward order, with the arena offset where each one's parameters
/// begin (construct a layer, then append it: its parameters are registered by then).
final class LayerList {
    private let b: ArenaBuilder
    private var layers: [Layer] = []
    private var starts: [Int] = []
    private var end = 0

    init(_ b: ArenaBuilder) { self.b = b }

    func append(_ l: Layer) {
        layers.append(l)
        starts.append(end)
        end = b.nextParameterOffset
    }

    func sequential() -> Sequential {
        let seq = Sequential(layers)
        seq.parameterStarts = starts
        return seq
    }
}
