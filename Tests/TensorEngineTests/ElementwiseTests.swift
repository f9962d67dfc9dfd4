import XCTest
@testable import TensorEngine

final class ElementwiseTests: XCTestCase {
    // Elementwise ops do one Float operation per element, so they must match the
    // Double reference rounded to Float exactly (axpy: one fused rounding).
    func testArithmeticMatchesReferenceExactly() {
        for count in opsOddSizes + [40_000] {
            let a = opsRandom(count, seed: 1), b = opsRandom(count, seed: 2)
            for pool in [nil, opsPool2] {
                let ta = opsTensor(a), tb = opsTensor(b), out = opsNaNTensor(count)
                add(ta.data, tb.data, into: out.data, count: count, pool: pool)
                XCTAssertEqual(out.array, zip(a, b).map { $0 + $1 }, "add \(count)")
                addInPlace(ta.data, tb.data, count: count, pool: pool)
                XCTAssertEqual(ta.array, zip(a, b).map { $0 + $1 }, "addInPlace \(count)")
                let ts = opsTensor(a)
                scale(ts.data, by: 0.37, count: count, pool: pool)
                XCTAssertEqual(ts.array, a.map { $0 * 0.37 }, "scale \(count)")
                let ty = opsTensor(b), tx = opsTensor(a)
                axpy(alpha: -1.25, x: tx.data, y: ty.data, count: count, pool: pool)
                XCTAssertEqual(ty.array, zip(a, b).map { Float(Double($1) + -1.25 * Double($0)) }, "axpy \(count)")
                let tc = opsNaNTensor(count)
                copy(tx.data, to: tc.data, count: count, pool: pool)
                XCTAssertEqual(tc.array, a, "copy \(count)")
            }
        }
    }

    func testReLUForwardBackwardMatchReference() {
        for count in opsOddSizes + [40_000] {
            let x = opsRandom(count, seed: 3), g = opsRandom(count, seed: 4)
            for pool in [nil, opsPool3] {
                let tx = opsTensor(x), ty = opsNaNTensor(count), tg = opsTensor(g), tgx = opsNaNTensor(count)
                reluForward(input: tx.data, output: ty.data, count: count, pool: pool)
                XCTAssertEqual(opsD(ty.array), reluReference(opsD(x)), "relu forward \(count)")
                reluBackward(output: ty.data, gradOutput: tg.data, gradInput: tgx.data, count: count, pool: pool)
                XCTAssertEqual(tgx.array, zip(x, g).map { $0 > 0 ? $1 : 0 }, "relu backward \(count)")
            }
        }
    }

    // Finite differences of the Double reference: away from the kink (|x| > 1e-3 >> step)
    // ReLU is linear, so FD is exact up to Double rounding; 1e-6 absolute covers it.
    func testReLUBackwardMatchesFiniteDifferences() {
        let count = 65
        let x = opsRandom(count, seed: 5).map { abs($0) < 1e-3 ? 0.5 : $0 }
        let wts = opsD(opsRandom(count, seed: 6))
        let numeric = opsNumericGradient(opsD(x)) { opsWeightedSum(reluReference($0), wts) }
        let tx = opsTensor(x), ty = opsNaNTensor(count), tg = opsTensor(wts.map(Float.init)), tgx = opsNaNTensor(count)
        reluForward(input: tx.data, output: ty.data, count: count)
        reluBackward(output: ty.data, gradOutput: tg.data, gradInput: tgx.data, count: count)
        opsAssertClose(tgx.array, numeric, rtol: 1e-6, atol: 1e-6, "relu FD")
    }

    func testReLUInPlace() {
        let x = opsRandom(100, seed: 7)
        let t = opsTensor(x)
        reluForward(input: t.data, output: t.data, count: 100)
        XCTAssertEqual(t.array, x.map { max($0, 0) })
    }
}

final class ReLU6Tests: XCTestCase {
    /// Inputs spread over [-10, 10] so both bounds are crossed, plus the bounds themselves.
    func testReLU6ForwardBackwardMatchReference() {
        for count in opsOddSizes + [40_000] {
            var x = opsRandom(count, seed: 13).map { $0 * 10 }
            if count > 2 { x[0] = 6; x[1] = 0 }
            let g = opsRandom(count, seed: 14)
            for pool in [nil, opsPool3] {
                let tx = opsTensor(x), ty = opsNaNTensor(count), tg = opsTensor(g), tgx = opsNaNTensor(count)
                relu6Forward(input: tx.data, output: ty.data, count: count, pool: pool)
                XCTAssertEqual(opsD(ty.array), relu6Reference(opsD(x)), "relu6 forward \(count)")
                relu6Backward(output: ty.data, gradOutput: tg.data, gradInput: tgx.data, count: count, pool: pool)
                XCTAssertEqual(tgx.array, zip(x, g).map { $0 > 0 && $0 < 6 ? $1 : 0 }, "relu6 backward \(count)")
            }
        }
    }

    // Away from both kinks (|x| and |x - 6| > 1e-3 >> step) ReLU6 is piecewise linear, so
    // central differences of the Double reference are exact up to Double rounding (1e-6 covers it).
    func testReLU6BackwardMatchesFiniteDifferences() {
        let count = 65
        let x = opsRandom(count, seed: 15).map { $0 * 10 }.map { abs($0) < 1e-3 || abs($0 - 6) < 1e-3 ? 0.5 : $0 }
        let wts = opsD(opsRandom(count, seed: 16))
        let numeric = opsNumericGradient(opsD(x)) { opsWeightedSum(relu6Reference($0), wts) }
        let tx = opsTensor(x), ty = opsNaNTensor(count), tg = opsTensor(wts.map(Float.init)), tgx = opsNaNTensor(count)
        relu6Forward(input: tx.data, output: ty.data, count: count)
        relu6Backward(output: ty.data, gradOutput: tg.data, gradInput: tgx.data, count: count)
        opsAssertClose(tgx.array, numeric, rtol: 1e-6, atol: 1e-6, "relu6 FD")
    }
}
