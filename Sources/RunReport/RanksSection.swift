// The report's per-rank section for a multi-rank run: from metrics.jsonl's train
// records, each rank's milliseconds per step computing and blocked in all-reduces
// (compute_ms_per_step_by_rank, comm_wait_ms_per_step_by_rank: one value per rank
// per logging window), as a table of means and a chart of compute time per rank.
// The ranks wait for the slowest at every all-reduce, so a slow rank shows as the
// one that computes longest and waits least; a slow link delays every rank alike
// and shows as a large wait on all of them.

import Foundation

/// Per-rank means over a run's logging windows.
struct RankTimes: Equatable {
    /// Mean ms per step of each rank over the windows that reported it.
    var compute: [Double]
    var wait: [Double]
    /// Windows in which each rank computed longest.
    var slowestIn: [Int]
    var windows: Int

    static let computeKey = "compute_ms_per_step_by_rank"
    static let waitKey = "comm_wait_ms_per_step_by_rank"

    /// nil without a train record holding both lists for two or more ranks. Records
    /// whose lists have another length than the first such record's are left out, and so
    /// is each non-finite value (from its own mean only).
    init?(_ records: [MetricsRecord]) {
        let rows = records.filter { $0.split == "train" }.compactMap { r -> (c: [Double], w: [Double])? in
            guard let c = r.lists[Self.computeKey], let w = r.lists[Self.waitKey], c.count == w.count, c.count >= 2 else { return nil }
            return (c, w)
        }
        guard let ranks = rows.first?.c.count else { return nil }
        let kept = rows.filter { $0.c.count == ranks }
        func means(_ pick: ((c: [Double], w: [Double])) -> [Double]) -> [Double] {
            (0..<ranks).map { k in
                let v = kept.map { pick($0)[k] }.filter(\.isFinite)
                return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
            }
        }
        compute = means { $0.c }
        wait = means { $0.w }
        slowestIn = [Int](repeating: 0, count: ranks)
        for row in kept {
            let finite = row.c.enumerated().filter { $0.element.isFinite }
            if let top = finite.max(by: { $0.element < $1.element }) { slowestIn[top.offset] += 1 }
        }
        windows = kept.count
    }

    /// The rank whose mean compute time is the largest, and how much larger it is than
    /// the median of the other ranks' (0.25 = 25% more).
    var slowest: (rank: Int, excess: Double)? {
        guard let top = compute.indices.filter({ compute[$0].isFinite }).max(by: { compute[$0] < compute[$1] }) else { return nil }
        let others = compute.indices.filter { $0 != top && compute[$0].isFinite }.map { compute[$0] }.sorted()
        guard !others.isEmpty else { return nil }
        let mid = others.count / 2
        let median = others.count % 2 == 1 ? others[mid] : (others[mid - 1] + others[mid]) / 2
        return (top, median > 0 ? compute[top] / median - 1 : .infinity)
    }
}

extension ReportSections {
    static let rankColors = ["#1f6fb4", "#e4572e", "#2a9d5c", "#7b4fa0", "#c28f00", "#2b8a99", "#b5487a", "#555555"]

    static func ranks(_ run: RunData) -> String {
        let title = "Ranks"
        guard let metrics = run.metrics, let t = RankTimes(metrics) else {
            return section("ranks", title, note("No per-rank timing in metrics.jsonl (a run on one rank, or one without metrics)."))
        }
        let slowest = t.slowest
        var table = "<table class=\"ranks-table\"><thead><tr><th>rank</th><th>compute ms/step</th><th>all-reduce wait ms/step</th>"
            + "<th>waiting share</th><th>slowest in windows</th></tr></thead><tbody>\n"
        for k in t.compute.indices {
            let share = t.wait[k] / (t.wait[k] + t.compute[k])
            let mark = slowest?.rank == k ? " class=\"slowest-rank\"" : ""
            table += "<tr\(mark) data-rank=\"\(k)\"><td>\(k)</td><td>\(HTMLText.number(t.compute[k]))</td><td>\(HTMLText.number(t.wait[k]))</td>"
                + "<td>\(HTMLText.percent(share))</td><td>\(t.slowestIn[k]) of \(t.windows)</td></tr>\n"
        }
        table += "</tbody></table>\n"
        var caption = "Means over \(t.windows) logging windows of the train records. The ranks wait for the slowest at every "
            + "all-reduce: a slow rank computes longest and waits least; a slow link shows as a large wait on every rank."
        if let s = slowest {
            caption += String(format: " Rank %d computes longest: %.0f%% more than the median of the others.", s.rank, 100 * s.excess)
        }
        let series = t.compute.indices.map { k in
            ChartSeries(name: "rank \(k)", color: rankColors[k % rankColors.count],
                        points: metrics.filter { $0.split == "train" }.compactMap { r in
                            guard let c = r.lists[RankTimes.computeKey], c.count == t.compute.count, c[k].isFinite else { return nil }
                            return (r.step, c[k])
                        })
        }
        var chart = LineChart(id: "chart-rank-compute", title: "Compute per rank", xLabel: "step", yLabel: "ms per step", series: series)
        chart.yFromZero = true
        return section("ranks", title, "<p class=\"caption\">\(e(caption))</p>\n\(table)<div class=\"chart-box\">\(chart.svg())</div>")
    }
}
