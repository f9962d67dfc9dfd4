// Learning-rate schedules: linear warm-up, then cosine or step decay (or constant).
// A pure function of the global step, so a resumed run needs no schedule state.

import Foundation

public struct LRSchedule: Sendable {
    public enum Kind: String, Sendable { case cosine, step, constant }
    public var kind: Kind
    public var baseLR: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var stepsPerEpoch: Int
    /// For `.step`: epochs at which the rate is multiplied by `gamma`.
    public var stepEpochs: [Int]
    public var gamma: Double
    /// Cosine decays to baseLR * minFraction.
    public var minFraction: Double

    public init(kind: Kind, baseLR: Double, warmupSteps: Int, totalSteps: Int, stepsPerEpoch: Int,
                stepEpochs: [Int] = [], gamma: Double = 0.1, minFraction: Double = 0) {
        self.kind = kind
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.stepsPerEpoch = max(stepsPerEpoch, 1)
        self.stepEpochs = stepEpochs
        self.gamma = gamma
        self.minFraction = minFraction
    }

    /// The rate for global step `step` (0-based).
    public func lr(at step: Int) -> Double {
        if step < warmupSteps { return baseLR * Double(step + 1) / Double(warmupSteps) }
        switch kind {
        case .constant:
            return baseLR
        case .step:
            let epoch = step / stepsPerEpoch
            let drops = stepEpochs.filter { epoch >= $0 }.count
            return baseLR * pow(gamma, Double(drops))
        case .cosine:
            let span = max(totalSteps - warmupSteps, 1)
            let t = min(Double(step - warmupSteps) / Double(span), 1)
            let floor = baseLR * minFraction
            return floor + (baseLR - floor) * 0.5 * (1 + cos(Double.pi * t))
        }
    }
}
