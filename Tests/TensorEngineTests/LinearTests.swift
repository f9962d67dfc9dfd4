import XCTest
@testable import TensorEngine

final class LinearTests: XCTestCase {
    // Dot products of length <= 129 of O(1) values in Float: 1e-5 relative + absolute.
    func testForwardMatchesReference() {
        for (b, i, o) in [(1, 1, 1), (3, 7, 17), (17, 65, 3), (7, 129, 65)] {
            let x = opsRandom(b * i, seed: 121), w = opsRandom(o * i, seed: 122), bias = opsRandom(o, seed: 123)
            let tx = opsTensor(x), tw = opsTensor(w), tb = opsTensor(bias), ty = opsNaNTensor(b * o)
            linearForward(input: tx.data, weight: tw.data, bias: tb.data, output: ty.data,
                          batch: b, inFeatures: i, outFeatures: o, pool: opsPool2)
            opsAssertClose(ty.array, linearReference(opsD(x), weight: opsD(w), bias: opsD(bias), batch: b,
                                                     inFeatures: i, outFeatures: o), rtol: 1e-5, atol: 1e-5, "\(b) \(i) \(o)")
            linearForward(input: tx.data, weight: tw.data, bias: nil, output: ty.data,
                          batch: b, inFeatures: i, outFeatures: o)
            opsAssertClose(ty.array, linearReference(opsD(x), weight: opsD(w), bias: nil, batch: b,
                                                     inFeatures: i, outFeatures: o), rtol: 1e-5, atol: 1e-5, "nobias")
        }
    }

    // FD of the Double reference (linear in each argument: FD exact up to rounding).
    func testBackwardMatchesFiniteDifferences() {
        for (b, i, o) in [(1, 1, 1), (3, 7, 5), (7, 3, 17)] {
            let x = opsRandom(b * i, seed: 124), w = opsRandom(o * i, seed: 125), bias = opsRandom(o, seed: 126)
            let g = opsRandom(b * o, seed: 127)
            let tx = opsTensor(x), tw = opsTensor(w), tg = opsTensor(g)
            let gx = opsNaNTensor(b * i), gw = opsNaNTensor(o * i), gb = opsNaNTensor(o)
            linearBackward(input: tx.data, weight: tw.data, gradOutput: tg.data, gradInput: gx.data,
                           gradWeight: gw.data, gradBias: gb.data, batch: b, inFeatures: i, outFeatures: o, pool: opsPool2)
            let (xd, wd, bd, gd) = (opsD(x), opsD(w), opsD(bias), opsD(g))
            func loss(_ x: [Double], _ w: [Double], _ bb: [Double]) -> Double {
                opsWeightedSum(linearReference(x, weight: w, bias: bb, batch: b, inFeatures: i, outFeatures: o), gd)
            }
            opsAssertClose(gx.array, opsNumericGradient(xd) { loss($0, wd, bd) }, rtol: 1e-5, atol: 1e-5, "dx")
            opsAssertClose(gw.array, opsNumericGradient(wd) { loss(xd, $0, bd) }, rtol: 1e-5, atol: 1e-5, "dw")
            opsAssertClose(gb.array, opsNumericGradient(bd) { loss(xd, wd, $0) }, rtol: 1e-5, atol: 1e-5, "db")
        }
    }
}
