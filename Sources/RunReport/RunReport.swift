// report.html for a run folder: one self-contained page (inline SVG and CSS,
// pictures as data: URIs, no script, nothing fetched from anywhere) with the
// run's summary, training curves, per-rank timing, quantization table, weight histograms,
// integer-model parity, out-of-distribution detection and pictures.

import Foundation

public enum RunReport {
    /// The whole page for an already loaded run.
    public static func html(_ run: RunData) -> String {
        let e = HTMLText.escape
        var h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>\(e(run.name)) – gdqr run report</title>\n<style>\(style)</style></head>\n<body>\n"
        h += header(run)
        h += ReportSections.curves(run)
        h += ReportSections.ranks(run)
        h += ReportSections.quantTable(run)
        h += ReportSections.histograms(run)
        h += ReportSections.parity(run)
        h += ReportSections.ood(run)
        h += ReportSections.pictures(run)
        h += config(run)
        h += "<footer>Written by <code>gdqr report</code> from \(e(run.directory)).</footer>\n</body></html>\n"
        return h
    }

    /// Reads `runDirectory` and writes the page to `out` (default RUN/report.html)
    /// atomically; returns the path written.
    @discardableResult
    public static func write(runDirectory: String, to out: String? = nil) throws -> String {
        let run = try RunData.load(runDirectory)
        let path = out ?? (runDirectory as NSString).appendingPathComponent("report.html")
        do {
            try html(run).write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw RunReportError("cannot write \(path): \(error.localizedDescription)")
        }
        return path
    }

    static func header(_ run: RunData) -> String {
        let e = HTMLText.escape
        let s = run.summary ?? [:]
        let n = RunData.number
        var sub: [String] = []
        if let m = s["model"] as? String { sub.append(m) }
        if let mode = s["quant_mode"] as? String { sub.append("\(mode) \(s["quant_bits"] as? String ?? "")".trimmingCharacters(in: .whitespaces)) }
        else if run.summary != nil { sub.append("float (no quantization)") }
        if let w = n(s["world_size"]) { sub.append("\(HTMLText.number(w)) rank\(w == 1 ? "" : "s") × \(HTMLText.number(n(s["threads_per_rank"]))) threads") }
        var h = "<header id=\"summary\"><h1>\(e(run.name))</h1>\n"
        if !sub.isEmpty { h += "<p class=\"subtitle\">\(e(sub.joined(separator: " · ")))</p>\n" }
        guard run.summary != nil else {
            return h + ReportSections.note("No summary.json in this run folder (the run has not finished).") + "</header>\n"
        }
        // The headline figures, then every other summary value.
        let bits = s["quant_bits"] as? String
        func label(_ text: String) -> String { bits.map { "\(text) (\($0))" } ?? text }
        let percent: (String) -> String = { HTMLText.percent(n(s[$0])) }
        var cards: [(String, String, String)] = [
            ("final-accuracy", label("final test accuracy"), percent("test_accuracy")),
            ("best-accuracy", "best test accuracy", percent("best_test_accuracy")),
            ("fp32-accuracy", "FP32 test accuracy", percent("fp32_test_accuracy")),
        ]
        // Scene models: detection mAP@0.5 and COCO mAP, segmentation mIoU (background excluded).
        cards += [
            ("final-map50", label("final test mAP@0.5"), percent("test_map50")),
            ("final-map", label("final test mAP"), percent("test_map")),
            ("fp32-map50", "FP32 test mAP@0.5", percent("fp32_test_map50")),
            ("final-miou", label("final test mIoU"), percent("test_miou")),
            ("fp32-miou", "FP32 test mIoU", percent("fp32_test_miou")),
        ]
        cards += [
            // A post-training-quantization run trains nothing: 0 images/s is not a figure to show.
            ("throughput", "train images/s", n(s["images_per_second"]).flatMap { $0 > 0 ? String(format: "%.0f", $0) : nil } ?? "–"),
        ]
        h += "<div class=\"cards\">"
        for (id, label, value) in cards where value != "–" {
            h += "<div class=\"card\" id=\"card-\(id)\"><div class=\"value\">\(e(value))</div><div class=\"label\">\(e(label))</div></div>"
        }
        h += "</div>\n<details><summary>summary.json</summary><table class=\"kv\" id=\"summary-table\"><tbody>\n"
        for k in s.keys.sorted() {
            let v = s[k]!
            let text = v as? String ?? n(v).map(HTMLText.number) ?? "\(v)"
            h += "<tr><th>\(e(k))</th><td>\(e(text))</td></tr>\n"
        }
        return h + "</tbody></table></details>\n</header>\n"
    }

    static func config(_ run: RunData) -> String {
        guard let c = run.configText else {
            return ReportSections.section("config", "Config", ReportSections.note("No config.yaml in this run folder."))
        }
        return ReportSections.section("config", "Config",
            "<details><summary>config.yaml (resolved, every key)</summary><pre>\(HTMLText.escape(c))</pre></details>")
    }

    static let style = """
    body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#222;margin:24px auto;max-width:1220px;padding:0 16px;line-height:1.4}
    h1{margin:0 0 4px;font-size:26px}h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
    .subtitle{color:#555;margin:0 0 12px}.note{color:#8a5a00;background:#fff6e0;padding:6px 10px;border-left:3px solid #e0a000}
    .caption{color:#444;font-size:14px}tr.slowest-rank td{background:#fff0e8;font-weight:bold}
    .cards{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:150px}
    .card .value{font-size:24px;font-weight:bold}.card .label{color:#666;font-size:13px}
    .charts{display:grid;grid-template-columns:repeat(2,max-content);gap:12px}
    .chart-box{border:1px solid #e4e4e4;border-radius:4px}
    svg text{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;font-size:11px;fill:#333}
    svg .chart-title{font-size:13px;font-weight:bold}svg .axis-label{font-size:12px;fill:#444}
    svg .grid{stroke:#ececec;stroke-width:1}svg .frame{fill:none;stroke:#999;stroke-width:1}
    svg .plot-empty{fill:#fafafa;stroke:#ccc}svg .no-data{fill:#999;font-size:14px}
    svg .phase-mark{stroke:#555;stroke-width:1.2;stroke-dasharray:4 3}svg .phase-label{font-size:11px;fill:#555;font-style:italic}
    svg .tick-mark{stroke:#999}
    table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
    th{background:#f4f4f4}td.name,td.thresholds{text-align:left;font-family:"DejaVu Sans Mono",monospace}
    table.kv th,#quant-table th:first-child,#parity-layers th:first-child{text-align:left}
    .small-multiples{display:flex;flex-wrap:wrap;gap:10px}
    figure{margin:0}.layer-hist{border:1px solid #e4e4e4;border-radius:4px;padding:4px}
    .layer-hist figcaption{font-family:"DejaVu Sans Mono",monospace;font-size:12px;margin-bottom:2px}
    .pictures{display:flex;flex-wrap:wrap;gap:16px}.picture img,.picture svg{max-width:560px;height:auto}
    .picture figcaption{font-size:13px;color:#555}
    pre{background:#f7f7f7;padding:8px;font-size:12px;overflow:auto}
    footer{margin-top:32px;color:#777;font-size:12px}
    """
}
