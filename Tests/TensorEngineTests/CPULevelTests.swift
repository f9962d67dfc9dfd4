// The kernel levels: every level this CPU supports computes GEMM (blocked, in-place B,
// dot-product path, edge tiles) within the reference's tolerance and bit-identical to
// the v3 kernels (same k order and reduction tree on every level); forcing a level
// the CPU lacks, or an unknown one, fails with a message naming what is missing.
import XCTest
@testable import TensorEngine

// The GEMM cases reuse GemmTests.check, so these tests extend GemmTests.
extension GemmTests {
    /// Levels this CPU can run, lowest first.
    var supported: [CPULevel] {
        defer { try? CPULevel.force("auto") }
        return [CPULevel.v3, .v3VNNI, .v4, .v4VNNI].filter { (try? CPULevel.force($0.description)) != nil }
    }

    func results(on level: CPULevel) throws -> [[UInt32]] {
        try CPULevel.force(level.description)
        defer { try? CPULevel.force("auto") }
        XCTAssertEqual(CPULevel.current, level)
        var out: [[UInt32]] = []
        let cases = [
            Case(transA: false, transB: false, m: 37, n: 71, k: 300, alpha: 1, beta: 0, pad: 1),
            Case(transA: true, transB: false, m: 129, n: 300, k: 517, alpha: 0.7, beta: 0.3, pad: 1),
            Case(transA: false, transB: true, m: 200, n: 45, k: 64, alpha: -1, beta: 1, pad: 0),
            Case(transA: true, transB: true, m: 9, n: 33, k: 5, alpha: 2, beta: 0.5, pad: 3),
            Case(transA: false, transB: true, m: 21, n: 33, k: 1000, alpha: 1.25, beta: 0.5, pad: 2),
        ]
        for t in cases {
            out.append(check(t, pool: nil).map(\.bitPattern))
            out.append(check(t, pool: GemmTests.pool2).map(\.bitPattern))
        }
        return out
    }

    func testEverySupportedLevelMatchesReferenceAndV3Bits() throws {
        let v3 = try results(on: .v3)
        for level in supported.dropFirst() {
            XCTAssertEqual(try results(on: level), v3, "level \(level) differs from v3")
        }
    }

    func testForcingAMissingOrUnknownLevelSaysWhy() {
        XCTAssertThrowsError(try CPULevel.force("v9")) { error in
            XCTAssertEqual("\(error)", "unknown ISA level 'v9' (expected auto, v3, v3-vnni, v4 or v4-vnni)")
        }
        XCTAssertEqual(CPULevel.current, CPULevel.best, "a refused level must leave the level unchanged")
        if CPULevel.best == .v3 {
            XCTAssertThrowsError(try CPULevel.force("v4")) { error in
                XCTAssertTrue("\(error)".hasPrefix("ISA level v4 needs CPU features this CPU lacks: avx512f"), "\(error)")
            }
        }
    }

    func testKernelNamesFollowTheLevel() {
        XCTAssertTrue(CPULevel.v3.kernels["gemm"]!.hasPrefix("v3"))
        XCTAssertTrue(CPULevel.v4.kernels["gemm"]!.hasPrefix("v4"))
        XCTAssertTrue(CPULevel.v4VNNI.kernels["integer_dot"]!.contains("vnni"))
        XCTAssertTrue(CPULevel.cpuFeatures.contains("avx2"), "the test machine runs x86-64-v3 at least")
    }
}
