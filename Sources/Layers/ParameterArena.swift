// The one arena of DESIGN.md: every trainable parameter in one contiguous Float
// buffer, gradients and momentum in parallel buffers of the same layout, and the
// running statistics (batch norm, Scale-Clip thresholds) in a fourth. Layers hold
// views (offset, shape). All-reduce, checkpoint, broadcast and checksum are then
// loops over a few flat buffers, and gradient buckets are contiguous slices.
//
// Layers register what they need while the model is built (ArenaBuilder), then the
// arena allocates everything at once; registration order is the memory order, and
// the model registers layers in forward order so that the LAST layers' gradients,
// which backward finishes first, sit at the END of the buffer.

import TensorEngine

public enum ParameterRole: String, Codable, Sendable {
    case weight        // conv/linear weights: weight decay applies
    case bias          // biases: no decay by default
    case normScale     // BN gamma: no decay by default
    case normShift     // BN beta: no decay by default
    case quantScale    // learned quantizer parameters (Scale-Clip k): no decay
}

public struct ParamRef: Sendable {
    public let index: Int
    public let offset: Int
    public let count: Int
    public let shape: [Int]
}

public struct ArenaEntry: Sendable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let count: Int
    public let role: ParameterRole?   // nil for statistics
}

public final class ArenaBuilder {
    fileprivate(set) var params: [ArenaEntry] = []
    fileprivate(set) var stats: [ArenaEntry] = []
    fileprivate var paramInit: [(inout CounterRNG, UnsafeMutablePointer<Float>) -> Void] = []
    fileprivate var statInit: [Float] = []
    private var names = Set<String>()

    public init() {}

    /// Where the next registered parameter will start in the parameter buffer.
    public var nextParameterOffset: Int { params.last.map { $0.offset + $0.count } ?? 0 }

    /// Registers a trainable parameter; `initialize` fills it from a generator
    /// keyed by the parameter's index, so initialisation is independent of order of use.
    public func parameter(_ name: String, shape: [Int], role: ParameterRole,
                          initialize: @escaping (inout CounterRNG, UnsafeMutablePointer<Float>) -> Void) -> ParamRef {
        precondition(names.insert(name).inserted, "ArenaBuilder: duplicate parameter name \(name)")
        let count = shape.reduce(1, *)
        let offset = params.last.map { $0.offset + $0.count } ?? 0
        params.append(ArenaEntry(name: name, shape: shape, offset: offset, count: count, role: role))
        paramInit.append(initialize)
        return ParamRef(index: params.count - 1, offset: offset, count: count, shape: shape)
    }

    /// Registers running statistics (not trained, averaged across ranks, checkpointed).
    public func statistic(_ name: String, shape: [Int], initialValue: Float) -> ParamRef {
        precondition(names.insert(name).inserted, "ArenaBuilder: duplicate statistic name \(name)")
        let count = shape.reduce(1, *)
        let offset = stats.last.map { $0.offset + $0.count } ?? 0
        stats.append(ArenaEntry(name: name, shape: shape, offset: offset, count: count, role: nil))
        statInit.append(initialValue)
        return ParamRef(index: stats.count - 1, offset: offset, count: count, shape: shape)
    }
}

public final class ParameterArena {
    public let params: [ArenaEntry]
    public let stats: [ArenaEntry]
    public let parameterCount: Int
    public let statisticCount: Int
    public let values: UnsafeMutablePointer<Float>
    public let grads: UnsafeMutablePointer<Float>
    public let momentum: UnsafeMutablePointer<Float>
    public let statistics: UnsafeMutablePointer<Float>

