// The fast engine's vector requantizer against the reference path's scalar rule,
// IntegerEngine.quantize (true division, round half to even, clamp, zero level): equal
// levels in every lane for products of the step and half-integers, nudged by 1e-7 to
// 3e-4, exact ties of power-of-two steps, values past the clamp and random ones, for
// 4- and 8-bit, signed and unsigned values, with and without the ReLU shortcut
// (nonNegative). A multiply by 1/step in place of the division, with a fallback to it
// within 2^-12 of a tie, passed this test but measured no faster on Zen 3 (10
// interleaved pairs, median 0.98x), so the division stayed.
import XCTest
@testable import IntegerInference

final class RequantizerTests: XCTestCase {
    func testMatchesTheDivisionNearTiesAndElsewhere() {
        var g = seededGenerator()
        var checked = 0
        for bits in [4, 8] {
            for signed in [false, true] {
                for threshold: Float in [0.1, 0.7, 1.0, 2.9, 3.3, 4.0, 6.0, 11.3] {
                    let y = IntegerValue(name: "y", kind: .integer, channels: 16, height: 1, width: 1,
                                         bits: bits, threshold: threshold, signed: signed)
                    let q = Requantizer(y)
                    var zs: [Float] = []
                    let levels = Float(y.maxLevel)
                    for k in stride(from: -levels - 2, through: levels + 2, by: 1) {
                        for nudge: Float in [0, 1e-7, -1e-7, 1e-6, -1e-6, 1e-5, -1e-5, 1e-4, -1e-4, 3e-4, -3e-4] {
                            zs.append((k + 0.5 + nudge) * y.step)
                        }
                    }
                    zs += [1e6, -1e6, 600 * y.step, -600 * y.step, 0, -0.0]
                    for _ in 0..<2000 { zs.append(Float.random(in: -1.2 * levels ... 1.2 * levels, using: &g) * y.step) }
                    while zs.count % 16 != 0 { zs.append(0) }
                    for nonNegative in [false, true] {
                        for start in stride(from: 0, to: zs.count, by: 16) {
                            var z = SIMD16<Float>()
                            for j in 0..<16 { z[j] = nonNegative ? abs(zs[start + j]) : zs[start + j] }
                            var out = [UInt8](repeating: 0, count: 16)
                            out.withUnsafeMutableBufferPointer { q.store(z, $0.baseAddress!, count: 16, nonNegative: nonNegative) }
                            for j in 0..<16 {
                                let expected = IntegerEngine.quantize(z[j], y)
                                if out[j] != expected {
                                    XCTFail("bits \(bits) signed \(signed) threshold \(threshold): z \(z[j]) (z/step "
                                            + "\(z[j] / y.step)) gave level \(out[j]), the division \(expected)")
                                }
                                checked += 1
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 100_000)
    }

    /// A step that is not positive and finite stores the zero level, as the reference.
    func testDegenerateStepGivesTheZeroLevel() {
        let y = IntegerValue(name: "y", kind: .integer, channels: 16, height: 1, width: 1, bits: 4, threshold: 0, signed: true)
        var out = [UInt8](repeating: 0, count: 16)
        out.withUnsafeMutableBufferPointer { Requantizer(y).store(SIMD16<Float>(repeating: 3), $0.baseAddress!, count: 16) }
        XCTAssertEqual(out, [UInt8](repeating: UInt8(y.zeroLevel), count: 16))
    }
}
