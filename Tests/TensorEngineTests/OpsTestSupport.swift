// Helpers for the kernel tests: random data from CounterRNG, closeness
// assertions against Double references, and central finite differences in
// Double (named ops* so they do not clash with other test helpers).

import XCTest
@testable import TensorEngine

/// Odd sizes used for element, channel and spatial counts.
let opsOddSizes = [1, 3, 7, 17, 65, 129]

/// Process-wide pools for the multi-threaded and determinism tests.
let opsPool2 = ThreadPool(threads: 2)
let opsPool3 = ThreadPool(threads: 3)

/// `count` uniform values in [lo, hi) drawn from CounterRNG(seed, stream).
func opsRandom(_ count: Int, seed: UInt64, stream: UInt64 = 0, lo: Float = -1, hi: Float = 1) -> [Float] {
    var rng = CounterRNG(seed: seed, stream: stream)
    return (0..<count).map { _ in lo + (hi - lo) * rng.nextUniform() }
}

func opsD(_ a: [Float]) -> [Double] { a.map(Double.init) }

/// A tensor holding `values` (its .data is the raw pointer handed to kernels).
func opsTensor(_ values: [Float]) -> Tensor { Tensor(shape: [values.count], values: values) }

/// An uninitialised-looking (NaN-filled) output buffer, to prove kernels overwrite.
func opsNaNTensor(_ count: Int) -> Tensor {
    let t = Tensor(shape: [count]); t.fill(.nan); return t
}

/// Asserts |got - want| <= atol + rtol * |want| elementwise, every value finite (NumericAssertions.swift).
func opsAssertClose(_ got: [Float], _ want: [Double], rtol: Double, atol: Double, _ message: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    assertAllClose(got, want, atol: atol, rtol: rtol, message, file: file, line: line)
}

/// Central finite differences of f at x, in Double: (f(x + h e_i) - f(x - h e_i)) / 2h.
func opsNumericGradient(_ x: [Double], step: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    var g = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let saved = x[i]
        x[i] = saved + step; let fp = f(x)
        x[i] = saved - step; let fm = f(x)
        x[i] = saved
        g[i] = (fp - fm) / (2 * step)
    }
    return g
}

/// sum(y * weights): the scalar loss whose gradient w.r.t. y is `weights`.
func opsWeightedSum(_ y: [Double], _ weights: [Double]) -> Double {
    var s = 0.0
    for i in 0..<y.count { s += y[i] * weights[i] }
    return s
}

func opsBits(_ t: Tensor) -> [UInt32] { t.array.map(\.bitPattern) }
