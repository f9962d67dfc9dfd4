import XCTest
@testable import TensorEngine

/// The blend-based SIMD helpers against Swift's scalar abs / min / max, lane by
/// lane, on ordinary values and the special ones (signed zeros, infinities, NaN,
/// subnormals).
final class SIMDFloatOpsTests: XCTestCase {
    private let specials: [Float] = [0, -0.0, 1, -1, .infinity, -.infinity, .nan, .leastNonzeroMagnitude,
                                     -.leastNormalMagnitude, .greatestFiniteMagnitude, -2.5, 3.75]

    private func vectors() -> [SIMD16<Float>] {
        var rng = CounterRNG(seed: 7, stream: 0)
        var out: [SIMD16<Float>] = []
        for r in 0..<24 {
            var v = SIMD16<Float>()
            for l in 0..<16 {
                v[l] = r % 2 == 0 ? specials[(r * 5 + l * 3) % specials.count] : (rng.nextUniform() - 0.5) * 8
            }
            out.append(v)
        }
        return out
    }

    private func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    func testAbsMatchesScalarBitForBit() {
        for v in vectors() {
            let r = simdAbs(v)
            for l in 0..<16 { XCTAssertTrue(same(r[l], abs(v[l])) || (v[l].isNaN && r[l].isNaN), "lane \(l): \(v[l])") }
        }
    }

    func testMinMaxClampMatchScalar() {
        let vs = vectors()
        for (i, a) in vs.enumerated() {
            let b = vs[(i + 7) % vs.count]
            let mx = simdMax(a, b), mn = simdMin(a, b)
            let lo = SIMD16<Float>(repeating: -1.5), hi = SIMD16<Float>(repeating: 2)
            let c = simdClamp(a, lo, hi)
            for l in 0..<16 {
                // Swift.max(a, b) is `b >= a ? b : a`: the operands' order matters only for
                // equal values of different sign (±0) and NaN; ours keep `a` in those cases.
                if !(a[l] == b[l] || a[l].isNaN || b[l].isNaN) {
                    XCTAssertEqual(mx[l], max(a[l], b[l]), "max lane \(l): \(a[l]), \(b[l])")
                    XCTAssertEqual(mn[l], min(a[l], b[l]), "min lane \(l): \(a[l]), \(b[l])")
                }
                if b[l].isNaN { XCTAssertTrue(same(mx[l], a[l]) && same(mn[l], a[l]), "NaN second operand keeps a") }
                XCTAssertTrue(same(c[l], min(max(a[l], -1.5), 2)), "clamp lane \(l): \(a[l]) -> \(c[l])")
            }
        }
    }

    /// The tree order written out in scalar, bit for bit; and close to the Double
    /// sum; integers (exact in Float) sum exactly.
    func testSumIsTheDocumentedTree() {
        for v in vectors() where !v.indices.contains(where: { !v[$0].isFinite || abs(v[$0]) > 1e30 }) {
            var a = [Float](repeating: 0, count: 8)
            for l in 0..<8 { a[l] = v[l] + v[l + 8] }
            var b = [Float](repeating: 0, count: 4)
            for l in 0..<4 { b[l] = a[l] + a[l + 4] }
            let tree = (b[0] + b[2]) + (b[1] + b[3])
            XCTAssertEqual(simdSum(v).bitPattern, tree.bitPattern, "\(v)")
            let exact = (0..<16).reduce(0.0) { $0 + Double(v[$1]) }
            XCTAssertEqual(Double(simdSum(v)), exact, accuracy: 1e-5 * max(1, (0..<16).reduce(0.0) { $0 + abs(Double(v[$1])) }))
        }
        let ints = SIMD16<Float>((0..<16).map { Float($0 * 3 - 20) })
        XCTAssertEqual(simdSum(ints), Float((0..<16).reduce(0) { $0 + $1 * 3 - 20 }))
    }
}
