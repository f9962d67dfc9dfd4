import XCTest
@testable import RunReport

/// The SVG builders: ticks and axis ranges, pixel positions against hand-computed
/// values, escaping, and empty or one-point series.
final class ChartTests: XCTestCase {
    func testTicksCoverTheDataWithNiceSteps() {
        let t = AxisTicks(lo: 0.013, hi: 0.97)
        XCTAssertEqual(t.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(t.values.count, 6)
        XCTAssertEqual(t.lo, 0, accuracy: 1e-12)
        XCTAssertEqual(t.hi, 1.0, accuracy: 1e-12)
        XCTAssertEqual(t.values.map(t.label), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])

        let steps = AxisTicks(lo: 50, hi: 9380)
        XCTAssertEqual(steps.step, 2000)
        XCTAssertEqual(steps.values, [0, 2000, 4000, 6000, 8000, 10000])
        XCTAssertEqual(steps.label(4000), "4000")

        let lr = AxisTicks(lo: 0, hi: 0.1)
        XCTAssertEqual(lr.step, 0.02, accuracy: 1e-15)
        XCTAssertEqual(lr.label(lr.values[3]), "0.06")

        let neg = AxisTicks(lo: -0.37, hi: 0.21)
        XCTAssertEqual(neg.step, 0.2, accuracy: 1e-15)
        XCTAssertEqual(neg.lo, -0.4, accuracy: 1e-12)
        XCTAssertEqual(neg.hi, 0.4, accuracy: 1e-12)
        XCTAssertEqual(neg.label(0), "0.0")

        let tiny = AxisTicks(lo: 0, hi: 3e-6)
        XCTAssertEqual(tiny.label(tiny.values[1]), "1.0e-06")
    }

    func testDegenerateRangesAreWidened() {
        let one = AxisTicks(lo: 50, hi: 50)
        XCTAssertLessThan(one.lo, 50); XCTAssertGreaterThan(one.hi, 50)
        XCTAssertEqual(one.step, 1)   // 47.5...52.5 in about five intervals
        XCTAssertEqual(one.values, [47, 48, 49, 50, 51, 52, 53])
        let zero = AxisTicks(lo: 0, hi: 0)
        XCTAssertEqual(zero.lo, -1); XCTAssertEqual(zero.hi, 1)
        let nan = AxisTicks(lo: .nan, hi: 3)
        XCTAssertEqual(nan.lo, 0); XCTAssertEqual(nan.hi, 1)
    }

    /// Points land where the linear map of the axis range onto the plot area puts them.
    func testPointPixelPositions() {
        var c = LineChart(id: "c", title: "t", xLabel: "x", yLabel: "y",
                          series: [ChartSeries(name: "s", color: "#000", points: [(0, 0), (10, 1), (5, 0.5)])])
        c.width = 576; c.height = 300   // plot 66...550 by 34...254
        XCTAssertEqual(c.xTicks.lo, 0); XCTAssertEqual(c.xTicks.hi, 10)
        XCTAssertEqual(c.yTicks.lo, 0); XCTAssertEqual(c.yTicks.hi, 1)
        XCTAssertEqual(c.px(5, c.xTicks), 66 + 242)
        XCTAssertEqual(c.py(1, c.yTicks), 34)
        XCTAssertEqual(c.py(0, c.yTicks), 254)
        let svg = c.svg()
        XCTAssertTrue(svg.contains("points=\"66.0,254.0 550.0,34.0 308.0,144.0\""), svg)
    }

    func testYFromZeroAndFixedRange() {
        var c = LineChart(id: "c", title: "t", xLabel: "x", yLabel: "y",
                          series: [ChartSeries(name: "s", color: "#000", points: [(0, 200), (1, 480)])])
        XCTAssertEqual(c.yTicks.lo, 200)
        c.yFromZero = true
        XCTAssertEqual(c.yTicks.lo, 0); XCTAssertEqual(c.yTicks.hi, 500)
        c.yRange = 0...1
        XCTAssertEqual(c.yTicks.hi, 1)
    }

    func testEmptyChartSaysNoData() {
        let c = LineChart(id: "empty", title: "Loss", xLabel: "step", yLabel: "loss",
                          series: [ChartSeries(name: "train", color: "#000", points: [])])
        let svg = c.svg()
        XCTAssertTrue(svg.contains(">no data</text>"))
        XCTAssertFalse(svg.contains("<polyline"))
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
    }

