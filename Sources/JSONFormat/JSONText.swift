// JSON string literals for the files the project writes by hand (safetensors and
// checkpoint headers, benchmark lines, COCO annotation and result files), and
// the double-quoted scalars of the resolved config YAML: one escaping rule for
// all. Quote, backslash, newline, carriage return and tab take their short
// escapes; the other control characters and DEL become \uXXXX (upper-case hex);
// everything else stays verbatim (UTF-8). That is valid JSON (RFC 8259, section
// 7) and valid YAML (1.2, double-quoted style), whose printable set excludes
// the C0 controls and DEL.

import Foundation

public enum JSONText {
    /// `s` as a JSON string literal (or YAML double-quoted scalar), quotes included.
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
                if u.value < 0x20 || u.value == 0x7f {
                    out += String(format: "\\u%04X", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
