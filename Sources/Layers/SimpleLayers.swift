// Pooling, linear and activation layers over the engine's kernels.

import TensorEngine

public final class MaxPoolLayer: Layer {
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    public let kernel: Int, stride: Int, padding: Int
    private let out: BatchBuffer
    private let gradIn: BatchBuffer
    private let indices: UnsafeMutablePointer<Int32>

    public init(input: FeatureShape, kernel: Int, stride: Int, padding: Int = 0, maxBatch: Int) {
        inputShape = input
        self.kernel = kernel; self.stride = stride; self.padding = padding
        outputShape = FeatureShape(input.channels,
                                   pool2dOutputSize(inputSize: input.height, kernel: kernel, stride: stride, padding: padding),
                                   pool2dOutputSize(inputSize: input.width, kernel: kernel, stride: stride, padding: padding))
        out = BatchBuffer(outputShape, maxBatch: maxBatch)
        gradIn = BatchBuffer(input, maxBatch: maxBatch)
        let n = outputShape.count * maxBatch
        indices = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
        indices.initialize(repeating: 0, count: max(n, 1))
    }

    deinit { indices.deallocate() }

    public var macsPerSample: Int { 0 }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        let s = inputShape
        maxPool2dForward(input: x, output: out.pointer, indices: indices, n: batch, c: s.channels, h: s.height,
                         w: s.width, kernel: kernel, stride: stride, padding: padding, pool: rt.pool)
        return out.pointer
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        let s = inputShape
        maxPool2dBackward(gradOutput: dy, indices: indices, gradInput: gradIn.pointer, n: batch, c: s.channels,
                          h: s.height, w: s.width, kernel: kernel, stride: stride, padding: padding, pool: rt.pool)
        return gradIn.pointer
    }
}

public final class GlobalAvgPoolLayer: Layer {
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { FeatureShape(inputShape.channels, 1, 1) }
    private let out: BatchBuffer
    private let gradIn: BatchBuffer

    public init(input: FeatureShape, maxBatch: Int) {
        inputShape = input
        out = BatchBuffer(FeatureShape(input.channels, 1, 1), maxBatch: maxBatch)
        gradIn = BatchBuffer(input, maxBatch: maxBatch)
    }

    public var macsPerSample: Int { 0 }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        let s = inputShape
        globalAvgPoolForward(input: x, output: out.pointer, n: batch, c: s.channels, h: s.height, w: s.width, pool: rt.pool)
        return out.pointer
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        let s = inputShape
        globalAvgPoolBackward(gradOutput: dy, gradInput: gradIn.pointer, n: batch, c: s.channels, h: s.height,
                              w: s.width, pool: rt.pool)
        return gradIn.pointer
    }
}

/// y = x W^T + b over the flattened input, W stored [out, in] as in PyTorch.
public final class LinearLayer: Layer {
    public let name: String
    public let position: LayerPosition
    public let inputShape: FeatureShape
    public let outputShape: FeatureShape
    public let weight: ParamRef
    public let bias: ParamRef
    private let out: BatchBuffer
    private let gradIn: BatchBuffer
    private var input: UnsafePointer<Float>?
    public var weightTransform: WeightTransform?

    public init(_ b: ArenaBuilder, name: String, input: FeatureShape, outFeatures: Int, maxBatch: Int,
                policy: QuantizationPolicy? = nil, position: LayerPosition = .last) {
        self.name = name
        self.position = position
        inputShape = input
        outputShape = FeatureShape(outFeatures, 1, 1)
        let fanIn = input.count
        weight = b.parameter("\(name).weight", shape: [outFeatures, fanIn], role: .weight, Init.uniformFanIn(fanIn))
        bias = b.parameter("\(name).bias", shape: [outFeatures], role: .bias, Init.uniformFanIn(fanIn))
        weightTransform = policy?.weightTransform(layer: name, weight: weight, builder: b, position: position)
        out = BatchBuffer(outputShape, maxBatch: maxBatch)
        gradIn = BatchBuffer(input, maxBatch: maxBatch)
    }

