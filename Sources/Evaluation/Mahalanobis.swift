// The Mahalanobis score of Lee et al. (2018) on a classifier's penultimate
// features: class means and one shared ("tied") covariance fitted on the training
// set; an input scores -min_c (x - mu_c)^T Sigma^+ (x - mu_c), higher = more
// in-distribution.
//
// Sigma is the maximum-likelihood estimate (divided by N, as scikit-learn's
// EmpiricalCovariance). Penultimate features of a ReLU network often have channels
// that are zero on every training image, so Sigma is singular: its pseudo-inverse
// (as EmpiricalCovariance's precision) ignores those directions. The eigenvalues come
// from cyclic Jacobi rotations in Double; eigenvalues at most `relativeCutoff` times
// the largest count as zero.

import Foundation

public struct MahalanobisModel: Sendable {
    public let dimension: Int
    /// Class means, [classes][dimension].
    public let means: [[Double]]
    /// The pseudo-inverse of the shared covariance, row-major [dimension][dimension].
    public let precision: [Double]
    /// Eigenvalues of the covariance treated as non-zero.
    public let rank: Int

    public static let relativeCutoff = 1e-10

    /// `features`: N rows of `dimension` values; `labels`: N classes in 0..<classes.
    public init(features: [Float], labels: [Int], dimension: Int, classes: Int) throws {
        let n = labels.count, d = dimension
        guard d > 0, classes > 0, features.count == n * d else {
            throw OODMetricError("Mahalanobis: \(features.count) feature values for \(n) labels of dimension \(d)")
        }
        var sums = [[Double]](repeating: [Double](repeating: 0, count: d), count: classes)
        var counts = [Int](repeating: 0, count: classes)
        for (i, y) in labels.enumerated() {
            guard y >= 0, y < classes else { throw OODMetricError("Mahalanobis: label \(y) out of range 0..<\(classes)") }
            counts[y] += 1
            for j in 0..<d { sums[y][j] += Double(features[i * d + j]) }
        }
        if let empty = counts.firstIndex(of: 0) {
            throw OODMetricError("Mahalanobis: class \(empty) has no training features")
        }
        let means = zip(sums, counts).map { s, c in s.map { $0 / Double(c) } }
        var cov = [Double](repeating: 0, count: d * d)
        var r = [Double](repeating: 0, count: d)
        for (i, y) in labels.enumerated() {
            for j in 0..<d { r[j] = Double(features[i * d + j]) - means[y][j] }
            for a in 0..<d where r[a] != 0 {
                for b in 0..<d { cov[a * d + b] += r[a] * r[b] }
            }
        }
        for k in 0..<(d * d) { cov[k] /= Double(n) }
        let (values, vectors) = Self.symmetricEigen(cov, d)
        let cutoff = Self.relativeCutoff * (values.max() ?? 0)
        var precision = [Double](repeating: 0, count: d * d)
        var rank = 0
        for k in 0..<d where values[k] > cutoff {
            rank += 1
            let inv = 1 / values[k]
            for a in 0..<d {
                let va = vectors[a * d + k] * inv
                for b in 0..<d { precision[a * d + b] += va * vectors[b * d + k] }
            }
        }
        self.dimension = d
        self.means = means
        self.precision = precision
        self.rank = rank
    }

    /// -min over classes of the squared Mahalanobis distance of the `dimension` values at `x`.
    public func score(_ x: UnsafePointer<Float>) -> Double {
        let d = dimension
        var best = Double.infinity
        var r = [Double](repeating: 0, count: d)
        for mu in means {
            for j in 0..<d { r[j] = Double(x[j]) - mu[j] }
            var q = 0.0
            for a in 0..<d where r[a] != 0 {
                var row = 0.0
                for b in 0..<d { row += precision[a * d + b] * r[b] }
                q += r[a] * row
            }
            best = min(best, q)
        }
        return -best
    }

    /// Scores of the rows of `features` (N x dimension).
    public func scores(_ features: [Float]) -> [Double] {
        precondition(features.count % dimension == 0, "Mahalanobis: \(features.count) values, rows of \(dimension)")
        return features.withUnsafeBufferPointer { p in
            (0..<(features.count / dimension)).map { score(p.baseAddress! + $0 * dimension) }
        }
    }

    /// Eigenvalues and eigenvectors (columns of the row-major d x d result) of a symmetric
    /// matrix by cyclic Jacobi rotations, until the off-diagonal mass is negligible.
    static func symmetricEigen(_ m: [Double], _ d: Int) -> (values: [Double], vectors: [Double]) {
        var a = m
        var v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1 }
        let total = a.reduce(0) { $0 + $1 * $1 }
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<d { for q in 0..<d where p != q { off += a[p * d + q] * a[p * d + q] } }
            if off <= 1e-30 * total || off == 0 { break }
            for p in 0..<(d - 1) {
                for q in (p + 1)..<d where a[p * d + q] != 0 {
                    let apq = a[p * d + q]
                    let theta = (a[q * d + q] - a[p * d + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<d {   // columns p, q of A
                        let akp = a[k * d + p], akq = a[k * d + q]
                        a[k * d + p] = c * akp - s * akq
                        a[k * d + q] = s * akp + c * akq
                    }
                    for k in 0..<d {   // rows p, q of A
                        let apk = a[p * d + k], aqk = a[q * d + k]
                        a[p * d + k] = c * apk - s * aqk
                        a[q * d + k] = s * apk + c * aqk
                    }
                    for k in 0..<d {
                        let vkp = v[k * d + p], vkq = v[k * d + q]
                        v[k * d + p] = c * vkp - s * vkq
                        v[k * d + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<d).map { a[$0 * d + $0] }, v)
    }
}
