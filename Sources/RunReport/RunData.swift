// Reads what a run folder holds for the report: config.yaml (as text, plus its
// top-level `name`), metrics.jsonl, summary.json, quantization.json,
// parity.json and the pictures/ folder. A missing file is not an error (the
// report omits that section with a note); a malformed one is, naming the file
// (and for metrics.jsonl the line).

import Foundation

public struct RunReportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// One line of metrics.jsonl.
public struct MetricsRecord {
    public var split: String        // "train" or "test"
    public var phase: String        // "fp32", "w4a4", "psg", ...
    public var step: Double
    public var values: [String: Double]   // every numeric field (loss, accuracy, lr, ...)
    /// Every field that is a list of numbers (the per-rank lists of a multi-rank run).
    public var lists: [String: [Double]] = [:]
}

public struct QuantLayer {
    public var name: String
    public var kind: String
    public var weightBits: Int?
    public var activationBits: Int?
    public var groups: Int?
    public var weightThresholds: [Double]
    public var weightClipFraction: Double?
    public var activationThreshold: Double?
    public var activationClipFraction: Double?
    public var histogramBefore: Histogram?
    public var histogramAfter: Histogram?
}

public struct QuantizationState {
    public var phase: String?
    public var step: Double?
    public var epoch: Double?
    public var layers: [QuantLayer]
}

public struct Picture {
    public enum Kind { case png, svg }
    public var name: String
    public var kind: Kind
    public var data: Data
}

public struct RunData {
    public var directory: String
    public var name: String
    public var configText: String?
    public var metrics: [MetricsRecord]?
    public var summary: [String: Any]?
    public var quantization: QuantizationState?
    public var parity: [String: Any]?
    /// The ood-*.json reports of `gdqr eval --ood --save`, by file name.
    public var ood: [(file: String, report: [String: Any])] = []
    public var pictures: [Picture]