    public var macsPerSample: Int { inputShape.count * outputShape.channels }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        input = x
        weightTransform?.observeInput(x, batch: batch, layer: self)
        let w = weightTransform?.forward(rt.arena.value(weight), rt: rt) ?? UnsafePointer(rt.arena.value(weight))
        linearForward(input: x, weight: w, bias: rt.arena.value(bias), output: out.pointer, batch: batch,
                      inFeatures: inputShape.count, outFeatures: outputShape.channels, pool: rt.pool)
        return out.pointer
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        let w = weightTransform?.current ?? UnsafePointer(rt.arena.value(weight))
        let gw = weightTransform?.gradientBuffer ?? rt.arena.grad(weight)
        linearBackward(input: input!, weight: w, gradOutput: dy, gradInput: gradIn.pointer, gradWeight: gw,
                       gradBias: rt.arena.grad(bias), batch: batch, inFeatures: inputShape.count,
                       outFeatures: outputShape.channels, pool: rt.pool)
        weightTransform?.backward(into: rt.arena.grad(weight), rt: rt)
        return gradIn.pointer
    }
}

/// Layers applied one after another.
public final class Sequential: Layer {
    public let layers: [Layer]
    /// For each layer, the offset of its first parameter in the arena (parameters
    /// are registered in forward order), so that after its backward everything
    /// from there on is final. Empty when unknown.
    public var parameterStarts: [Int] = []

    public init(_ layers: [Layer]) {
        precondition(!layers.isEmpty, "Sequential: no layers")
        for (a, b) in zip(layers, layers.dropFirst()) {
            precondition(a.outputShape.count == b.inputShape.count,
                         "Sequential: \(a.outputShape) does not feed \(b.inputShape)")
        }
        self.layers = layers
    }
    public var inputShape: FeatureShape { layers.first!.inputShape }
    public var outputShape: FeatureShape { layers.last!.outputShape }
    public var macsPerSample: Int { layers.reduce(0) { $0 + $1.macsPerSample } }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        var h = x
        var i = 0
        while i < layers.count {
            // In evaluation a conv and the batch norm after it run as one pass.
            if let conv = layers[i] as? Conv2dLayer, i + 1 < layers.count, let bn = layers[i + 1] as? BatchNormLayer,
               let y = bn.fusedForward(after: conv, h, batch: batch, rt: rt) {
                h = UnsafePointer(y)
                i += 2
                continue
            }
            h = UnsafePointer(layers[i].forward(h, batch: batch, rt: rt))
            i += 1
        }
        return UnsafeMutablePointer(mutating: h)
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        var g = dy
        for (i, l) in layers.enumerated().reversed() {
            let next = l.backward(g, batch: batch, rt: rt)
            if let ready = rt.gradientsReady, i < parameterStarts.count { ready(parameterStarts[i]) }
            guard let next else { return nil }
            g = UnsafePointer(next)
        }
        return UnsafeMutablePointer(mutating: g)
    }
}

/// ReLU (after a Linear: batch norm fuses the ReLU after a conv) or ReLU6 = min(max(x, 0), 6),
/// MobileNetV2's activation.
public final class ActivationLayer: Layer {
    public enum Kind: Sendable { case relu, relu6 }
    public let kind: Kind
    public let inputShape: FeatureShape
    public var outputShape: FeatureShape { inputShape }
    public var macsPerSample: Int { 0 }
    private let out: BatchBuffer
    private let gradIn: BatchBuffer

    public init(_ kind: Kind, shape: FeatureShape, maxBatch: Int) {
        self.kind = kind
        inputShape = shape
        out = BatchBuffer(shape, maxBatch: maxBatch)
        gradIn = BatchBuffer(shape, maxBatch: maxBatch)
    }

    public func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float> {
        let count = batch * inputShape.count
        switch kind {
        case .relu: reluForward(input: x, output: out.pointer, count: count, pool: rt.pool)
        case .relu6: relu6Forward(input: x, output: out.pointer, count: count, pool: rt.pool)
        }
        return out.pointer
    }

    public func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>? {
        let count = batch * inputShape.count
        switch kind {
        case .relu: reluBackward(output: out.pointer, gradOutput: dy, gradInput: gradIn.pointer, count: count, pool: rt.pool)
        case .relu6: relu6Backward(output: out.pointer, gradOutput: dy, gradInput: gradIn.pointer, count: count, pool: rt.pool)
        }
        return gradIn.pointer
    }
}
