import Foundation

// Counter-based random numbers: every value is a pure function of
// (seed, stream, counter), so a sample's augmentation or a layer's
// initialisation does not depend on which rank or thread draws it, or on what
// was drawn before. The mixer is SplitMix64's finaliser applied to a key built
// from the three inputs; it passes BigCrush as a generator over a counter.

public struct CounterRNG {
    public let seed: UInt64
    public let stream: UInt64
    public var counter: UInt64

    public init(seed: UInt64, stream: UInt64, counter: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
        self.counter = counter
    }

    @inline(__always)
    public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The value at (seed, stream, counter), independent of any state.
    @inline(__always)
    public static func value(seed: UInt64, stream: UInt64, counter: UInt64) -> UInt64 {
        mix(mix(mix(seed) ^ stream) ^ counter)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let v = CounterRNG.value(seed: seed, stream: stream, counter: counter)
        counter &+= 1
        return v
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    @inline(__always)
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform integer in 0..<bound (bound > 0), by multiply-shift (bias < 2^-32 for small bounds).
    @inline(__always)
    public mutating func nextInt(below bound: Int) -> Int {
        Int((UInt64(UInt32(truncatingIfNeeded: next() >> 32)) &* UInt64(bound)) >> 32)
    }

    /// Standard normal by Box-Muller (one value per call, for determinism of the count).
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1p-53, 0x1p-60)
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// A Fisher-Yates permutation of 0..<n drawn from this generator.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            p.swapAt(i, j)
        }
        return p
    }
}

@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
