// The models a config can describe: a small VGG-style CNN and CIFAR-style
// ResNets (depth 6n+2), for any input channels and square size.

import TensorEngine

public struct ModelSpec: Hashable, Sendable {
    public enum Arch: String, Sendable { case cnn, resnet }
    public var arch: Arch
    public var depth: Int
    public var width: Int
    public var numClasses: Int
    public var input: FeatureShape

    public init(arch: Arch, depth: Int = 20, width: Int = 16, numClasses: Int = 10, input: FeatureShape) {
        self.arch = arch; self.depth = depth; self.width = width; self.numClasses = numClasses; self.input = input
    }

    public var description: String {
        arch == .resnet ? "resnet\(depth) (width \(width))" : "cnn (width \(width))"
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
    public init(_ spec: ModelSpec, maxBatch: Int, threads: Int, seed: UInt64) {
        self.spec = spec
        self.maxBatch = maxBatch
        let b = ArenaBuilder()
        switch spec.arch {
        case .resnet: body = Network.resnet(b, spec, maxBatch: maxBatch, threads: threads)
        case .cnn: body = Network.cnn(b, spec, maxBatch: maxBatch, threads: threads)
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
    /// every parameter gradient is written into the arena.
    public func backward(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
                         rt: Runtime) -> CrossEntropyResult {
        let r = softmaxCrossEntropy(logits: logits, labels: labels, gradLogits: gradLogits, batch: batch,
                                    classes: spec.numClasses, pool: rt.pool)
        _ = body.backward(gradLogits, batch: batch, rt: rt)
        return r
    }

    static func resnet(_ b: ArenaBuilder, _ s: ModelSpec, maxBatch: Int, threads: Int) -> Sequential {
        precondition(s.depth >= 8 && (s.depth - 2) % 6 == 0, "resnet depth must be 6n+2 (8, 14, 20, ...), got \(s.depth)")
        let blocks = (s.depth - 2) / 6
        var layers: [Layer] = []
        let stem = Conv2dLayer(b, name: "conv1", input: s.input, outChannels: s.width, kernel: 3, padding: 1,
                               maxBatch: maxBatch, threads: threads, needsInputGradient: false)
        layers.append(stem)
        layers.append(BatchNormLayer(b, name: "bn1", shape: stem.outputShape, fuseReLU: true, maxBatch: maxBatch))
        var shape = stem.outputShape
        for stage in 0..<3 {
            let channels = s.width << stage
            for i in 0..<blocks {
                let block = BasicBlock(b, name: "layer\(stage + 1).\(i)", input: shape, outChannels: channels,
                                       stride: (stage > 0 && i == 0) ? 2 : 1, maxBatch: maxBatch, threads: threads)
                layers.append(block)
                shape = block.outputShape
            }
        }
        layers.append(GlobalAvgPoolLayer(input: shape, maxBatch: maxBatch))
        layers.append(LinearLayer(b, name: "fc", input: FeatureShape(shape.channels, 1, 1),
                                  outFeatures: s.numClasses, maxBatch: maxBatch))
        return Sequential(layers)
    }

    static func cnn(_ b: ArenaBuilder, _ s: ModelSpec, maxBatch: Int, threads: Int) -> Sequential {
        var layers: [Layer] = []
        var shape = s.input
        let plan: [(channels: Int, poolAfter: Bool)] = [(s.width, false), (s.width, true),
                                                          (2 * s.width, false), (2 * s.width, true)]
        for (i, step) in plan.enumerated() {
            let conv = Conv2dLayer(b, name: "conv\(i + 1)", input: shape, outChannels: step.channels, kernel: 3,
                                   padding: 1, maxBatch: maxBatch, threads: threads, needsInputGradient: i > 0)
            layers.append(conv)
            layers.append(BatchNormLayer(b, name: "bn\(i + 1)", shape: conv.outputShape, fuseReLU: true,
                                         maxBatch: maxBatch))
            shape = conv.outputShape
            if step.poolAfter {
                let p = MaxPoolLayer(input: shape, kernel: 2, stride: 2, maxBatch: maxBatch)
                layers.append(p)
                shape = p.outputShape
            }
        }
        layers.append(GlobalAvgPoolLayer(input: shape, maxBatch: maxBatch))
        layers.append(LinearLayer(b, name: "fc", input: FeatureShape(shape.channels, 1, 1),
                                  outFeatures: s.numClasses, maxBatch: maxBatch))
        return Sequential(layers)
    }
}
