// The fast integer engine's requantisation, 16 lanes at a time: the Int32
// accumulators as Float, and z → stored levels with exactly the reference path's
// operations (IntegerEngine.quantize: true division by the step, round half to
// even, clamp, plus the zero level of signed values), written as vector selects so
// that it stays in registers inside the conv epilogue (IntegerEngineFast.swift).

import IntegerSIMD

/// Float(acc), 16 lanes.
@inline(__always) func toFloat(_ p: UnsafePointer<Int32>) -> SIMD16<Float> {
    int32ToFloat(UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int32>.self))
}

/// z → clamp(round_half_even(z / step), −zero, maxLevel − zero) + zero as uint8, 16
/// lanes at a time (zero = 0 for unsigned values, L for signed ones); a step that is
/// not positive and finite gives the zero level (the reference's rule).
struct Requantizer {
    let step: SIMD16<Float>, top: SIMD16<Float>, bottom: SIMD16<Float>, zero: SIMD16<Float>, degenerate: Bool
    let zeroLevels: SIMD16<UInt8>

    init(_ y: IntegerValue) {
        step = SIMD16(repeating: y.step)
        top = SIMD16(repeating: Float(y.maxLevel - y.zeroLevel))
        bottom = SIMD16(repeating: -Float(y.zeroLevel))
        zero = SIMD16(repeating: Float(y.zeroLevel))
        zeroLevels = SIMD16(repeating: UInt8(y.zeroLevel))
        degenerate = IntegerEngine.degenerate(y)
    }

    /// `nonNegative`: z is known >= 0 (after a ReLU), the clamp at 0 is skipped.
    @inline(__always) func store(_ z: SIMD16<Float>, _ o: UnsafeMutablePointer<UInt8>, count: Int, nonNegative: Bool = false) {
        var levels = zeroLevels
        if !degenerate {
            // Clamps written as vector selects (lower to vmaxps / vminps; `clamped` and
            // scalar-replacement selects compile to per-lane loops).
            var v = (z / step).rounded(.toNearestOrEven)
            if !nonNegative { v = v.replacing(with: bottom, where: v .< bottom) }
            v = v.replacing(with: top, where: v .> top)
            levels = floatToLevels(v + zero)   // an integer in 0 ... maxLevel <= 255
        }
        if count >= 16 {
            UnsafeMutableRawPointer(o).storeBytes(of: levels, as: SIMD16<UInt8>.self)
        } else {
            for j in 0..<count { o[j] = levels[j] }
        }
    }
}
