// The TensorBoard messages the trainer writes, encoded with the project's
// protobuf writer. Field numbers from TensorBoard's event.proto, summary.proto
// and histogram.proto (package tensorboard, same numbers as TensorFlow's):
//
//   Event           wall_time 1 (double), step 2 (int64), file_version 3 (string),
//                   summary 5 (Summary), session_log 7 (SessionLog)
//   SessionLog      status 1 (enum: START = 1)
//   Summary         value 1 (repeated Value)
//   Summary.Value   tag 1 (string), simple_value 2 (float), histo 5 (HistogramProto)
//   HistogramProto  min 1, max 2, num 3, sum 4, sum_squares 5 (double),
//                   bucket_limit 6, bucket 7 (packed repeated double)
//
// Fields are written in field-number order, as protobuf's own serializers do,
// so the bytes can be compared with a reference writer's output.

import Export

/// A histogram in HistogramProto form: bucket i counts the values in
/// (bucketLimits[i-1], bucketLimits[i]] (the first bucket from `min`).
public struct TensorBoardHistogram: Equatable, Sendable {
    public var min: Double
    public var max: Double
    public var num: Double
    public var sum: Double
    public var sumSquares: Double
    public var bucketLimits: [Double]
    public var buckets: [Double]

    public init(min: Double, max: Double, num: Double, sum: Double, sumSquares: Double,
                bucketLimits: [Double], buckets: [Double]) {
        precondition(bucketLimits.count == buckets.count, "histogram: \(bucketLimits.count) limits for \(buckets.count) buckets")
        self.min = min; self.max = max; self.num = num; self.sum = sum; self.sumSquares = sumSquares
        self.bucketLimits = bucketLimits; self.buckets = buckets
    }

    /// From equal bins: `edges` (bins + 1 of them) and the counts per bin, with
    /// the moments of the values binned.
    public init(_ h: BinnedHistogram) {
        self.init(min: h.min, max: h.max, num: Double(h.counts.reduce(0, +)), sum: h.sum, sumSquares: h.sumSquares,
                  bucketLimits: Array(h.edges.dropFirst()), buckets: h.counts.map(Double.init))
    }
}

public enum TensorBoardEvent {
    /// The first record of every event file.
    public static let fileVersionString = "brain.Event:2"

    public static func fileVersion(wallTime: Double) -> [UInt8] {
        var w = ProtobufWriter()
        w.double(1, wallTime)
        w.string(3, fileVersionString)
        return w.bytes
    }

    /// SessionLog START at `step`: TensorBoard discards the events of earlier
    /// files with step >= `step` (what a resumed run recomputes).
    public static func sessionStart(wallTime: Double, step: Int) -> [UInt8] {
        var w = ProtobufWriter()
        w.double(1, wallTime)
        w.int(2, Int64(step))
        w.message(7) { $0.int(1, 1) }
        return w.bytes
    }

    /// One Event holding a Summary of scalars (simple_value) and histograms.
    public static func summary(wallTime: Double, step: Int, scalars: [(tag: String, value: Float)],
                               histograms: [(tag: String, histogram: TensorBoardHistogram)] = []) -> [UInt8] {
        var w = ProtobufWriter()
        w.double(1, wallTime)
        w.int(2, Int64(step))
        w.message(5) { s in
            for (tag, value) in scalars {
                s.message(1) { v in
                    v.string(1, tag)
                    v.float(2, value)
                }
            }
            for (tag, h) in histograms {
                s.message(1) { v in
                    v.string(1, tag)
                    v.message(5) { encode(h, into: &$0) }
                }
            }
        }
        return w.bytes
    }

    static func encode(_ h: TensorBoardHistogram, into w: inout ProtobufWriter) {
        w.double(1, h.min)
        w.double(2, h.max)
        w.double(3, h.num)
        w.double(4, h.sum)
        w.double(5, h.sumSquares)
        w.packedDoubles(6, h.bucketLimits)
        w.packedDoubles(7, h.buckets)
    }
}

/// Counts over equal bins [edges[i], edges[i+1]) (the last bin closed), with the
/// min, max, sum and sum of squares of the values (in Double).
public struct BinnedHistogram: Equatable, Sendable {
    public var edges: [Double]
    public var counts: [Int]
    public var min: Double
    public var max: Double
    public var sum: Double
    public var sumSquares: Double

    /// `bins` equal bins from -range to +range; a value outside (which the caller
    /// avoids by its choice of range) is counted in the nearest end bin, so the
    /// counts always sum to the number of values. A non-positive range becomes 1.
    public init(_ values: UnsafeBufferPointer<Float>, range: Double, bins: Int = 32) {
        precondition(bins > 0, "histogram needs at least one bin")
        let r = range > 0 && range.isFinite ? range : 1
        // r·(2i − bins)/bins: exactly symmetric, the middle edge exactly 0 for even bins.
        edges = (0...bins).map { r * Double(2 * $0 - bins) / Double(bins) }
        counts = [Int](repeating: 0, count: bins)
        var lo = Double.infinity, hi = -Double.infinity, s = 0.0, s2 = 0.0
        let scale = Double(bins) / (2 * r)
        for f in values {
            let v = Double(f)
            lo = Swift.min(lo, v); hi = Swift.max(hi, v); s += v; s2 += v * v
            // The arithmetic guess can be one off near an edge: settle it against
            // the edges themselves, so a value equal to an edge opens that bin.
            var b = Swift.min(Swift.max(Int(((v + r) * scale).rounded(.down)), 0), bins - 1)
            while b + 1 < bins && v >= edges[b + 1] { b += 1 }
            while b > 0 && v < edges[b] { b -= 1 }
            counts[b] += 1
        }
        min = values.isEmpty ? 0 : lo
        max = values.isEmpty ? 0 : hi
        sum = s
        sumSquares = s2
    }

    /// The shared-file form: {"edges": [...], "counts": [...]}.
    public var json: [String: Any] { ["edges": edges, "counts": counts] }
}
