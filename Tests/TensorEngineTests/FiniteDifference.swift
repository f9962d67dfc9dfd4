// Central finite differences for gradient checks of any kernel.
//
// The scalar loss is L = sum_i output[i] * probe[i] with fixed random probe
// weights, so dL/d(output) = probe: feed `probe` as gradOutput to the backward
// kernel under test and compare its result with `FiniteDifference.gradient`.
//
// Usage: keep the inputs in buffers the forward closure reads (Double buffers
// for a Double reference forward, or Float ones), then
//   let numeric = FiniteDifference.gradient(of: xPtr, count: n, probe: r) { forwardOutputs() }
// The helper perturbs xPtr[i] by +-step, re-runs the closure and restores the
// value exactly.

import XCTest
@testable import TensorEngine

enum FiniteDifference {
    /// Deterministic probe weights in [-1, 1) defining L = sum(output * probe).
    static func probe(count: Int, seed: UInt64) -> [Double] {
        var rng = CounterRNG(seed: seed, stream: 0xFD)
        return (0..<count).map { _ in Double(rng.nextUniform()) * 2 - 1 }
    }

    /// L = sum(output * probe), in Double.
    static func loss<T: BinaryFloatingPoint>(_ output: [T], probe: [Double]) -> Double {
        precondition(output.count == probe.count, "FiniteDifference: \(output.count) outputs, \(probe.count) probes")
        var s = 0.0
        for i in 0..<output.count { s += Double(output[i]) * probe[i] }
        return s
    }

    /// dL/dx[i] ~ (L(x + h e_i) - L(x - h e_i)) / 2h for every i in 0..<count, where `forward`
    /// recomputes the outputs from the current contents of `x` (and whatever else it reads).
    /// `step` defaults to 1e-4 for Double buffers, 1e-2 for Float ones.
    static func gradient<T: BinaryFloatingPoint>(of x: UnsafeMutablePointer<T>, count: Int, probe: [Double],
                                                 step: Double? = nil, forward: () -> [T]) -> [Double] {
        let h = T(step ?? (T.significandBitCount > 30 ? 1e-4 : 1e-2))
        var grad = [Double](repeating: 0, count: count)
        for i in 0..<count {
            let saved = x[i]
            x[i] = saved + h
            let up = loss(forward(), probe: probe)
            let hUp = Double(x[i]) - Double(saved)  // the step actually taken after rounding
            x[i] = saved - h
            let down = loss(forward(), probe: probe)
            let hDown = Double(saved) - Double(x[i])
            x[i] = saved
            grad[i] = (up - down) / (hUp + hDown)
        }
        return grad
    }

    /// Asserts |a - n| <= absTol + relTol * |n| elementwise, every value finite; reports the worst element.
    static func assertClose(_ analytic: [Double], _ numeric: [Double], absTol: Double, relTol: Double,
                            _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        // NaN-aware (NumericAssertions.swift): a NaN analytic gradient fails.
        assertAllClose(analytic, numeric, atol: absTol, rtol: relTol, "\(message) (analytic vs numeric)",
                       file: file, line: line)
    }
}
