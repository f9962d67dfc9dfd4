import XCTest
@testable import RunReport

/// Reading run folders and assembling the page: every section present with its
/// id, a note where the input file is missing, errors that name the file and line.
final class RunFolderReportTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "runreport-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func put(_ name: String, _ text: String) throws {
        let p = (dir as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
    }

    static let metrics = """
    {"accuracy":0.26,"comm_exposed_fraction":0,"epoch":0.1,"images_per_second":443.2,"loss":2.05,"lr":0.01,"phase":"fp32","split":"train","step":50}
    {"accuracy":0.58,"comm_exposed_fraction":0,"epoch":0.2,"images_per_second":479.9,"loss":1.13,"lr":0.02,"phase":"fp32","split":"train","step":100}
    {"accuracy":0.73,"epoch":1,"loss":0.79,"phase":"fp32","split":"test","step":100}

    {"accuracy":0.78,"comm_exposed_fraction":0,"epoch":0.1,"images_per_second":222.9,"loss":null,"lr":0.001,"phase":"w4a4","split":"train","step":150}
    {"accuracy":0.80,"epoch":1,"loss":0.6,"phase":"w4a4","split":"test","step":200}
    """

    static func layerJSON(_ name: String) -> String {
        let edges = (0...4).map { String(Double($0) / 2 - 1) }.joined(separator: ",")
        return """
        {"name":"\(name)","kind":"conv","weight_bits":4,"activation_bits":4,"groups":2,
         "weight_thresholds":[0.31,0.27],"weight_clip_fraction":0.013,"activation_threshold":1.83,
         "activation_clip_fraction":0.021,
         "weight_histogram_before":{"edges":[\(edges)],"counts":[1,5,6,2]},
         "weight_histogram_after":{"edges":[\(edges)],"counts":[3,3,4,4]}}
        """
    }

    func testParseMetrics() throws {
        let r = try RunData.parseMetrics(Self.metrics, file: "m.jsonl")
        XCTAssertEqual(r.count, 5)
        XCTAssertEqual(r[0].values["loss"], 2.05)
        XCTAssertEqual(r[2].split, "test")
        XCTAssertNil(r[3].values["loss"])            // null: not a point
        XCTAssertEqual(r[3].values["step"], 150)
        XCTAssertEqual(r[4].values["epoch"], 1)      // integers count as numbers
        let (first, marks) = ReportSections.phaseMarks(r)
        XCTAssertEqual(first, "fp32")
        XCTAssertEqual(marks.map { $0.x }, [100])    // the last step of fp32
        XCTAssertEqual(marks.map { $0.label }, ["w4a4"])
    }

    func testMalformedMetricsLineNamesFileAndLine() throws {
        // Line 4 is blank (skipped but counted); the truncated record is line 7.
        try put("metrics.jsonl", Self.metrics + "\n{\"split\":\"train\",\"step\":3,\"loss\":")
        XCTAssertThrowsError(try RunData.load(dir)) {
            XCTAssertEqual("\($0)", "\(dir)/metrics.jsonl line 7: not valid JSON: {\"split\":\"train\",\"step\":3,\"loss\":")
        }
        try put("metrics.jsonl", "{\"split\":\"train\",\"step\":1}\n[1,2]\n")
        XCTAssertThrowsError(try RunData.load(dir)) {
            XCTAssertEqual("\($0)", "\(dir)/metrics.jsonl line 2: expected a JSON object")
        }
        try put("metrics.jsonl", "{\"split\":\"train\",\"loss\":1}\n")
        XCTAssertThrowsError(try RunData.load(dir)) {
            XCTAssertEqual("\($0)", "\(dir)/metrics.jsonl line 1: missing numeric \"step\"")
        }
    }

    func testMalformedQuantizationAndSummaryNameTheFile() throws {
        try put("quantization.json", "{\"layers\":[{\"name\":\"fc\",\"weight_histogram_before\":{\"edges\":[0,1],\"counts\":[1,2]}}]}")
        XCTAssertThrowsError(try RunData.load(dir)) {
            XCTAssertEqual("\($0)", "\(dir)/quantization.json: layer fc: weight_histogram_before: histogram has 2 edges for 2 counts (needs counts + 1)")
        }
        try FileManager.default.removeItem(atPath: dir + "/quantization.json")
        try put("summary.json", "[1]")
        XCTAssertThrowsError(try RunData.load(dir)) { XCTAssertEqual("\($0)", "\(dir)/summary.json: expected a JSON object") }
        XCTAssertThrowsError(try RunData.load(dir + "/nope")) {
            XCTAssertEqual("\($0)", "\(dir)/nope: not a run folder (no such directory)")
        }
    }

    /// An empty folder: every section is there, holding its note, and no chart.
    func testMissingFilesGiveNotes() throws {
        let html = RunReport.html(try RunData.load(dir))
        for id in ["summary", "curves", "ranks", "quantization", "histograms", "parity", "ood", "pictures", "config"] {
            XCTAssertTrue(html.contains("id=\"\(id)\""), id)
        }
        XCTAssertTrue(html.contains("No metrics.jsonl in this run folder"))
        XCTAssertTrue(html.contains("No per-rank timing in metrics.jsonl"))
        XCTAssertTrue(html.contains("No quantization.json in this run folder"))
        XCTAssertTrue(html.contains("No parity.json in this run folder"))
        XCTAssertTrue(html.contains("No ood-*.json in this run folder"))
        XCTAssertTrue(html.contains("No summary.json in this run folder"))
        XCTAssertTrue(html.contains("No pictures/ folder"))
        XCTAssertFalse(html.contains("<svg"))
        XCTAssertFalse(html.contains("id=\"quant-table\""))
        XCTAssertTrue(html.contains("<h1>\((dir as NSString).lastPathComponent)</h1>"))
    }

    func testFullFolder() throws {
        try put("config.yaml", "name: <run&1>\nmodel:\n  arch: resnet\n")
        try put("metrics.jsonl", Self.metrics)
        try put("summary.json", "{\"model\":\"resnet20 (width 16)\",\"quant_mode\":\"gdqr\",\"quant_bits\":\"w4a4\",\"test_accuracy\":0.9269,\"fp32_test_accuracy\":0.9404,\"world_size\":1,\"threads_per_rank\":2}")
        try put("quantization.json", "{\"phase\":\"w4a4\",\"step\":200,\"epoch\":1,\"layers\":[\(Self.layerJSON("layer1.0.conv1")),\(Self.layerJSON("fc<x>")),{\"name\":\"stem\",\"kind\":\"conv\",\"weight_bits\":null,\"activation_bits\":8,\"groups\":null,\"weight_thresholds\":[],\"weight_clip_fraction\":null,\"activation_threshold\":2.5,\"activation_clip_fraction\":0.001}]}")
        try put("parity.json", "{\"agreement\":0.998,\"accuracy_integer\":0.9262,\"accuracy_fakequant\":0.9269,\"images\":10000,\"max_abs_logit_diff\":0.25,\"layers\":[{\"name\":\"a1\",\"max_step_diff\":1,\"mismatch_fraction\":0.0001}]}")
        try put("pictures/b.svg", "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"pic-b\"><rect width=\"4\" height=\"4\"/></svg>")
        try put("pictures/c.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"></svg>")
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3])
        try png.write(to: URL(fileURLWithPath: dir + "/pictures/a.png"))
        try put("pictures/notes.txt", "ignored")

        let out = try RunReport.write(runDirectory: dir)
        XCTAssertEqual(out, dir + "/report.html")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(html.contains("<h1>&lt;run&amp;1&gt;</h1>"))
        XCTAssertTrue(html.contains("resnet20 (width 16) · gdqr w4a4 · 1 rank × 2 threads"))
        XCTAssertTrue(html.contains(">92.69%</div><div class=\"label\">final test accuracy (w4a4)"))
        XCTAssertTrue(html.contains(">94.04%</div><div class=\"label\">FP32 test accuracy"))
        for id in ["chart-loss", "chart-accuracy", "chart-lr", "chart-throughput"] { XCTAssertTrue(html.contains("id=\"\(id)\""), id) }
        XCTAssertEqual(html.components(separatedBy: "class=\"phase-mark\"").count - 1, 4)
        XCTAssertEqual(html.components(separatedBy: "<tr class=\"quant-layer\"").count - 1, 3)
        XCTAssertTrue(html.contains("data-layer=\"fc&lt;x&gt;\""))
        XCTAssertTrue(html.contains("<td class=\"thresholds\">0.31, 0.27</td><td>1.30%</td><td>1.83</td><td>2.10%</td>"))
        XCTAssertTrue(html.contains("<td>–</td><td>8</td><td>–</td>"))   // the stem: activations only
        XCTAssertEqual(html.components(separatedBy: "<figure class=\"layer-hist\"").count - 1, 2)
        XCTAssertEqual(html.components(separatedBy: "class=\"histogram\"").count - 1, 4)
        XCTAssertTrue(html.contains("<tr><th>top-1 agreement</th><td>99.80%</td></tr>"))
        XCTAssertTrue(html.contains("<tr class=\"parity-layer\" data-layer=\"a1\"><td class=\"name\">a1</td><td>1</td><td>1.00e-04</td></tr>"))
        XCTAssertTrue(html.contains("src=\"data:image/png;base64,\(png.base64EncodedString())\""))
        XCTAssertTrue(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"pic-b\">"))   // inlined, prolog dropped
        XCTAssertFalse(html.contains("<?xml"))
        XCTAssertFalse(html.contains("onload"))     // an SVG with a handler becomes an image
        XCTAssertTrue(html.contains("data:image/svg+xml;base64,"))
        XCTAssertFalse(html.contains("notes.txt"))
        XCTAssertEqual(["a.png", "b.svg", "c.svg"].map { html.range(of: "data-file=\"\($0)\"")!.lowerBound },
                       ["a.png", "b.svg", "c.svg"].map { html.range(of: "data-file=\"\($0)\"")!.lowerBound }.sorted())
        // Self-contained: nothing fetched, no script.
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
    }

    /// A post-training-quantization run: a summary but no metrics and no training throughput.
    func testPTQRunWithoutMetrics() throws {
        try put("summary.json", "{\"quant_mode\":\"ptq-minmax\",\"quant_bits\":\"w4a4\",\"test_accuracy\":0.9277,\"images_per_second\":0}")
        let html = RunReport.html(try RunData.load(dir))
        XCTAssertTrue(html.contains(">92.77%</div><div class=\"label\">final test accuracy (w4a4)"))
        XCTAssertFalse(html.contains("card-throughput"))
        XCTAssertFalse(html.contains("card-fp32-accuracy"))
        XCTAssertTrue(html.contains("No metrics.jsonl in this run folder: no curves."))
        XCTAssertTrue(html.contains("<p class=\"subtitle\">ptq-minmax w4a4</p>"))
    }

    func testOutOption() throws {
        try put("metrics.jsonl", Self.metrics)
        let other = dir + "/elsewhere.html"
        XCTAssertEqual(try RunReport.write(runDirectory: dir, to: other), other)
        XCTAssertTrue(FileManager.default.fileExists(atPath: other))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/report.html"))
    }
}

