// The report's sections, each an HTML fragment built from RunData: training
// curves, the per-layer quantization table, weight histograms, the integer
// model's parity and the run's pictures. A section whose input file is absent
// is still present (with its id) but holds only a one-line note saying why.

import Foundation

enum ReportSections {
    static let e = HTMLText.escape

    static func section(_ id: String, _ title: String, _ body: String) -> String {
        "<section id=\"\(id)\"><h2>\(e(title))</h2>\n\(body)\n</section>\n"
    }

    static func note(_ text: String) -> String { "<p class=\"note\">\(e(text))</p>" }

    // MARK: curves

    /// Where the phase changes, in step order: a mark at the last step of the
    /// previous phase, labelled with the new phase.
    static func phaseMarks(_ records: [MetricsRecord]) -> (first: String?, marks: [PhaseMark]) {
        let sorted = records.enumerated().sorted { ($0.element.step, $0.offset) < ($1.element.step, $1.offset) }.map { $0.element }
        guard let first = sorted.first else { return (nil, []) }
        var marks: [PhaseMark] = []
        var current = first.phase, lastStep = first.step
        for r in sorted.dropFirst() {
            if r.phase != current {
                marks.append(PhaseMark(x: lastStep, label: r.phase))
                current = r.phase
            }
            lastStep = r.step
        }
        return (first.phase, marks)
    }

    static func series(_ records: [MetricsRecord], split: String, key: String) -> [(x: Double, y: Double)] {
        records.filter { $0.split == split }.compactMap { r in r.values[key].map { (r.step, $0) } }.sorted { $0.x < $1.x }
    }

    static func curves(_ run: RunData) -> String {
        guard let metrics = run.metrics else {
            return section("curves", "Training curves", note("No metrics.jsonl in this run folder: no curves."))
        }
        let (first, marks) = phaseMarks(metrics)
        let train = "#1f6fb4", test = "#e4572e"
        func chart(_ id: String, _ title: String, _ yLabel: String, _ s: [ChartSeries]) -> LineChart {
            var c = LineChart(id: id, title: title, xLabel: "step", yLabel: yLabel, series: s)
            c.phases = marks; c.firstPhase = first
            return c
        }
        var loss = chart("chart-loss", "Loss", "cross-entropy", [
            ChartSeries(name: "train", color: train, points: series(metrics, split: "train", key: "loss")),
            ChartSeries(name: "test", color: test, points: series(metrics, split: "test", key: "loss"), markers: true)])
        loss.yFromZero = true
        let acc = chart("chart-accuracy", "Accuracy", "top-1 accuracy", [
            ChartSeries(name: "train", color: train, points: series(metrics, split: "train", key: "accuracy")),
            ChartSeries(name: "test", color: test, points: series(metrics, split: "test", key: "accuracy"), markers: true)])
        var lr = chart("chart-lr", "Learning rate", "learning rate", [
            ChartSeries(name: "lr", color: "#2a9d5c", points: series(metrics, split: "train", key: "lr"))])
        lr.yFromZero = true
        var ips = chart("chart-throughput", "Throughput", "images/s", [
            ChartSeries(name: "images/s", color: "#7b4fa0", points: series(metrics, split: "train", key: "images_per_second"))])
        ips.yFromZero = true
        let charts = [loss, acc, lr, ips].map { "<div class=\"chart-box\">\($0.svg())</div>" }.joined(separator: "\n")
        let counts = "\(metrics.filter { $0.split == "train" }.count) train and \(metrics.filter { $0.split == "test" }.count) test records from metrics.jsonl"
        let phaseText = marks.isEmpty ? "" : "; dashed lines mark where a phase ends and the next begins"
        return section("curves", "Training curves", "<p class=\"caption\">\(e(counts + phaseText)).</p>\n<div class=\"charts\">\n\(charts)\n</div>")
    }

    // MARK: quantization

    static func quantTable(_ run: RunData) -> String {
        guard let q = run.quantization else {
            return section("quantization", "Quantization",
                           note("No quantization.json in this run folder (a float run, or written by an older trainer): the per-layer table is omitted."))
        }
        var caption = "\(q.layers.count) quantized layers"
        if let p = q.phase { caption += ", phase \(p)" }
        if let s = q.step { caption += ", step \(HTMLText.number(s))" }
        if let ep = q.epoch { caption += ", epoch \(HTMLText.number(ep))" }
        caption += ". Thresholds T_g per weight group; clip fractions are the share of values beyond the threshold."
        var t = "<table id=\"quant-table\"><thead><tr><th>layer</th><th>kind</th><th>W bits</th><th>A bits</th><th>groups</th>"
        t += "<th>weight thresholds T<sub>g</sub></th><th>W clipped</th><th>A threshold</th><th>A clipped</th></tr></thead><tbody>\n"
        for l in q.layers {
            let bits = { (b: Int?) in b.map(String.init) ?? "–" }
            let th = l.weightThresholds.isEmpty ? "–" : l.weightThresholds.map { String(format: "%.4g", $0) }.joined(separator: ", ")
            t += "<tr class=\"quant-layer\" data-layer=\"\(e(l.name))\"><td class=\"name\">\(e(l.name))</td><td>\(e(l.kind))</td>"
            t += "<td>\(bits(l.weightBits))</td><td>\(bits(l.activationBits))</td><td>\(bits(l.groups))</td>"
            t += "<td class=\"thresholds\">\(e(th))</td><td>\(HTMLText.percent(l.weightClipFraction))</td>"
            t += "<td>\(l.activationThreshold.map { String(format: "%.4g", $0) } ?? "–")</td><td>\(HTMLText.percent(l.activationClipFraction))</td></tr>\n"
        }
        t += "</tbody></table>"
        return section("quantization", "Quantization", "<p class=\"caption\">\(e(caption))</p>\n\(t)")
    }

