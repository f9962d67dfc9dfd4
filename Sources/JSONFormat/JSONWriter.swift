// The JSON files the run writes (summary.json, metrics.jsonl, quantization.json,
// parity reports): JSONSerialization with sorted keys, non-finite numbers as null.

import Foundation

/// Minimal JSON output with sorted keys, so files diff cleanly between runs.
public enum JSON {
    public static func line(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: sanitize(object), options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    public static func pretty(_ object: [String: Any]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: sanitize(object), options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// JSON has no NaN or infinity: such values are written as null.
    private static func sanitize(_ v: Any) -> Any {
        switch v {
        case let d as Double: return d.isFinite ? d : NSNull()
        case let f as Float: return f.isFinite ? Double(f) : NSNull()
        case let o as [String: Any]: return o.mapValues(sanitize)
        case let a as [Any]: return a.map(sanitize)
        default: return v
        }
    }
}
