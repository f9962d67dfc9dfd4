// The run's TensorBoard log (rank 0 only, owned by the run folder): every record
// of metrics.jsonl becomes scalars "<split>/<key>" (train/loss, train/lr,
// test/accuracy, ...) at the record's global step, and quantized phases add
// per-layer scalars and weight histograms at each test evaluation.
//
// Called at log lines and evaluations only, never per training step. Records are
// buffered and written at each test evaluation (a live TensorBoard then shows
// the epoch), or at a log line when the oldest unwritten record is older than
// `maxBufferSeconds`.

import Foundation

public final class TensorBoardLog {
    public let writer: EventFileWriter
    public var maxBufferSeconds = 30.0
    private var bufferedSince: Double?

    public init(directory: String) throws {
        writer = try EventFileWriter(directory: directory)
    }

    /// Keys of a metrics record that are not plotted: its labels and the x axis.
    static let nonScalarKeys: Set<String> = ["phase", "split", "step"]

    /// The scalars of one metrics.jsonl record: every numeric field but the step,
    /// tagged "<split>/<key>". Records without a split or a step give none.
    public static func scalars(of record: [String: Any]) -> (step: Int, values: [(tag: String, value: Float)])? {
        guard let split = record["split"] as? String, let step = record["step"] as? Int else { return nil }
        var values: [(tag: String, value: Float)] = []
        for key in record.keys.sorted() where !nonScalarKeys.contains(key) {
            let v: Double
            switch record[key] {
            case let d as Double: v = d
            case let i as Int: v = Double(i)
            case let f as Float: v = Double(f)
            default: continue
            }
            values.append(("\(split)/\(key)", Float(v)))
        }
        return (step, values)
    }

    /// Logs one metrics record; test records are written out at once.
    public func record(metrics: [String: Any]) throws {
        guard let (step, values) = Self.scalars(of: metrics) else { return }
        add(step: step, scalars: values)
        if metrics["split"] as? String == "test" {
            try flush()
        } else if let since = bufferedSince, now() - since > maxBufferSeconds {
            try flush()
        }
    }

    /// Buffers one event of scalars and histograms at `step`.
    public func add(step: Int, scalars: [(tag: String, value: Float)],
                    histograms: [(tag: String, histogram: TensorBoardHistogram)] = []) {
        writer.add(TensorBoardEvent.summary(wallTime: Date().timeIntervalSince1970, step: step, scalars: scalars,
                                            histograms: histograms))
        if bufferedSince == nil { bufferedSince = now() }
    }

    /// Marks a resume: TensorBoard drops what earlier files logged from global step
    /// `step` on (the first step this run logs again).
    public func sessionStart(step: Int) throws {
        writer.add(TensorBoardEvent.sessionStart(wallTime: Date().timeIntervalSince1970, step: step))
        try flush()
    }

    public func flush() throws {
        try writer.flush()
        bufferedSince = nil
    }
}