    /// Allocates the four buffers and initialises parameters from `seed`.
    public init(_ builder: ArenaBuilder, seed: UInt64) {
        params = builder.params
        stats = builder.stats
        parameterCount = params.last.map { $0.offset + $0.count } ?? 0
        statisticCount = stats.last.map { $0.offset + $0.count } ?? 0
        values = Tensor.allocate(parameterCount)
        grads = Tensor.allocate(parameterCount)
        momentum = Tensor.allocate(parameterCount)
        statistics = Tensor.allocate(statisticCount)
        values.initialize(repeating: 0, count: parameterCount)
        grads.initialize(repeating: 0, count: parameterCount)
        momentum.initialize(repeating: 0, count: parameterCount)
        for (i, e) in params.enumerated() {
            var rng = CounterRNG(seed: seed, stream: 0x7061_7261_6D00 &+ UInt64(i))
            builder.paramInit[i](&rng, values + e.offset)
        }
        for (i, e) in stats.enumerated() {
            (statistics + e.offset).initialize(repeating: builder.statInit[i], count: e.count)
        }
    }

    deinit {
        for p in [values, grads, momentum, statistics] { UnsafeMutableRawPointer(p).deallocate() }
    }

    @inline(__always) public func value(_ r: ParamRef) -> UnsafeMutablePointer<Float> { values + r.offset }
    @inline(__always) public func grad(_ r: ParamRef) -> UnsafeMutablePointer<Float> { grads + r.offset }
    @inline(__always) public func stat(_ r: ParamRef) -> UnsafeMutablePointer<Float> { statistics + r.offset }

    public func paramEntry(named name: String) -> ArenaEntry? { params.first { $0.name == name } }
    public func statEntry(named name: String) -> ArenaEntry? { stats.first { $0.name == name } }

    /// Copies every parameter and statistic that `other` has under the same name
    /// and shape (an FP32 model's weights into its quantized twin); returns how many.
    @discardableResult
    public func copyMatching(from other: ParameterArena) -> Int {
        var copied = 0
        let theirs = Dictionary(other.namedTensors.map { ($0.entry.name, $0) }, uniquingKeysWith: { a, _ in a })
        for mine in namedTensors {
            guard let t = theirs[mine.entry.name], t.entry.shape == mine.entry.shape else { continue }
            mine.pointer.update(from: t.pointer, count: mine.entry.count)
            copied += 1
        }
        return copied
    }

    /// Every named tensor (parameters, then statistics) with a pointer to its values.
    public var namedTensors: [(entry: ArenaEntry, pointer: UnsafeMutablePointer<Float>)] {
        params.map { ($0, values + $0.offset) } + stats.map { ($0, statistics + $0.offset) }
    }
}

/// Initialisers shared by the layers.
public enum Init {
    /// Kaiming-normal with fan-out, as torchvision's ResNets use for convolutions.
    public static func kaimingNormal(fan: Int) -> (inout CounterRNG, UnsafeMutablePointer<Float>, Int) -> Void {
        let std = (2.0 / Float(fan)).squareRoot()
        return { rng, p, n in for i in 0..<n { p[i] = rng.nextNormal() * std } }
    }

    /// Uniform(-b, b) with b = 1/sqrt(fan_in), PyTorch's default for Linear.
    public static func uniformFanIn(_ fanIn: Int) -> (inout CounterRNG, UnsafeMutablePointer<Float>, Int) -> Void {
        let bound = 1 / Float(fanIn).squareRoot()
        return { rng, p, n in for i in 0..<n { p[i] = (rng.nextUniform() * 2 - 1) * bound } }
    }

    public static func constant(_ v: Float) -> (inout CounterRNG, UnsafeMutablePointer<Float>, Int) -> Void {
        return { _, p, n in p.update(repeating: v, count: n) }
    }
}

extension ArenaBuilder {
    /// Convenience: register with one of the `Init` initialisers.
    public func parameter(_ name: String, shape: [Int], role: ParameterRole,
                          _ fill: @escaping (inout CounterRNG, UnsafeMutablePointer<Float>, Int) -> Void) -> ParamRef {
        let n = shape.reduce(1, *)
        return parameter(name, shape: shape, role: role, initialize: { rng, p in fill(&rng, p, n) })
    }
}
