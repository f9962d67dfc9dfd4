// CenterNet-style detection losses, with explicit gradients and a plain Double
// reference for each.
//
// Heatmap: logits x [n, classes, h, w], targets y in [0, 1] (Gaussian splats,
// exactly 1 at object centres). With p = sigmoid(x), the penalty-reduced focal
// loss is, per element,
//     y == 1:  -(1 - p)^a log p
//     y <  1:  -(1 - y)^b p^a log(1 - p)
// summed and divided by the number of centres (at least 1); a = 2, b = 4 by
// default. log p and log(1 - p) are computed as -softplus(-x) and -softplus(x),
// so no clamping of p is needed. Gradients with respect to the logits:
//     y == 1:  a p (1 - p)^a log p - (1 - p)^(a + 1)
//     y <  1:  -(1 - y)^b (a p^a (1 - p) log(1 - p) - p^(a + 1))
//
// Regression (box size, centre offset): L1 between prediction planes and
// targets at the objects' centre cells only, summed over channels and divided
// by the number of objects.

import Foundation

public struct FocalLossResult: Equatable {
    public var loss: Float
    /// Elements whose target is exactly 1.
    public var positives: Int
}

@inline(__always) func softplus(_ z: Double) -> Double { max(z, 0) + log1p(exp(-abs(z))) }

/// Loss and d(loss)/d(logit) of one heatmap element, before normalisation.
@inline(__always)
func focalElement(_ x: Double, _ y: Double, alpha: Double, beta: Double) -> (loss: Double, grad: Double) {
    let p = 1 / (1 + exp(-x))
    if y == 1 {
        let logp = -softplus(-x), q = 1 - p
        return (-pow(q, alpha) * logp, alpha * p * pow(q, alpha) * logp - pow(q, alpha + 1))
    }
    let log1mp = -softplus(x), w = pow(1 - y, beta)
    return (-w * pow(p, alpha) * log1mp, -w * (alpha * pow(p, alpha) * (1 - p) * log1mp - pow(p, alpha + 1)))
}

/// Focal loss over `count` heatmap elements; gradLogits (overwritten, if given) is
/// the gradient of the normalised loss. Sums run in element order in Double.
public func centerNetFocalLoss(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                               gradLogits: UnsafeMutablePointer<Float>?, count: Int,
                               alpha: Float = 2, beta: Float = 4) -> FocalLossResult {
    var positives = 0
    for i in 0..<count where targets[i] == 1 { positives += 1 }
    let norm = 1 / Double(max(positives, 1))
    var sum = 0.0
    for i in 0..<count {
        let r = focalElement(Double(logits[i]), Double(targets[i]), alpha: Double(alpha), beta: Double(beta))
        sum += r.loss
        gradLogits?[i] = Float(r.grad * norm)
    }
    return FocalLossResult(loss: Float(sum * norm), positives: positives)
}

/// Double reference of the focal loss, written from the definition (no shared helper):
/// for the finite-difference checks of `centerNetFocalLoss`.
public func centerNetFocalLossReference(_ x: [Double], _ y: [Double], alpha: Double = 2, beta: Double = 4) -> Double {
    var sum = 0.0, positives = 0
    for i in x.indices {
        let p = 1 / (1 + exp(-x[i]))
        if y[i] == 1 { sum += -pow(1 - p, alpha) * log(p); positives += 1 }
        else { sum += -pow(1 - y[i], beta) * pow(p, alpha) * log(1 - p) }
    }
    return sum / Double(max(positives, 1))
}

/// One object's regression target at a centre cell.
public struct CenterTarget: Equatable, Sendable {
    public var sample: Int
    /// Cell index y * w + x in the output plane.
    public var cell: Int
    /// One value per regression channel (e.g. width and height, or x and y offsets).
    public var values: [Float]
    public init(sample: Int, cell: Int, values: [Float]) { self.sample = sample; self.cell = cell; self.values = values }
}

/// L1 at centres: predictions [n, channels, h*w]; gradPred (overwritten, if given)
/// is zero away from centres. Returns the sum over objects and channels / objects.
public func centerRegressionL1(predictions: UnsafePointer<Float>, targets: [CenterTarget],
                               gradPredictions: UnsafeMutablePointer<Float>?,
                               n: Int, channels: Int, cells: Int) -> Float {
    gradPredictions?.update(repeating: 0, count: n * channels * cells)
    if targets.isEmpty { return 0 }
    let norm = 1 / Double(targets.count)
    var sum = 0.0
    for t in targets {
        precondition(t.values.count == channels && t.sample < n && t.cell < cells, "centerRegressionL1: bad target \(t)")
        for c in 0..<channels {
            let i = (t.sample * channels + c) * cells + t.cell
            let d = Double(predictions[i]) - Double(t.values[c])
            sum += abs(d)
            gradPredictions?[i] += Float(d > 0 ? norm : (d < 0 ? -norm : 0))
        }
    }
    return Float(sum * norm)
}

/// Double reference of the centre L1 loss.
public func centerRegressionL1Reference(_ pred: [Double], targets: [CenterTarget], channels: Int, cells: Int) -> Double {
    if targets.isEmpty { return 0 }
    var sum = 0.0
    for t in targets {
        for c in 0..<channels { sum += abs(pred[(t.sample * channels + c) * cells + t.cell] - Double(t.values[c])) }
    }
    return sum / Double(targets.count)
}
