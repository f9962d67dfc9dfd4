import Foundation
import XCTest
@testable import Checkpoint

/// Figures, not checks: run with GDQR_BENCH=1 (skipped otherwise).
///   GDQR_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter CheckpointFileTestsBench
final class CheckpointFileTestsBench: XCTestCase {
    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Best of `reps` runs, seconds.
    func time(_ reps: Int = 3, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<reps { let t = now(); try body(); best = min(best, now() - t) }
        return best
    }

    func data(_ kind: String, n: Int) -> [Float] {
        var rng = TestRNG(s: 77)
        var out = [Float](repeating: 0, count: n)
        var i = 0
        while i < n {
            // Tensors of 2^10..2^17 elements, each with its own scale (as layers have).
            let len = min(n - i, 1 << (10 + Int(rng.next() % 8)))
            let u = rng.uniform()
            switch kind {
            case "normal":      // fresh init: N(0, 0.05)
                for j in 0..<len { out[i + j] = rng.normal() * 0.05 }
            case "trained":     // Laplace, per-tensor scale log-uniform in [0.005, 0.2]
                let b = 0.005 * pow(40, u)
                for j in 0..<len { let v = rng.uniform() - 0.5; out[i + j] = -b * (v < 0 ? -1 : 1) * log(max(1 - 2 * abs(v), 1e-7)) }
            default:            // momentum: N(0, s), s log-uniform in [1e-5, 1e-2]
                let s = 1e-5 * pow(1000, u)
                for j in 0..<len { out[i + j] = rng.normal() * s }
            }
            i += len
        }
        return out
    }

    func testShuffleFigures() throws {
        guard ProcessInfo.processInfo.environment["GDQR_BENCH"] == "1" else { throw XCTSkip("set GDQR_BENCH=1") }
        let n = 4 << 20
        let mb = Double(4 * n) / 1e6
        var crcTime = 0.0
        for kind in ["normal", "trained", "momentum"] {
            let x = data(kind, n: n)
            crcTime = time { _ = x.withUnsafeBytes { CRC32C.checksum($0) } }
            for level in [1, 3] {
                for shuffle in [false, true] {
                    let c = CheckpointContents(run: CheckpointRunInfo(), sections: [CheckpointSection(name: kind, floats: x)])
                    var bytes = [UInt8]()
                    let tw = try time { bytes = try CheckpointFile.encode(c, level: level, shuffle: shuffle) }
                    var back: CheckpointContents?
                    let tr = try time { back = try bytes.withUnsafeBytes { try CheckpointFile.decode($0, name: "b").contents } }
                    XCTAssertEqual(back?.sections[0].floats.map(\.bitPattern), x.map(\.bitPattern))
                    print(String(format: "bench %-8@ level %d shuffle %-5@ ratio %.3f  write %6.0f MB/s  read %6.0f MB/s",
                                 kind as NSString, level, "\(shuffle)" as NSString, Double(4 * n) / Double(bytes.count), mb / tw, mb / tr))
                }
            }
        }
        print(String(format: "bench crc32c %.0f MB/s", mb / crcTime))
        let src = data("trained", n: n)
        var dst = [Float](repeating: 0, count: n)
        let tcopy = time { dst.withUnsafeMutableBufferPointer { d in src.withUnsafeBufferPointer { d.baseAddress!.update(from: $0.baseAddress!, count: n) } } }
        print(String(format: "bench snapshot memcpy %.0f MB/s (%.2f ms for 16 MB)", mb / tcopy, tcopy * 1e3))
    }
}
