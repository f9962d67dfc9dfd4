// Scores of one input from a classifier's logits, higher = more in-distribution:
// maximum softmax probability (Hendrycks & Gimpel 2017), the maximum logit
// (Hendrycks et al. 2022) and the negative free energy T * log sum_c exp(l_c / T)
// (Liu et al. 2020). Computed in Double with the maximum subtracted before exp, so
// large logits neither overflow nor lose the small terms.

import Foundation

public enum LogitScore: String, CaseIterable, Sendable {
    case msp
    case maxLogit = "max-logit"
    case energy
}

public enum LogitScores {
    /// The score of the `count` logits at `logits`; `temperature` applies to energy only.
    public static func score(_ kind: LogitScore, _ logits: UnsafePointer<Float>, count: Int,
                             temperature: Double = 1) -> Double {
        var m = -Double.infinity
        for c in 0..<count { m = max(m, Double(logits[c])) }
        switch kind {
        case .maxLogit:
            return m
        case .msp:
            // max_c softmax = exp(m - m) / sum_c exp(l_c - m)
            var s = 0.0
            for c in 0..<count { s += exp(Double(logits[c]) - m) }
            return 1 / s
        case .energy:
            var s = 0.0
            for c in 0..<count { s += exp((Double(logits[c]) - m) / temperature) }
            return m + temperature * log(s)
        }
    }

    /// Scores of `rows` inputs whose logits are stored row after row.
    public static func scores(_ kind: LogitScore, _ logits: [Float], classes: Int, temperature: Double = 1) -> [Double] {
        precondition(classes > 0 && logits.count % classes == 0, "LogitScores: \(logits.count) logits for \(classes) classes")
        return logits.withUnsafeBufferPointer { p in
            (0..<(logits.count / classes)).map {
                score(kind, p.baseAddress! + $0 * classes, count: classes, temperature: temperature)
            }
        }
    }
}