    static func histograms(_ run: RunData) -> String {
        let title = "Weight distributions"
        guard let q = run.quantization else {
            return section("histograms", title, note("No quantization.json in this run folder: no weight histograms."))
        }
        let layers = q.layers.filter { $0.histogramBefore != nil || $0.histogramAfter != nil }
        if layers.isEmpty { return section("histograms", title, note("quantization.json holds no weight histograms.")) }
        var body = "<p class=\"caption\">Per layer: the float weights (blue) and the weights the layer uses after Scale-Clip and quantization (orange), over the same bins from −max|w| to +max|w|.</p>\n<div class=\"small-multiples\">\n"
        for l in layers {
            body += "<figure class=\"layer-hist\" data-layer=\"\(e(l.name))\"><figcaption>\(e(l.name))</figcaption>"
            if let b = l.histogramBefore { body += HistogramChart(title: "float weights", histogram: b, color: "#4c78a8").svg() }
            if let a = l.histogramAfter { body += HistogramChart(title: "quantized weights", histogram: a, color: "#f58518").svg() }
            body += "</figure>\n"
        }
        return section("histograms", title, body + "</div>")
    }

    // MARK: parity

    static func parity(_ run: RunData) -> String {
        guard let p = run.parity else {
            return section("parity", "Integer model parity",
                           note("No parity.json in this run folder: write it with `gdqr eval RUN/model-wXaY.gdqr --compare RUN --json > RUN/parity.json`."))
        }
        let n = RunData.number
        let rows: [(String, String)] = [
            ("model", p["model"] as? String ?? "–"),
            ("test images", HTMLText.number(n(p["images"]))),
            ("integer engine accuracy", HTMLText.percent(n(p["accuracy_integer"]))),
            ("fake-quant float accuracy", HTMLText.percent(n(p["accuracy_fakequant"]))),
            ("top-1 agreement", HTMLText.percent(n(p["agreement"]))),
            ("max |logit difference|", HTMLText.number(n(p["max_abs_logit_diff"]))),
            ("mean |logit difference|", HTMLText.number(n(p["mean_abs_logit_diff"]))),
            ("integer engine images/s", HTMLText.number(n(p["images_per_second_integer"]).map { $0.rounded() })),
            ("fake-quant images/s", HTMLText.number(n(p["images_per_second_fakequant"]).map { $0.rounded() })),
            ("FP32 forward images/s", HTMLText.number(n(p["images_per_second_fp32"]).map { $0.rounded() })),
        ].filter { $0.1 != "–" }
        var body = "<table id=\"parity-summary\" class=\"kv\"><tbody>\n"
        for (k, v) in rows { body += "<tr><th>\(e(k))</th><td>\(e(v))</td></tr>\n" }
        body += "</tbody></table>\n"
        if let layers = p["layers"] as? [[String: Any]], !layers.isEmpty {
            body += "<p class=\"caption\">Per quantized activation: the largest difference in quantization steps between the integer engine and the fake-quant model, and the fraction of levels that differ.</p>\n"
            body += "<table id=\"parity-layers\"><thead><tr><th>activation</th><th>max step difference</th><th>levels differing</th></tr></thead><tbody>\n"
            for l in layers {
                let name = l["name"] as? String ?? "?"
                let frac = n(l["mismatch_fraction"]).map { $0 == 0 ? "0" : String(format: "%.2e", $0) } ?? "–"
                body += "<tr class=\"parity-layer\" data-layer=\"\(e(name))\"><td class=\"name\">\(e(name))</td><td>\(HTMLText.number(n(l["max_step_diff"])))</td><td>\(frac)</td></tr>\n"
            }
            body += "</tbody></table>"
        }
        return section("parity", "Integer model parity", body)
    }

    // MARK: pictures

    /// An SVG file is inlined when it is a plain drawing; one that could run code
    /// or load something from elsewhere is shown as an image (where it can do neither).
    static func pictureHTML(_ pic: Picture) -> String {
        switch pic.kind {
        case .png:
            return "<img alt=\"\(e(pic.name))\" src=\"data:image/png;base64,\(pic.data.base64EncodedString())\">"
        case .svg:
            var text = String(decoding: pic.data, as: UTF8.self)
            if let r = text.range(of: "<svg") { text = String(text[r.lowerBound...]) }
            let lower = text.lowercased()
            let risky = ["<script", "javascript:", "<foreignobject", "href=\"http", "href='http", "url(http", "<!entity"]
            let handler = lower.range(of: "\\son[a-z]+\\s*=", options: .regularExpression) != nil
            let plain = text.hasPrefix("<svg") && !handler && !risky.contains { lower.contains($0) }
            if plain { return text }
            return "<img alt=\"\(e(pic.name))\" src=\"data:image/svg+xml;base64,\(pic.data.base64EncodedString())\">"
        }
    }

    static func pictures(_ run: RunData) -> String {
        guard !run.pictures.isEmpty else {
            return section("pictures", "Pictures", note("No pictures/ folder with PNG or SVG files in this run folder."))
        }
        let figs = run.pictures.map {
            "<figure class=\"picture\" data-file=\"\(e($0.name))\">\(pictureHTML($0))<figcaption>\(e($0.name))</figcaption></figure>"
        }.joined(separator: "\n")
        return section("pictures", "Pictures", "<div class=\"pictures\">\n\(figs)\n</div>")
    }
}
