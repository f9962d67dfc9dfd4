// JSON string literals for the files the project writes by hand (safetensors and
// checkpoint headers, benchmark lines, COCO annotation and result files): one
// escaping rule for all (RFC 8259, section 7: quote, backslash and control
// characters escaped; everything else verbatim, UTF-8).

import Foundation

public enum JSONText {
    /// `s` as a JSON string literal, quotes included.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
