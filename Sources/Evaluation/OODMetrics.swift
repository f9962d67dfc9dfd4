// How well a score separates in-distribution from out-of-distribution inputs:
// the ROC curve, its area (AUROC), average precision (AUPR) with either side as
// the positive class, and the false-positive rate at 95% true-positive rate.
//
// Convention (as in the OOD literature, Hendrycks & Gimpel 2017, Liu et al. 2020):
// a score is higher for inputs that look in-distribution; the positive class is
// in-distribution, so TPR is the fraction of in-distribution inputs kept and FPR95
// the fraction of out-of-distribution inputs accepted when 95% of the
// in-distribution inputs are kept. The definitions follow scikit-learn's
// roc_curve (drop_intermediate=False), roc_auc_score and average_precision_score,
// tied scores included: a threshold is placed at each distinct score, so a tie
// between the classes is one diagonal step of the curve (half credit in AUROC).
// Sums are in Double.

import Foundation

public struct OODMetricError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ s: String) { description = s }
}

/// One point of the ROC curve: the rates when every input scoring >= threshold is
/// called in-distribution (the first point, threshold +infinity, accepts nothing).
public struct ROCPoint: Equatable, Sendable {
    public var falsePositiveRate: Double
    public var truePositiveRate: Double
    public var threshold: Double
}

/// The separation of one score's in- and out-of-distribution values.
public struct OODResult: Equatable, Sendable {
    public var auroc: Double
    /// Average precision with the in-distribution inputs as positives.
    public var auprIn: Double
    /// Average precision with the out-of-distribution inputs as positives (scores negated).
    public var auprOut: Double
    /// False-positive rate at the first threshold whose true-positive rate reaches 95%.
    public var fprAt95TPR: Double
    public var roc: [ROCPoint]
}

public enum OODMetrics {
    /// Cumulative counts at each distinct threshold, highest first:
    /// (threshold, positives >= threshold, negatives >= threshold).
    static func steps(positives: [Double], negatives: [Double]) throws -> [(Double, Int, Int)] {
        guard !positives.isEmpty, !negatives.isEmpty else {
            throw OODMetricError("needs scores of both classes: \(positives.count) in-distribution, "
                + "\(negatives.count) out-of-distribution")
        }
        if let bad = (positives + negatives).first(where: { !$0.isFinite }) {
            throw OODMetricError("a score is \(bad); scores must be finite")
        }
        let all = positives.map { ($0, true) } + negatives.map { ($0, false) }
        let sorted = all.sorted { $0.0 > $1.0 }
        var out: [(Double, Int, Int)] = []
        var tp = 0, fp = 0, i = 0
        while i < sorted.count {
            let t = sorted[i].0
            while i < sorted.count && sorted[i].0 == t {
                if sorted[i].1 { tp += 1 } else { fp += 1 }
                i += 1
            }
            out.append((t, tp, fp))
        }
        return out
    }

    /// The ROC curve from (0, 0) at threshold +infinity to (1, 1).
    public static func rocCurve(inDistribution: [Double], outOfDistribution: [Double]) throws -> [ROCPoint] {
        let s = try steps(positives: inDistribution, negatives: outOfDistribution)
        let p = Double(inDistribution.count), n = Double(outOfDistribution.count)
        return [ROCPoint(falsePositiveRate: 0, truePositiveRate: 0, threshold: .infinity)]
            + s.map { ROCPoint(falsePositiveRate: Double($0.2) / n, truePositiveRate: Double($0.1) / p, threshold: $0.0) }
    }

    /// Area under the ROC curve (trapezoids between the points).
    public static func auroc(_ roc: [ROCPoint]) -> Double {
        var area = 0.0
        for (a, b) in zip(roc, roc.dropFirst()) {
            area += (b.falsePositiveRate - a.falsePositiveRate) * (a.truePositiveRate + b.truePositiveRate) / 2
        }
        return area
    }

    /// Average precision: sum over thresholds of (recall step) x precision, scikit-learn's
    /// average_precision_score (no interpolation).
    public static func averagePrecision(positives: [Double], negatives: [Double]) throws -> Double {
        let s = try steps(positives: positives, negatives: negatives)
        let p = Double(positives.count)
        var ap = 0.0, lastRecall = 0.0
        for (_, tp, fp) in s {
            let recall = Double(tp) / p
            ap += (recall - lastRecall) * Double(tp) / Double(tp + fp)
            lastRecall = recall
        }
        return ap
    }

    /// FPR at the first point (highest threshold) of the curve whose TPR is at least `tpr`.
    public static func fpr(atTPR tpr: Double, _ roc: [ROCPoint]) -> Double {
        // The last point has TPR 1, so a point is always found for tpr <= 1.
        roc.first { $0.truePositiveRate >= tpr }?.falsePositiveRate ?? 1
    }

    public static func evaluate(inDistribution: [Double], outOfDistribution: [Double]) throws -> OODResult {
        let roc = try rocCurve(inDistribution: inDistribution, outOfDistribution: outOfDistribution)
        return OODResult(
            auroc: auroc(roc),
            auprIn: try averagePrecision(positives: inDistribution, negatives: outOfDistribution),
            auprOut: try averagePrecision(positives: outOfDistribution.map { -$0 },
                                          negatives: inDistribution.map { -$0 }),
            fprAt95TPR: fpr(atTPR: 0.95, roc), roc: roc)
    }

    /// At most `maxPoints` points of a curve for drawing: evenly spaced indices, the
    /// first and last always kept (the area is computed from the full curve).
    public static func thinned(_ roc: [ROCPoint], maxPoints: Int) -> [ROCPoint] {
        guard roc.count > maxPoints, maxPoints >= 2 else { return roc }
        let last = roc.count - 1
        return (0..<maxPoints).map { roc[$0 * last / (maxPoints - 1)] }
    }
}
