// An inline SVG line chart: one or more series against a shared x axis, with
// "nice" ticks (1, 2, 5 times a power of ten), axis labels, a legend and
// vertical marks where the training phase changes (fp32 -> w4a4, ...).

import Foundation

/// Tick positions for an axis: equally spaced multiples of 1, 2 or 5 x 10^k that
/// cover [lo, hi]; the axis range is [first, last].
public struct AxisTicks: Equatable {
    public let values: [Double]
    public let step: Double
    public var lo: Double { values.first! }
    public var hi: Double { values.last! }

    /// About `target` intervals covering [lo, hi]. An empty interval (one point, or
    /// all values equal) is widened by 5% of the value (or by 1 around zero).
    public init(lo inLo: Double, hi inHi: Double, target: Int = 5) {
        var lo = min(inLo, inHi), hi = max(inLo, inHi)
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if hi - lo <= max(abs(lo), abs(hi)) * 1e-12 {
            let pad = lo == 0 ? 1 : abs(lo) * 0.05
            lo -= pad; hi += pad
        }
        let raw = (hi - lo) / Double(max(target, 1))
        let mag = pow(10, (log10(raw)).rounded(.down))
        let f = raw / mag
        let step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag
        let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
        // Multiples of the step, computed from integers so that 0.3 prints as 0.3.
        values = stride(from: first, through: last, by: 1).map { $0 * step }
        self.step = step
    }

    /// A tick label with as many decimals as the step needs.
    public func label(_ v: Double) -> String {
        if step >= 1e6 || step < 1e-4 { return v == 0 ? "0" : String(format: "%.1e", v) }
        let decimals = max(0, Int((-log10(step) - 1e-9).rounded(.up)))
        let s = String(format: "%.\(decimals)f", v)
        return s == "-0" ? "0" : s
    }
}

public struct ChartSeries {
    public var name: String
    public var color: String
    public var points: [(x: Double, y: Double)]
    /// Circles at each point: for sparse series (test evaluations) and single points.
    public var markers: Bool
    public var dashed: Bool

    public init(name: String, color: String, points: [(x: Double, y: Double)], markers: Bool = false, dashed: Bool = false) {
        self.name = name; self.color = color; self.markers = markers; self.dashed = dashed
        self.points = ChartSeries.thin(points.filter { $0.x.isFinite && $0.y.isFinite })
    }

    /// A long run logged every step would put 10^5 points in one polyline; no
    /// chart 500 pixels wide shows more than ~1000. Above `limit` points, keeps
    /// the lowest and highest point of each of limit/2 consecutive runs (in x
    /// order), so spikes and the extremes stay visible.
    static func thin(_ p: [(x: Double, y: Double)], limit: Int = 1600) -> [(x: Double, y: Double)] {
        guard p.count > limit else { return p }
        let buckets = limit / 2
        var out: [(x: Double, y: Double)] = []
        out.reserveCapacity(limit)
        for b in 0..<buckets {
            let lo = b * p.count / buckets, hi = (b + 1) * p.count / buckets
            var iMin = lo, iMax = lo
            for i in lo..<hi {
                if p[i].y < p[iMin].y { iMin = i }
                if p[i].y > p[iMax].y { iMax = i }
            }
            for i in Set([iMin, iMax]).sorted() { out.append(p[i]) }
        }
        return out
    }
}

/// A vertical line at `x` (a phase boundary) labelled with the phase that starts there.
public struct PhaseMark {
    public var x: Double
    public var label: String
    public init(x: Double, label: String) { self.x = x; self.label = label }
}

public struct LineChart {
    public var id: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [ChartSeries]
    public var phases: [PhaseMark] = []
    /// The first phase's name, written at the left of the plot.
    public var firstPhase: String?
    /// A fixed y range (accuracy: 0...1); otherwise the data's range, with zero
    /// included when `yFromZero`.
    public var yRange: ClosedRange<Double>?
    public var yFromZero = false
    public var width = 580.0
    public var height = 300.0

    // Plot area inside the margins (axis labels left and below, title above).
    let left = 66.0, right = 26.0, top = 34.0, bottom = 46.0

    public init(id: String, title: String, xLabel: String, yLabel: String, series: [ChartSeries]) {
        self.id = id; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
    }

    var allPoints: [(x: Double, y: Double)] { series.flatMap { $0.points } }

    /// The x axis: the data's steps and the phase marks.
    public var xTicks: AxisTicks {
        let xs = allPoints.map { $0.x } + phases.map { $0.x }
        return AxisTicks(lo: xs.min() ?? 0, hi: xs.max() ?? 1)
    }

