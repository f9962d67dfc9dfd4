// The one elementwise comparison every numeric test uses. It lives in Tests/Support
// and is symbolic-linked into each test target that compares numbers (SwiftPM test
// targets cannot share a module), so there is a single definition to read.
//
// Why it exists: the hand-written loops it replaces, `worst = max(worst, err)` and
// `if err > worst { ... }`, keep the old worst when err is NaN (every comparison with
// NaN is false), so a NaN gradient, parameter or statistic passed them. Here a NaN
// or infinity in either array fails whatever the tolerance, and so does a length
// mismatch.

import XCTest

/// What a comparison found: the worst |got - want|, the worst ratio to the tolerance
/// atol + rtol * |want| (1 = exactly at it) and where each was.
struct NumericComparison {
    var count = 0
    var worstDifference = 0.0
    var worstRatio = 0.0
    var worstIndex = -1
    /// First element where got or want is NaN or infinite.
    var firstNonFinite: Int? = nil

    var passed: Bool { firstNonFinite == nil && worstRatio <= 1 }
}

/// Compares elementwise without asserting (for callers that aggregate several arrays).
func compareElementwise<G: BinaryFloatingPoint, W: BinaryFloatingPoint>(
    _ got: some Collection<G>, _ want: some Collection<W>, atol: Double, rtol: Double = 0
) -> NumericComparison {
    var r = NumericComparison()
    for (i, (g, w)) in zip(got, want).enumerated() {
        r.count += 1
        let gd = Double(g), wd = Double(w)
        guard gd.isFinite, wd.isFinite else {
            if r.firstNonFinite == nil { r.firstNonFinite = i }
            continue
        }
        let diff = abs(gd - wd)
        let tol = atol + rtol * abs(wd)
        let ratio = diff == 0 ? 0 : diff / tol  // tol 0 and a difference: infinity, fails
        if diff > r.worstDifference { r.worstDifference = diff }
        if ratio > r.worstRatio || r.worstIndex < 0 { r.worstRatio = max(ratio, r.worstRatio); r.worstIndex = i }
    }
    return r
}

/// Asserts |got[i] - want[i]| <= atol + rtol * |want[i]| for every i, both arrays of the
/// same length and every element of both finite. Returns the comparison (its
/// worstDifference is what a test states its tolerance against).
@discardableResult
func assertAllClose<G: BinaryFloatingPoint, W: BinaryFloatingPoint>(
    _ got: some Collection<G>, _ want: some Collection<W>, atol: Double, rtol: Double = 0,
    _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line
) -> NumericComparison {
    let r = compareElementwise(got, want, atol: atol, rtol: rtol)
    if got.count != want.count {
        XCTFail("\(what()): \(got.count) values, expected \(want.count)", file: file, line: line)
    }
    func at(_ i: Int) -> String {
        let g = got[got.index(got.startIndex, offsetBy: i)], w = want[want.index(want.startIndex, offsetBy: i)]
        return "element \(i) is \(g), expected \(w)"
    }
    if let i = r.firstNonFinite {
        XCTFail("\(what()): non-finite value: \(at(i))", file: file, line: line)
    } else if r.worstRatio > 1 {
        XCTFail("\(what()): \(at(r.worstIndex)) (tolerance \(atol) + \(rtol) x |expected|; "
                + "\(r.worstRatio) times it)", file: file, line: line)
    }
    return r
}