extension RunFolderReportTests {
    /// An ood-*.json of `gdqr eval --ood --save`: a table row per set and score, one ROC chart per set.
    func testOODSection() throws {
        try put("ood-integer.json", """
            {"model":"m.gdqr","model_kind":"integer","temperature":1,"in_distribution":{"source":"t<1>","images":600,"accuracy":0.9},
             "ood":[{"name":"heldout","images":400,"scores":{"msp":{"auroc":0.8125,"aupr_in":0.5,"aupr_out":0.25,"fpr95":0.75,
             "roc":[[0,0],[0.5,0.9],[1,1]]}}}]}
            """)
        let html = RunReport.html(try RunData.load(dir))
        XCTAssertTrue(html.contains("<h3>ood-integer.json: integer model m.gdqr</h3>"))
        XCTAssertTrue(html.contains("600 images of t&lt;1&gt;, accuracy 90.00%"))
        XCTAssertTrue(html.contains("<tr><td>heldout</td><td>400</td><td>max softmax</td><td>0.8125</td><td>0.5000</td><td>0.2500</td><td>0.7500</td></tr>"))
        XCTAssertEqual(html.components(separatedBy: "id=\"ood-roc-").count - 1, 1)
        XCTAssertFalse(html.contains("No ood-*.json"))
    }
}
