// Per activation quantizer of the fake-quant model, how far the integer engine's
// levels are from the quantizer's output (in steps), over the batches that ran
// through both: the largest deviation and the fraction of levels that differ (a
// level may differ by one where z/Δ is within float rounding of a half-integer).
// `gdqr eval --compare` prints it.

import GDQR
import IntegerInference

public struct LevelParity {
    public let model: IntegerModel
    private let quantizers: [(q: ActivationQuantizer, value: Int)]
    private var maxStep: [Int], mismatched: [Int], total: [Int]

    /// The quantizers whose activation is a value of `model` (matched by name).
    public init(_ model: IntegerModel, quantizers: [ActivationQuantizer]) {
        self.model = model
        let index = Dictionary(model.values.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.quantizers = quantizers.compactMap { q in index[q.name].map { (q, $0) } }
        maxStep = Array(repeating: 0, count: self.quantizers.count)
        mismatched = maxStep; total = maxStep
    }

    /// After the engine and the network both ran the same `batch` samples.
    public mutating func add(_ engine: IntegerEngine, batch: Int) throws {
        for (i, (q, vi)) in quantizers.enumerated() {
            let v = model.values[vi]
            guard let lv = engine.levels(of: vi) else { throw EvaluationError("value \(q.name) is not integer") }
            let step = v.step, fq = q.output
            for e in 0..<(batch * v.count) {
                let f = step > 0 ? Int((fq[e] / step).rounded(.toNearestOrEven)) : 0
                let d = abs(f - (Int(lv[e]) - v.zeroLevel))   // signed values store q + L
                if d > 0 { mismatched[i] += 1 }
                maxStep[i] = max(maxStep[i], d)
            }
            total[i] += batch * v.count
        }
    }

    /// (name, max deviation in steps, fraction of levels that differ) per activation.
    public var rows: [(name: String, maxStep: Int, fraction: Double)] {
        quantizers.indices.map { (quantizers[$0].q.name, maxStep[$0], Double(mismatched[$0]) / Double(max(total[$0], 1))) }
    }

    public var json: [[String: Any]] { rows.map { ["name": $0.name, "max_step_diff": $0.maxStep, "mismatch_fraction": $0.fraction] } }

    public func printRows() {
        print("per activation: max deviation in steps, fraction of levels that differ")
        for r in rows {
            print("  \(r.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(r.maxStep)  \(String(format: "%.2e", r.fraction))")
        }
    }
}
