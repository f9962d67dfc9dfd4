// The report's out-of-distribution section: one block per RUN/ood-*.json written by
// `gdqr eval MODEL --ood SET ... --save RUN/ood-NAME.json`: the model and its
// in-distribution accuracy, a table of AUROC, AUPR and FPR95 per set and score,
// and the ROC curves of each set (one line per score) as inline SVG.

import Foundation

extension RunData {
    /// The ood-*.json files of a run folder, sorted by name, parsed.
    static func loadOOD(_ directory: String) throws -> [(file: String, report: [String: Any])] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("ood") && $0.hasSuffix(".json") }.sorted()
        return try names.map { n in
            let p = (directory as NSString).appendingPathComponent(n)
            guard let d = FileManager.default.contents(atPath: p), let s = String(data: d, encoding: .utf8) else {
                throw RunReportError("\(p): cannot read")
            }
            return (n, try jsonObject(s, file: p))
        }
    }
}

extension ReportSections {
    static let oodScores: [(key: String, label: String, color: String)] = [
        ("msp", "max softmax", "#1f6fb4"), ("max_logit", "max logit", "#e4572e"),
        ("energy", "energy", "#2a9d5c"), ("mahalanobis", "Mahalanobis", "#7b4fa0"),
    ]

    static func ood(_ run: RunData) -> String {
        let title = "Out-of-distribution detection"
        guard !run.ood.isEmpty else {
            return section("ood", title, note("No ood-*.json in this run folder: write one with `gdqr eval MODEL --ood heldout --save RUN/ood-NAME.json`."))
        }
        let n = RunData.number
        var body = ""
        for (bi, (file, r)) in run.ood.enumerated() {
            let id = r["in_distribution"] as? [String: Any] ?? [:]
            body += "<h3>\(e(file)): \(e(r["model_kind"] as? String ?? "?")) model \(e(r["model"] as? String ?? ""))</h3>\n"
            body += "<p class=\"caption\">In-distribution: \(e(HTMLText.number(n(id["images"])))) images of \(e(id["source"] as? String ?? "?")), accuracy \(e(HTMLText.percent(n(id["accuracy"])))); energy temperature \(e(HTMLText.number(n(r["temperature"])))).</p>\n"
            body += "<table class=\"ood-table\"><thead><tr><th>set</th><th>images</th><th>score</th><th>AUROC</th><th>AUPR-in</th><th>AUPR-out</th><th>FPR95</th></tr></thead><tbody>\n"
            var charts: [String] = []
            for (si, set) in ((r["ood"] as? [[String: Any]]) ?? []).enumerated() {
                let name = set["name"] as? String ?? "?"
                let scores = set["scores"] as? [String: [String: Any]] ?? [:]
                var series: [ChartSeries] = []
                for s in oodScores {
                    guard let m = scores[s.key] else { continue }
                    let cells = ["auroc", "aupr_in", "aupr_out", "fpr95"].map { n(m[$0]).map { String(format: "%.4f", $0) } ?? "–" }
                    body += "<tr><td>\(e(name))</td><td>\(e(HTMLText.number(n(set["images"]))))</td><td>\(e(s.label))</td>"
                        + cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
                    let pts = (m["roc"] as? [[Any]] ?? []).compactMap { p -> (x: Double, y: Double)? in
                        guard p.count == 2, let x = n(p[0]), let y = n(p[1]) else { return nil }
                        return (x, y)
                    }
                    series.append(ChartSeries(name: s.label, color: s.color, points: pts))
                }
                var chart = LineChart(id: "ood-roc-\(bi)-\(si)", title: "ROC: \(name)", xLabel: "false-positive rate (OOD accepted)",
                                      yLabel: "true-positive rate (ID kept)", series: series)
                chart.yRange = 0...1
                charts.append("<div class=\"chart-box\">\(chart.svg())</div>")
            }
            body += "</tbody></table>\n<div class=\"charts\">\n\(charts.joined(separator: "\n"))\n</div>\n"
        }
        return section("ood", title, body)
    }
}
