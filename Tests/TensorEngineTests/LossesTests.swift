import XCTest
@testable import TensorEngine

final class LossesTests: XCTestCase {
    func labelsFor(_ count: Int, classes: Int, seed: UInt64, ignoreEvery: Int = 0) -> [Int32] {
        var rng = CounterRNG(seed: seed, stream: 9)
        return (0..<count).map { i in
            ignoreEvery > 0 && i % ignoreEvery == 0 ? -1 : Int32(rng.nextInt(below: classes))
        }
    }

    func run(_ logits: [Float], _ labels: [Int32], n: Int, classes: Int, hw: Int?, pool: ThreadPool? = nil)
        -> (CrossEntropyResult, Tensor) {
        let tl = opsTensor(logits), grad = opsNaNTensor(logits.count)
        let r = labels.withUnsafeBufferPointer { lb -> CrossEntropyResult in
            if let hw = hw {
                return softmaxCrossEntropy2d(logits: tl.data, labels: lb.baseAddress!, gradLogits: grad.data,
                                             n: n, classes: classes, h: 1, w: hw, pool: pool)
            }
            return softmaxCrossEntropy(logits: tl.data, labels: lb.baseAddress!, gradLogits: grad.data,
                                       batch: n, classes: classes, pool: pool)
        }
        return (r, grad)
    }

    // exp/log in Float on differences to the max, sums in Double: loss relative error
    // ~1e-6; gradient entries are probabilities / count, compared to 1e-6 absolute
    // after scaling by the count (Float exp has ~1 ulp error).
    func testClassificationMatchesReference() {
        for (n, c) in [(1, 1), (3, 7), (17, 3), (65, 17), (129, 129), (7, 1000)] {
            for ignore in [0, 3] {
                let logits = opsRandom(n * c, seed: 101, lo: -8, hi: 8)
                let labels = labelsFor(n, classes: c, seed: 102, ignoreEvery: ignore)
                let (r, grad) = run(logits, labels, n: n, classes: c, hw: nil, pool: opsPool2)
                let ref = softmaxCrossEntropyReference(opsD(logits), labels: labels, n: n, classes: c, hw: 1)
                XCTAssertEqual(r.counted, ref.counted); XCTAssertEqual(r.correct, ref.correct, "\(n)x\(c)")
                XCTAssertEqual(Double(r.loss), ref.loss, accuracy: 2e-6 * max(1, ref.loss), "loss \(n)x\(c)")
                let scaleBy = Double(max(ref.counted, 1))
                opsAssertClose(grad.array.map { $0 * Float(scaleBy) }, ref.grad.map { $0 * scaleBy },
                               rtol: 1e-5, atol: 1e-6, "grad \(n)x\(c) ignore \(ignore)")
            }
        }
    }

    func testSegmentationMatchesReference() {
        for (n, c, hw) in [(1, 1, 1), (2, 3, 7), (1, 17, 65), (3, 7, 129), (2, 21, 17)] {
            let logits = opsRandom(n * c * hw, seed: 103, lo: -6, hi: 6)
            let labels = labelsFor(n * hw, classes: c, seed: 104, ignoreEvery: 5)
            let (r, grad) = run(logits, labels, n: n, classes: c, hw: hw, pool: opsPool3)
            let ref = softmaxCrossEntropyReference(opsD(logits), labels: labels, n: n, classes: c, hw: hw)
            XCTAssertEqual(r.counted, ref.counted); XCTAssertEqual(r.correct, ref.correct)
            XCTAssertEqual(Double(r.loss), ref.loss, accuracy: 2e-6 * max(1, ref.loss), "loss \(n) \(c) \(hw)")
            let scaleBy = Double(max(ref.counted, 1))
            opsAssertClose(grad.array.map { $0 * Float(scaleBy) }, ref.grad.map { $0 * scaleBy },
                           rtol: 1e-5, atol: 1e-6, "grad \(n) \(c) \(hw)")
        }
    }

    /// Logits of magnitude 1e4: finite, and equal to the Double reference.
    func testLargeLogitsStable() {
        let n = 17, c = 7
        let logits = opsRandom(n * c, seed: 105, lo: -1e4, hi: 1e4)
        let labels = labelsFor(n, classes: c, seed: 106)
        let (r, grad) = run(logits, labels, n: n, classes: c, hw: nil)
        let ref = softmaxCrossEntropyReference(opsD(logits), labels: labels, n: n, classes: c, hw: 1)
        XCTAssertTrue(r.loss.isFinite)
        XCTAssertTrue(grad.array.allSatisfy(\.isFinite))
        // Loss ~1e4: a Float holds it to ~1e-3; differences l - m are exact-ish in Float.
        XCTAssertEqual(Double(r.loss), ref.loss, accuracy: 1e-6 * max(1, ref.loss))
        opsAssertClose(grad.array, ref.grad, rtol: 1e-5, atol: 1e-6, "grad large")
        XCTAssertEqual(r.correct, ref.correct)
    }

    // FD of the Double reference's mean loss w.r.t. logits (step 1e-6, smooth function).
    func testGradientMatchesFiniteDifferences() {
        let (n, c, hw) = (2, 5, 3)
        let logits = opsRandom(n * c * hw, seed: 107, lo: -3, hi: 3)
        let labels = labelsFor(n * hw, classes: c, seed: 108, ignoreEvery: 4)
        let (_, grad) = run(logits, labels, n: n, classes: c, hw: hw)
        let numeric = opsNumericGradient(opsD(logits)) {
            softmaxCrossEntropyReference($0, labels: labels, n: n, classes: c, hw: hw).loss
        }
        opsAssertClose(grad.array, numeric, rtol: 1e-5, atol: 1e-6, "FD")
    }

    func testAllIgnoredAndDeterminism() {
        let (r, grad) = run([1, 2, 3, 4], [-1, -1], n: 2, classes: 2, hw: nil)
        XCTAssertEqual(r, CrossEntropyResult(loss: 0, correct: 0, counted: 0))
        XCTAssertEqual(grad.array, [0, 0, 0, 0])
        let (n, c, hw) = (4, 21, 1000)
        let logits = opsRandom(n * c * hw, seed: 109, lo: -5, hi: 5)
        let labels = labelsFor(n * hw, classes: c, seed: 110, ignoreEvery: 7)
        let base = run(logits, labels, n: n, classes: c, hw: hw, pool: nil)
        for pool in [opsPool2, opsPool3] {
            let other = run(logits, labels, n: n, classes: c, hw: hw, pool: pool)
            XCTAssertEqual(other.0.loss.bitPattern, base.0.loss.bitPattern)
            XCTAssertEqual(other.0.correct, base.0.correct)
            XCTAssertEqual(opsBits(other.1), opsBits(base.1))
        }
    }
}
