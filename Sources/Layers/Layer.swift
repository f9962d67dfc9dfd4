// The layer contract: explicit forward and backward, no tape.
//
// A layer is built for a per-sample input shape and a maximum batch; it owns its
// output and input-gradient buffers (allocated once, at build time) and keeps
// what backward needs from forward (its input pointer, saved statistics). The
// returned pointers stay valid until the layer's next forward/backward call, so a
// training step allocates nothing. Parameter gradients are written (not added)
// into the arena's gradient buffer, each parameter being used once per step.

import TensorEngine

public struct FeatureShape: Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int
    public init(_ c: Int, _ h: Int, _ w: Int) { channels = c; height = h; width = w }
    public var count: Int { channels * height * width }
    public var description: String { "\(channels)x\(height)x\(width)" }
}

/// What every layer call needs besides its data: the arena and the threads.
public final class Runtime {
    public let arena: ParameterArena
    public let pool: ThreadPool?
    public var training: Bool = true
    /// The global training step, for quantizers with warm-up phases.
    public var step: Int = 0
    /// Called during backward with an offset into the gradient buffer: from there
    /// to the end, gradients are final (data parallelism starts their all-reduce
    /// while backward goes on).
    public var gradientsReady: ((Int) -> Void)?
    /// Set for synchronised batch norm: sums a buffer in place across ranks.
    public var syncBatchNorm: ChannelSumReducer?

    public init(arena: ParameterArena, pool: ThreadPool?) {
        self.arena = arena
        self.pool = pool
    }
}

public protocol Layer: AnyObject {
    var inputShape: FeatureShape { get }
    var outputShape: FeatureShape { get }
    /// Multiply-accumulates per sample of one forward pass (for banners and GFLOP/s).
    var macsPerSample: Int { get }
    func forward(_ x: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>
    /// Returns the gradient with respect to the input (nil when the layer was built
    /// without one, e.g. the first layer, whose input is data).
    func backward(_ dy: UnsafePointer<Float>, batch: Int, rt: Runtime) -> UnsafeMutablePointer<Float>?
}

/// A buffer for `maxBatch` samples of `shape`, zero-filled, owned for the layer's life.
final class BatchBuffer {
    let pointer: UnsafeMutablePointer<Float>
    init(_ shape: FeatureShape, maxBatch: Int) {
        let n = shape.count * maxBatch
        pointer = Tensor.allocate(n)
        pointer.initialize(repeating: 0, count: max(n, 1))
    }
    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
