// Escaping and number formatting shared by the SVG and HTML builders. Every
// string that comes from a run folder (layer names, phases, config text, file
// names) goes through `escape` before it reaches the page.

import Foundation

public enum HTMLText {
    /// Escapes the five characters that are special in HTML text and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// A fraction as a percentage with two decimals ("92.69%").
    public static func percent(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%.2f%%", 100 * v)
    }

    /// A general number: integers without decimals, small or large values in
    /// exponent form, otherwise four significant digits.
    public static func number(_ v: Double?) -> String {
        guard let v else { return "–" }
        guard v.isFinite else { return v.isNaN ? "NaN" : (v > 0 ? "∞" : "−∞") }
        if v == v.rounded() && abs(v) < 1e9 { return String(format: "%.0f", v) }
        let a = abs(v)
        if a < 1e-3 || a >= 1e6 { return String(format: "%.3g", v) }
        return String(format: "%.4g", v)
    }
}
