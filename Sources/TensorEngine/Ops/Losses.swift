// Fused, numerically stable softmax cross-entropy, for classification
// (logits [N, C], labels [N]) and per-pixel segmentation (logits [N, C, H, W],
// labels [N, H, W]).
//
// Per row (a sample, or a pixel): m = max logit, e_i = exp(l_i - m) in Float,
// s = sum e_i in Double, loss = log(s) - (l_label - m). Large logits (1e4) stay
// finite because only differences to the maximum are exponentiated. The mean
// loss is over rows whose label is not `ignoreLabel`; gradLogits (overwritten)
// = (softmax - onehot) / counted for those rows and 0 for ignored ones.
// `correct` counts counted rows whose first maximal logit is the label.
//
// Determinism: rows are cut into at most 64 fixed blocks (a function of the row
// count alone); each block's loss is a Double sum in row order, and blocks are
// added in block order, so the result does not depend on the thread count.

import Foundation

public struct CrossEntropyResult: Equatable {
    /// Mean loss over counted rows (0 if none).
    public var loss: Float
    /// Counted rows whose argmax equals the label.
    public var correct: Int
    /// Rows whose label is not the ignore label.
    public var counted: Int
}

private let ceMaxBlocks = 64

/// One row with `classes` logits at base[i * stride]. Writes exp(l_i - m) to grad (if any)
/// and returns (log(s) - (l_label - m), argmax == label, 1/s); label must be valid.
@inline(__always)
private func ceRow(_ base: UnsafePointer<Float>, stride: Int, classes: Int, label: Int,
                   grad: UnsafeMutablePointer<Float>?) -> (loss: Double, hit: Bool, invSum: Float) {
    var m = base[0], arg = 0
    for i in 1..<classes where base[i * stride] > m { m = base[i * stride]; arg = i }
    var s = 0.0
    if let g = grad {
        for i in 0..<classes { let e = Foundation.exp(base[i * stride] - m); g[i * stride] = e; s += Double(e) }
    } else {
        for i in 0..<classes { s += Double(Foundation.exp(base[i * stride] - m)) }
    }
    let loss = Foundation.log(s) - Double(base[label * stride] - m)
    return (loss, arg == label, Float(1 / s))
}

/// Shared driver: `rows` rows; row r starts at rowBase(r) with class stride `stride`.
@inline(__always)
private func ceDriver(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                      gradLogits: UnsafeMutablePointer<Float>?, rows: Int, classes: Int, stride: Int,
                      ignoreLabel: Int32, pool: ThreadPool?, rowBase: (Int) -> Int) -> CrossEntropyResult {
    precondition(classes >= 1, "softmaxCrossEntropy: need at least one class")
    var counted = 0
    for r in 0..<rows {
        let l = labels[r]
        if l == ignoreLabel { continue }
        precondition(l >= 0 && Int(l) < classes, "softmaxCrossEntropy: label \(l) out of 0..<\(classes)")
        counted += 1
    }
    if rows == 0 { return CrossEntropyResult(loss: 0, correct: 0, counted: 0) }
    let invCount: Float = counted > 0 ? 1 / Float(counted) : 0
    let blocks = min(ceMaxBlocks, rows)
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: blocks) { lossBuf in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: blocks) { hitBuf in
            let lossPtr = lossBuf.baseAddress!, hitPtr = hitBuf.baseAddress!
            opsFor(pool, items: blocks, elementsPerItem: (rows / blocks) * classes * 4) { blockRange in
                for blk in blockRange {
                    var sum = 0.0, hits = 0
                    for r in ThreadPool.chunk(blk, of: blocks, count: rows) {
                        let base = rowBase(r)
                        let label = labels[r]
                        let g = gradLogits.map { $0 + base }
                        if label == ignoreLabel {
                            if let g = g { for i in 0..<classes { g[i * stride] = 0 } }
                            continue
                        }
                        let res = ceRow(logits + base, stride: stride, classes: classes, label: Int(label), grad: g)
                        sum += res.loss
                        if res.hit { hits += 1 }
                        if let g = g {
                            let k = res.invSum * invCount
                            for i in 0..<classes { g[i * stride] *= k }
                            g[Int(label) * stride] -= invCount
                        }
                    }
                    lossPtr[blk] = sum
                    hitPtr[blk] = hits
                }
            }
            var total = 0.0, correct = 0
            for b in 0..<blocks { total += lossPtr[b]; correct += hitPtr[b] }
            let loss = counted > 0 ? Float(total / Double(counted)) : 0
            return CrossEntropyResult(loss: loss, correct: correct, counted: counted)
        }
    }
}

/// Classification: logits [batch, classes], labels [batch] (Int32, ignoreLabel skipped).
/// gradLogits [batch, classes] is overwritten when given.
public func softmaxCrossEntropy(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                                gradLogits: UnsafeMutablePointer<Float>?,
                                batch: Int, classes: Int, ignoreLabel: Int32 = -1,
                                pool: ThreadPool? = nil) -> CrossEntropyResult {
    ceDriver(logits: logits, labels: labels, gradLogits: gradLogits, rows: batch, classes: classes,
             stride: 1, ignoreLabel: ignoreLabel, pool: pool) { r in r * classes }
}

/// Segmentation: logits [n, classes, h, w], labels [n, h, w]; mean over counted pixels.
/// gradLogits [n, classes, h, w] is overwritten when given.
public func softmaxCrossEntropy2d(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                                  gradLogits: UnsafeMutablePointer<Float>?,
                                  n: Int, classes: Int, h: Int, w: Int, ignoreLabel: Int32 = -1,
                                  pool: ThreadPool? = nil) -> CrossEntropyResult {
    let hw = h * w
    return ceDriver(logits: logits, labels: labels, gradLogits: gradLogits, rows: n * hw, classes: classes,
                    stride: hw, ignoreLabel: ignoreLabel, pool: pool) { r in
        let b = r / hw
        return b * classes * hw + (r - b * hw)
    }
}
