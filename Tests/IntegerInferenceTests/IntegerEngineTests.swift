// The integer engine's kernels: int4 packing, the Int32 GEMM and im2col conv
// against float references (exact).
import XCTest
import TensorEngine
@testable import IntegerInference

final class IntegerEngineTests: XCTestCase {
    func testInt4PackRoundTrip() {
        var rng = seededGenerator()
        for lo in [Int8(-7), Int8(-8)] {
            for count in [0, 1, 2, 3, 15, 16, 17, 1001] {
                let v = (0..<count).map { _ in Int8.random(in: lo...7, using: &rng) }
                let packed = Int4Packing.pack(v)
                XCTAssertEqual(packed.count, (count + 1) / 2)
                XCTAssertEqual(Int4Packing.unpack(packed, count: count), v, "count \(count), lo \(lo)")
            }
        }
        // Every level, and the layout: low nibble first, odd tail zero-padded.
        let all: [Int8] = Array(-8...7)
        XCTAssertEqual(Int4Packing.unpack(Int4Packing.pack(all), count: 16), all)
        XCTAssertEqual(Int4Packing.pack([1, -1, 7]), [0xF1, 0x07])
        XCTAssertEqual(Int4Packing.pack([-8]), [0x08])
    }

    func testInt32GemmMatchesReference() {
        var g = seededGenerator()
        for (m, k) in [(1, 1), (3, 5), (4, 9), (7, 37), (16, 144)] {
            let n = 64
            let a = (0..<(m * k)).map { _ in Int32.random(in: -127...127, using: &g) }
            let b = (0..<(k * n)).map { _ in Int32.random(in: 0...255, using: &g) }
            var c = [Int32](repeating: -1, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                integerGemmInt32(m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
            } } }
            XCTAssertEqual(c.map { Int64($0) }, integerGemmReference(m: m, n: n, k: k, a: a, b: b), "m \(m) k \(k)")
        }
    }

    /// im2col + Int32 GEMM, and the same integers through the FP32 conv, equal exactly.
    func testIntegerConvMatchesFloatConvExactly() {
        var g = seededGenerator()
        for (cin, cout, size, kernel, stride, pad) in [(3, 5, 9, 3, 2, 1), (2, 4, 7, 3, 1, 1), (4, 6, 6, 1, 2, 0), (1, 3, 5, 3, 1, 0)] {
            let s = Conv2dShape(batch: 1, inChannels: cin, outChannels: cout, size: size, kernel: kernel, stride: stride, pad: pad)
            let x = (0..<(cin * size * size)).map { _ in UInt8.random(in: 0...255, using: &g) }
            let w = (0..<(cout * cin * kernel * kernel)).map { _ in Int8.random(in: -127...127, using: &g) }
            let n = s.colCols, ldn = (n + 31) / 32 * 32, k = s.colRows
            var col = [Int32](repeating: 7, count: k * ldn)
            var acc = [Int32](repeating: 0, count: cout * ldn)
            let wi = w.map { Int32($0) }
            x.withUnsafeBufferPointer { xp in col.withUnsafeMutableBufferPointer { cp in
                integerIm2col(xp.baseAddress!, channels: cin, height: size, width: size, kernel: kernel, stride: stride,
                              pad: pad, outH: s.outHeight, outW: s.outWidth, col: cp.baseAddress!, ldc: ldn) { Int32($0) }
            } }
            wi.withUnsafeBufferPointer { wp in col.withUnsafeBufferPointer { cp in acc.withUnsafeMutableBufferPointer { ap in
                integerGemmInt32(m: cout, n: ldn, k: k, a: wp.baseAddress!, b: cp.baseAddress!, c: ap.baseAddress!)
            } } }
            let xf = x.map { Float($0) }, wf = w.map { Float($0) }
            var yf = [Float](repeating: 0, count: cout * n)
            let ws = Conv2dWorkspace(shape: s, threads: 1)
            xf.withUnsafeBufferPointer { xp in wf.withUnsafeBufferPointer { wp in yf.withUnsafeMutableBufferPointer { yp in
                conv2dForward(s, input: xp.baseAddress!, weight: wp.baseAddress!, bias: nil, output: yp.baseAddress!, workspace: ws)
            } } }
            for c in 0..<cout {
                for j in 0..<n { XCTAssertEqual(Float(acc[c * ldn + j]), yf[c * n + j], "shape \(s) c \(c) j \(j)") }
                for j in n..<ldn { XCTAssertEqual(acc[c * ldn + j], 0) }
            }
        }
    }
}