    public static func load(_ directory: String) throws -> RunData {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw RunReportError("\(directory): not a run folder (no such directory)")
        }
        func path(_ n: String) -> String { (directory as NSString).appendingPathComponent(n) }
        func text(_ n: String) throws -> String? {
            let p = path(n)
            guard fm.fileExists(atPath: p) else { return nil }
            guard let d = fm.contents(atPath: p) else { throw RunReportError("\(p): cannot read") }
            guard let s = String(data: d, encoding: .utf8) else { throw RunReportError("\(p): not UTF-8 text") }
            return s
        }
        let config = try text("config.yaml")
        let folderName = ((directory as NSString).standardizingPath as NSString).lastPathComponent
        var run = RunData(directory: directory, name: config.flatMap(configName) ?? folderName,
                          configText: config, metrics: nil, summary: nil, quantization: nil, parity: nil,
                          pictures: [])
        if let t = try text("metrics.jsonl") { run.metrics = try parseMetrics(t, file: path("metrics.jsonl")) }
        if let t = try text("summary.json") { run.summary = try jsonObject(t, file: path("summary.json")) }
        if let t = try text("quantization.json") {
            run.quantization = try parseQuantization(jsonObject(t, file: path("quantization.json")), file: path("quantization.json"))
        }
        if let t = try text("parity.json") { run.parity = try jsonObject(t, file: path("parity.json")) }
        run.ood = try loadOOD(directory)
        run.pictures = try loadPictures(path("pictures"))
        return run
    }

    /// The top-level `name:` of the resolved config (a plain scalar, optionally quoted).
    static func configName(_ yaml: String) -> String? {
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) where line.hasPrefix("name:") {
            var v = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            if v.count >= 2, let q = v.first, (q == "\"" || q == "'"), v.last == q { v = String(v.dropFirst().dropLast()) }
            return v.isEmpty ? nil : v
        }
        return nil
    }

    static func jsonObject(_ text: String, file: String) throws -> [String: Any] {
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            throw RunReportError("\(file): not valid JSON")
        }
        guard let d = obj as? [String: Any] else { throw RunReportError("\(file): expected a JSON object") }
        return d
    }

    /// metrics.jsonl: one JSON object per line with at least `split` and `step`; blank lines are skipped.
    public static func parseMetrics(_ text: String, file: String) throws -> [MetricsRecord] {
        var out: [MetricsRecord] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let where_ = "\(file) line \(i + 1)"
            if line.allSatisfy({ $0 == " " || $0 == "\r" || $0 == "\t" }) { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) else {
                throw RunReportError("\(where_): not valid JSON: \(line.prefix(60))")
            }
            guard let d = obj as? [String: Any] else { throw RunReportError("\(where_): expected a JSON object") }
            guard let split = d["split"] as? String else { throw RunReportError("\(where_): missing \"split\"") }
            guard let step = number(d["step"]) else { throw RunReportError("\(where_): missing numeric \"step\"") }
            var values: [String: Double] = [:]
            var lists: [String: [Double]] = [:]
            for (k, v) in d {
                if let n = number(v) { values[k] = n }
                // A list of numbers; null (how a non-finite value is written) is NaN.
                if let a = v as? [Any], !a.isEmpty {
                    let ns = a.compactMap { $0 is NSNull ? .nan : number($0) }
                    if ns.count == a.count { lists[k] = ns }
                }
            }
            out.append(MetricsRecord(split: split, phase: d["phase"] as? String ?? "", step: step, values: values, lists: lists))
        }
        return out
    }

    /// A JSON number as Double (null, strings and booleans give nil).
    static func number(_ v: Any?) -> Double? {
        guard let n = v as? NSNumber else { return nil }
        // Booleans bridge to NSNumber too; their objCType is "c" (char).
        if String(cString: n.objCType) == "c" { return nil }
        return n.doubleValue
    }

    static func parseQuantization(_ d: [String: Any], file: String) throws -> QuantizationState {
        guard let layers = d["layers"] as? [Any] else { throw RunReportError("\(file): missing \"layers\" array") }
        var out: [QuantLayer] = []
        for (i, l) in layers.enumerated() {
            guard let o = l as? [String: Any], let name = o["name"] as? String else {
                throw RunReportError("\(file): layers[\(i)] needs a \"name\"")
            }
            func hist(_ key: String) throws -> Histogram? {
                guard let h = o[key], !(h is NSNull) else { return nil }
                guard let hd = h as? [String: Any], let e = hd["edges"] as? [Any], let c = hd["counts"] as? [Any] else {
                    throw RunReportError("\(file): layer \(name): \(key) needs \"edges\" and \"counts\" arrays")
                }
                let edges = e.compactMap(number), counts = c.compactMap(number)
                guard edges.count == e.count, counts.count == c.count else {
                    throw RunReportError("\(file): layer \(name): \(key) holds a non-number")
                }
                do { return try Histogram(edges: edges, counts: counts) } catch let err as RunReportError {
                    throw RunReportError("\(file): layer \(name): \(key): \(err.description)")
                }
            }
            out.append(QuantLayer(
                name: name, kind: o["kind"] as? String ?? "",
                weightBits: number(o["weight_bits"]).map { Int($0) },
                activationBits: number(o["activation_bits"]).map { Int($0) },
                groups: number(o["groups"]).map { Int($0) },
                weightThresholds: (o["weight_thresholds"] as? [Any] ?? []).compactMap(number),
                weightClipFraction: number(o["weight_clip_fraction"]),
                activationThreshold: number(o["activation_threshold"]),
                activationClipFraction: number(o["activation_clip_fraction"]),
                histogramBefore: try hist("weight_histogram_before"),
                histogramAfter: try hist("weight_histogram_after")))
        }
        return QuantizationState(phase: d["phase"] as? String, step: number(d["step"]), epoch: number(d["epoch"]), layers: out)
    }

    /// pictures/*.png and pictures/*.svg, sorted by name.
    static func loadPictures(_ dir: String) throws -> [Picture] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var out: [Picture] = []
        for n in names.sorted() {
            let ext = (n as NSString).pathExtension.lowercased()
            guard ext == "png" || ext == "svg" else { continue }
            let p = (dir as NSString).appendingPathComponent(n)
            guard let d = FileManager.default.contents(atPath: p) else { throw RunReportError("\(p): cannot read") }
            if ext == "png" && !d.starts(with: [0x89, 0x50, 0x4E, 0x47]) { throw RunReportError("\(p): not a PNG file") }
            out.append(Picture(name: n, kind: ext == "png" ? .png : .svg, data: d))
        }
        return out
    }
}
