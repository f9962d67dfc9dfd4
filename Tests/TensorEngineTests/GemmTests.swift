import XCTest
@testable import TensorEngine

final class GemmTests: XCTestCase {
    static let pool2 = ThreadPool(threads: 2)
    static let pool3 = ThreadPool(threads: 3)

    /// Deterministic pseudo-random values in [-1, 1).
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
        return (0..<count).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    struct Case {
        var transA: Bool, transB: Bool, m: Int, n: Int, k: Int
        var alpha: Float, beta: Float, pad: Int
    }

    /// Runs gemm and gemmReference on the same inputs; returns gemm's C.
    @discardableResult
    func check(_ t: Case, pool: ThreadPool?, nanC: Bool = false, file: StaticString = #filePath,
               line: UInt = #line) -> [Float] {
        let rowsA = t.transA ? t.k : t.m, colsA = t.transA ? t.m : t.k
        let rowsB = t.transB ? t.n : t.k, colsB = t.transB ? t.k : t.n
        let lda = colsA + t.pad, ldb = colsB + t.pad * 2, ldc = t.n + t.pad + 1
        let a = values(max(1, rowsA * lda), seed: UInt64(t.m * 31 + t.k))
        let b = values(max(1, rowsB * ldb), seed: UInt64(t.n * 17 + t.k + 5))
        var c0 = values(max(1, t.m * ldc), seed: 99)
        if nanC { c0 = [Float](repeating: .nan, count: c0.count) }
        var got = c0, want = c0
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
            got.withUnsafeMutableBufferPointer { cp in
                gemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                     a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb, beta: t.beta,
                     c: cp.baseAddress!, ldc: ldc, pool: pool)
            }
            want.withUnsafeMutableBufferPointer { cp in
                gemmReference(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                              a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb, beta: t.beta,
                              c: cp.baseAddress!, ldc: ldc)
            }
        } }
        let tol = Float(1e-5) * Float(max(1, t.k)) * (abs(t.alpha) + abs(t.beta) + 1)
        var bad = 0
        for i in 0..<t.m {
            for j in 0..<ldc {
                let g = got[i * ldc + j], w = want[i * ldc + j]
                if j >= t.n {  // padding past n must be untouched
                    if g.bitPattern != c0[i * ldc + j].bitPattern { bad += 1 }
                    continue
                }
                if !(abs(g - w) <= tol * max(1, abs(w))) {
                    if bad < 3 { XCTFail("\(t) at (\(i),\(j)): \(g) vs \(w)", file: file, line: line) }
                    bad += 1
                }
            }
        }
        XCTAssertEqual(bad, 0, "\(t) pool \(pool?.threads ?? 1)", file: file, line: line)
        return got
    }

    func testOddShapesAllTransposes() {
        let dims = [1, 3, 7, 17, 65, 129]
        var idx = 0
        for transA in [false, true] { for transB in [false, true] {
            for m in dims { for n in dims {
                for k in [1, 7, 65, 129] {
                    idx += 1
                    // Rotate alpha/beta/pad/pool so every combination is met without N^4 runs.
                    let alpha: Float = [1, 0.5, -2][idx % 3]
                    let beta: Float = [0, 1, 0.75, -1.5][idx % 4]
                    let pool: ThreadPool? = [nil, GemmTests.pool2, GemmTests.pool3][idx % 3]
                    check(Case(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
                               pad: idx % 5), pool: pool)
                }
            } }
        } }
    }

    func testLargerShapesAllPools() {
        for transA in [false, true] { for transB in [false, true] {
            for pool in [nil, GemmTests.pool2, GemmTests.pool3] {
                check(Case(transA: transA, transB: transB, m: 300, n: 257, k: 131, alpha: 1, beta: 0.5, pad: 3),
                      pool: pool)
            }
            // k beyond one KC block, m beyond one MC block, n beyond one NC block.
            check(Case(transA: transA, transB: transB, m: 133, n: 1090, k: 600, alpha: -0.5, beta: 1, pad: 1),
                  pool: GemmTests.pool2)
        } }
    }

    func testConvolutionShapes() {
        // Forward (A.B), backward data (A^T.B), backward weights (A.B^T) at per-image sizes.
        for (cout, hw, cin9) in [(16, 784, 144), (32, 196, 288), (64, 49, 576)] {
            check(Case(transA: false, transB: false, m: cout, n: hw, k: cin9, alpha: 1, beta: 0, pad: 0), pool: nil)
            check(Case(transA: true, transB: false, m: cin9, n: hw, k: cout, alpha: 1, beta: 0, pad: 0), pool: nil)
            check(Case(transA: false, transB: true, m: cout, n: cin9, k: hw, alpha: 1, beta: 1, pad: 0), pool: nil)
        }
    }

    func testBetaZeroIgnoresNaN() {
        for transA in [false, true] { for transB in [false, true] {
            for (m, n, k) in [(1, 1, 1), (7, 33, 17), (65, 129, 300)] {
                for pool in [nil, GemmTests.pool2] {
                    check(Case(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1.5, beta: 0, pad: 2),
                          pool: pool, nanC: true)
                }
            }
        } }
    }

    func testKZeroScalesC() {
        for beta: Float in [0, 1, -0.5] {
            for pool in [nil, GemmTests.pool2] {
                check(Case(transA: false, transB: true, m: 17, n: 65, k: 0, alpha: 1, beta: beta, pad: 1), pool: pool)
            }
        }
        check(Case(transA: true, transB: false, m: 3, n: 7, k: 0, alpha: 1, beta: 0, pad: 0), pool: nil, nanC: true)
    }

    func testDotPathAllPools() {
        // A.B^T with few rows and long k takes the dot-product path; edges in m, n and k.
        for (m, n, k) in [(16, 144, 784), (7, 50, 401), (21, 33, 1000)] {
            let t = Case(transA: false, transB: true, m: m, n: n, k: k, alpha: 1.25, beta: 0.5, pad: 2)
            let s = check(t, pool: nil), p2 = check(t, pool: GemmTests.pool2), p3 = check(t, pool: GemmTests.pool3)
            XCTAssertEqual(s.map(\.bitPattern), p2.map(\.bitPattern))
            XCTAssertEqual(s.map(\.bitPattern), p3.map(\.bitPattern))
            var z = t; z.beta = 0
            check(z, pool: nil, nanC: true)
        }
    }

    func testDeterministic() {
        for transA in [false, true] { for transB in [false, true] {
            let t = Case(transA: transA, transB: transB, m: 129, n: 300, k: 517, alpha: 0.7, beta: 0.3, pad: 1)
            let s1 = check(t, pool: nil), s2 = check(t, pool: nil)
            let p1 = check(t, pool: GemmTests.pool2), p2 = check(t, pool: GemmTests.pool2)
            let p3 = check(t, pool: GemmTests.pool3)
            XCTAssertEqual(s1.map(\.bitPattern), s2.map(\.bitPattern))
            XCTAssertEqual(p1.map(\.bitPattern), p2.map(\.bitPattern))
            // The split never changes an element's k order, so any thread count agrees.
            XCTAssertEqual(s1.map(\.bitPattern), p1.map(\.bitPattern))
            XCTAssertEqual(s1.map(\.bitPattern), p3.map(\.bitPattern))
        } }
    }
}