    public var yTicks: AxisTicks {
        if let r = yRange { return AxisTicks(lo: r.lowerBound, hi: r.upperBound) }
        let ys = allPoints.map { $0.y }
        var lo = ys.min() ?? 0, hi = ys.max() ?? 1
        if yFromZero { lo = min(lo, 0); hi = max(hi, 0) }
        return AxisTicks(lo: lo, hi: hi)
    }

    /// Pixel coordinates of a data point.
    func px(_ x: Double, _ xt: AxisTicks) -> Double {
        left + (x - xt.lo) / (xt.hi - xt.lo) * (width - left - right)
    }
    func py(_ y: Double, _ yt: AxisTicks) -> Double {
        height - bottom - (y - yt.lo) / (yt.hi - yt.lo) * (height - top - bottom)
    }

    public func svg() -> String {
        let e = HTMLText.escape
        let f = { (v: Double) in String(format: "%.1f", v) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"\(e(id))\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\">"
        s += "<title>\(e(title))</title>"
        s += "<text class=\"chart-title\" x=\"\(f(left))\" y=\"18\">\(e(title))</text>"
        let x0 = left, x1 = width - right, y0 = top, y1 = height - bottom
        guard !allPoints.isEmpty else {
            s += "<rect x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(x1 - x0))\" height=\"\(f(y1 - y0))\" class=\"plot-empty\"/>"
            s += "<text class=\"no-data\" x=\"\(f((x0 + x1) / 2))\" y=\"\(f((y0 + y1) / 2))\" text-anchor=\"middle\">no data</text></svg>"
            return s
        }
        let xt = xTicks, yt = yTicks
        // Grid and tick labels.
        for v in yt.values {
            let y = py(v, yt)
            s += "<line class=\"grid\" x1=\"\(f(x0))\" x2=\"\(f(x1))\" y1=\"\(f(y))\" y2=\"\(f(y))\"/>"
            s += "<text class=\"tick y-tick\" x=\"\(f(x0 - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(e(yt.label(v)))</text>"
        }
        for v in xt.values {
            let x = px(v, xt)
            s += "<line class=\"grid\" x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(y0))\" y2=\"\(f(y1))\"/>"
            s += "<text class=\"tick x-tick\" x=\"\(f(x))\" y=\"\(f(y1 + 16))\" text-anchor=\"middle\">\(e(xt.label(v)))</text>"
        }
        s += "<rect class=\"frame\" x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(x1 - x0))\" height=\"\(f(y1 - y0))\"/>"
        s += "<text class=\"axis-label\" x=\"\(f((x0 + x1) / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(e(xLabel))</text>"
        s += "<text class=\"axis-label\" transform=\"translate(14 \(f((y0 + y1) / 2))) rotate(-90)\" text-anchor=\"middle\">\(e(yLabel))</text>"
        // Phase boundaries.
        if let firstPhase {
            s += "<text class=\"phase-label\" x=\"\(f(x0 + 4))\" y=\"\(f(y0 + 12))\">\(e(firstPhase))</text>"
        }
        for m in phases {
            let x = px(m.x, xt)
            s += "<line class=\"phase-mark\" x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(y0))\" y2=\"\(f(y1))\"/>"
            s += "<text class=\"phase-label\" x=\"\(f(x + 4))\" y=\"\(f(y0 + 12))\">\(e(m.label))</text>"
        }
        // Series.
        for sr in series where !sr.points.isEmpty {
            let pts = sr.points.map { "\(f(px($0.x, xt))),\(f(py($0.y, yt)))" }.joined(separator: " ")
            let dash = sr.dashed ? " stroke-dasharray=\"5 3\"" : ""
            s += "<g class=\"series\" data-series=\"\(e(sr.name))\">"
            if sr.points.count > 1 {
                s += "<polyline fill=\"none\" stroke=\"\(e(sr.color))\" stroke-width=\"1.6\"\(dash) points=\"\(pts)\"/>"
            }
            if sr.markers || sr.points.count == 1 {
                for p in sr.points {
                    s += "<circle cx=\"\(f(px(p.x, xt)))\" cy=\"\(f(py(p.y, yt)))\" r=\"2.6\" fill=\"\(e(sr.color))\"/>"
                }
            }
            s += "</g>"
        }
        // Legend, right-aligned in the title row.
        var lx = x1
        for sr in series.reversed() {
            let w = 26 + 6.5 * Double(sr.name.count)
            lx -= w
            s += "<line x1=\"\(f(lx))\" x2=\"\(f(lx + 18))\" y1=\"14\" y2=\"14\" stroke=\"\(e(sr.color))\" stroke-width=\"2.5\"/>"
            s += "<text class=\"legend\" x=\"\(f(lx + 22))\" y=\"18\">\(e(sr.name))</text>"
        }
        return s + "</svg>"
    }
}