    func testOnePointIsAMarkerNotALine() {
        let c = LineChart(id: "one", title: "t", xLabel: "x", yLabel: "y",
                          series: [ChartSeries(name: "test", color: "#f00", points: [(469, 0.7377)])])
        let svg = c.svg()
        XCTAssertFalse(svg.contains("<polyline"))
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 1)
    }

    func testNonFinitePointsAreDropped() {
        let s = ChartSeries(name: "loss", color: "#000", points: [(1, 2), (2, .nan), (3, .infinity), (4, 1)])
        XCTAssertEqual(s.points.count, 2)
    }

    func testPhaseMarksAndEscapedLabels() {
        var c = LineChart(id: "c", title: "<Loss & co>", xLabel: "step", yLabel: "y",
                          series: [ChartSeries(name: "a\"b", color: "#000", points: [(0, 1), (100, 2)])])
        c.phases = [PhaseMark(x: 50, label: "w4<a4>")]
        c.firstPhase = "fp32"
        let svg = c.svg()
        XCTAssertTrue(svg.contains("class=\"phase-mark\""))
        XCTAssertTrue(svg.contains(">w4&lt;a4&gt;</text>"))
        XCTAssertTrue(svg.contains(">&lt;Loss &amp; co&gt;</text>"))
        XCTAssertTrue(svg.contains("data-series=\"a&quot;b\""))
        XCTAssertFalse(svg.contains("<Loss"))
        XCTAssertFalse(svg.contains("w4<a4>"))
    }

    func testEscape() {
        XCTAssertEqual(HTMLText.escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;")
        XCTAssertEqual(HTMLText.escape("layer1.0.conv1 µ"), "layer1.0.conv1 µ")
    }

    func testHistogramBarsAndValidation() throws {
        let h = try Histogram(edges: [-1, 0, 1, 2], counts: [2, 4, 0])
        var c = HistogramChart(title: "w", histogram: h, color: "#00f")
        c.width = 348; c.height = 142   // plot 40...340 by 20...120
        let b = c.bars()
        XCTAssertEqual(b.count, 3)
        XCTAssertEqual(b[0].x, 40); XCTAssertEqual(b[0].w, 100)
        XCTAssertEqual(b[1].h, 100); XCTAssertEqual(b[1].y, 20)   // the tallest fills the plot
        XCTAssertEqual(b[0].h, 50)
        XCTAssertEqual(b[2].h, 0)
        let svg = c.svg()
        XCTAssertEqual(svg.components(separatedBy: "class=\"bar\"").count - 1, 2)   // empty bins draw nothing

        XCTAssertThrowsError(try Histogram(edges: [0, 1], counts: [1, 2])) {
            XCTAssertEqual("\($0)", "histogram has 2 edges for 2 counts (needs counts + 1)")
        }
        XCTAssertThrowsError(try Histogram(edges: [0, 2, 1], counts: [1, 2])) {
            XCTAssertEqual("\($0)", "histogram edges are not finite and increasing")
        }
        XCTAssertThrowsError(try Histogram(edges: [0, 1, 2], counts: [1, -2])) {
            XCTAssertEqual("\($0)", "histogram counts must be finite and non-negative")
        }
    }
}

final class ThinningTests: XCTestCase {
    /// Long series keep at most the limit, the extremes of every stretch, and x order.
    func testLongSeriesAreThinnedKeepingExtremes() {
        let n = 10_000
        var pts: [(x: Double, y: Double)] = (0..<n).map { i in (x: Double(i), y: sin(Double(i) / 100)) }
        pts[4321].y = 50
        pts[777].y = -9
        let s = ChartSeries(name: "loss", color: "#000", points: pts)
        XCTAssertLessThanOrEqual(s.points.count, 1600)
        XCTAssertGreaterThan(s.points.count, 800)
        XCTAssertTrue(s.points.contains { $0.x == 4321 && $0.y == 50 })
        XCTAssertTrue(s.points.contains { $0.x == 777 && $0.y == -9 })
        XCTAssertEqual(s.points.map { $0.x }, s.points.map { $0.x }.sorted())
        // Every stretch of 10000/800 points is represented by its own min and max.
        for b in [0, 399, 799] {
            let lo = b * n / 800, hi = (b + 1) * n / 800
            let ys: [Double] = pts[lo..<hi].map { $0.y }
            let kept: [Double] = s.points.filter { $0.x >= Double(lo) && $0.x < Double(hi) }.map { $0.y }
            XCTAssertTrue(kept.contains(ys.max()!))
            XCTAssertTrue(kept.contains(ys.min()!))
            XCTAssertLessThanOrEqual(kept.count, 2)
        }
        let short = ChartSeries(name: "a", color: "#000", points: Array(pts[0..<1600]))
        XCTAssertEqual(short.points.count, 1600)
    }
}
