// An inline SVG histogram of one layer's weights: bars over given bin edges,
// with the outer edges and zero labelled on the x axis and the tallest count on
// the y axis. The report draws two per layer (float weights, then the weights
// the layer uses after Scale-Clip and quantization) as small multiples.

import Foundation

public struct Histogram: Equatable {
    public var edges: [Double]
    public var counts: [Double]

    /// Checks the shape a histogram must have: n + 1 increasing finite edges for
    /// n non-negative counts.
    public init(edges: [Double], counts: [Double]) throws {
        guard !counts.isEmpty, edges.count == counts.count + 1 else {
            throw RunReportError("histogram has \(edges.count) edges for \(counts.count) counts (needs counts + 1)")
        }
        guard edges.allSatisfy({ $0.isFinite }), zip(edges, edges.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw RunReportError("histogram edges are not finite and increasing")
        }
        guard counts.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw RunReportError("histogram counts must be finite and non-negative")
        }
        self.edges = edges; self.counts = counts
    }
}

public struct HistogramChart {
    public var title: String
    public var histogram: Histogram
    public var color: String
    public var width = 250.0
    public var height = 130.0
    let left = 40.0, right = 8.0, top = 20.0, bottom = 22.0

    public init(title: String, histogram: Histogram, color: String) {
        self.title = title; self.histogram = histogram; self.color = color
    }

    /// The bars as (x, y, width, height) in pixels; the tallest bar fills the plot.
    func bars() -> [(x: Double, y: Double, w: Double, h: Double)] {
        let h = histogram, lo = h.edges.first!, hi = h.edges.last!
        let maxCount = max(h.counts.max() ?? 0, 1)
        let pw = width - left - right, ph = height - top - bottom
        return h.counts.indices.map { i in
            let xa = left + (h.edges[i] - lo) / (hi - lo) * pw
            let xb = left + (h.edges[i + 1] - lo) / (hi - lo) * pw
            let bh = h.counts[i] / maxCount * ph
            return (xa, height - bottom - bh, xb - xa, bh)
        }
    }

    public func svg() -> String {
        let e = HTMLText.escape
        let f = { (v: Double) in String(format: "%.2f", v) }
        let h = histogram
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"histogram\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\">"
        s += "<title>\(e(title))</title>"
        s += "<text class=\"chart-title\" x=\"\(f(left))\" y=\"13\">\(e(title))</text>"
        let x0 = left, x1 = width - right, y0 = top, y1 = height - bottom
        for b in bars() where b.h > 0 {
            s += "<rect class=\"bar\" x=\"\(f(b.x))\" y=\"\(f(b.y))\" width=\"\(f(max(b.w - 0.5, 0.5)))\" height=\"\(f(b.h))\" fill=\"\(e(color))\"/>"
        }
        s += "<rect class=\"frame\" x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(x1 - x0))\" height=\"\(f(y1 - y0))\"/>"
        let lo = h.edges.first!, hi = h.edges.last!
        var xs: [(Double, String)] = [(lo, HTMLText.number(lo)), (hi, HTMLText.number(hi))]
        if lo < 0 && hi > 0 { xs.append((0, "0")) }
        for (v, label) in xs {
            let x = x0 + (v - lo) / (hi - lo) * (x1 - x0)
            let anchor = v == lo ? "start" : v == hi ? "end" : "middle"
            s += "<line class=\"tick-mark\" x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(y1))\" y2=\"\(f(y1 + 3))\"/>"
            s += "<text class=\"tick x-tick\" x=\"\(f(x))\" y=\"\(f(y1 + 14))\" text-anchor=\"\(anchor)\">\(e(label))</text>"
        }
        let maxCount = h.counts.max() ?? 0
        s += "<text class=\"tick y-tick\" x=\"\(f(x0 - 4))\" y=\"\(f(y0 + 8))\" text-anchor=\"end\">\(e(HTMLText.number(maxCount)))</text>"
        s += "<text class=\"tick y-tick\" x=\"\(f(x0 - 4))\" y=\"\(f(y1))\" text-anchor=\"end\">0</text>"
        return s + "</svg>"
    }
}
