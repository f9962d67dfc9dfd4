// Schema lookups, defaults and the generated Markdown reference.

import Foundation

/// The configuration schema. `sections` is defined in ConfigSections.swift.
public enum ConfigSchema {
    /// Every key path ("seed", "optim.lr", ...) in schema order.
    public static var allPaths: [String] {
        sections.flatMap { s in s.keys.map { s.path(of: $0.name) } }
    }

    /// The section with this name ("" = top level).
    public static func section(named name: String) -> ConfigSection? { sections.first { $0.name == name } }

    /// The key at "section.key" or "key" (top level).
    public static func key(at path: String) -> ConfigKey? {
        let parts = path.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 { return section(named: "")?.key(named: parts[0]) }
        return section(named: parts[0])?.key(named: parts[1])
    }

    /// Names of the non-top-level sections.
    public static var sectionNames: [String] { sections.map(\.name).filter { !$0.isEmpty } }

    /// Every key's default; `name` gets `runName`.
    public static func defaults(runName: String) -> [String: ConfigValue] {
        var out: [String: ConfigValue] = [:]
        for s in sections {
            for k in s.keys { out[s.path(of: k.name)] = k.defaultValue }
        }
        out["name"] = .string(runName)
        return out
    }

    /// The canonical YAML of resolved values: every key, schema order, one format.
    public static func canonicalYAML(_ values: [String: ConfigValue]) -> String {
        var out = "# gdqr resolved config: every key, defaults included\n"
        for s in sections {
            let indent = s.name.isEmpty ? "" : "  "
            if !s.name.isEmpty { out += "\(s.name):\n" }
            for k in s.keys {
                let v = values[s.path(of: k.name)] ?? k.defaultValue
                out += "\(indent)\(k.name): \(ConfigFormat.scalar(v))\n"
            }
        }
        return out
    }

    /// The configuration reference in Markdown: one table per section
    /// (key, type, default, range / choices, description).
    public static func markdownReference() -> String {
        func cell(_ s: String) -> String {
            s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "*", with: "\\*")
                .replacingOccurrences(of: "\n", with: " ")
        }
        var out = "Every key is optional; a missing key takes its default. Unknown keys are errors. "
            + "Override any key on the command line with `--set section.key=value` (repeatable).\n"
        for s in sections {
            out += "\n### " + (s.name.isEmpty ? "Top level" : "`\(s.name)`") + "\n\n"
            out += s.doc + "\n\n"
            out += "| key | type | default | range / choices | description |\n"
            out += "|---|---|---|---|---|\n"
            for k in s.keys {
                let def = k.defaultText.map { "(\($0))" } ?? "`\(ConfigFormat.scalar(k.defaultValue))`"
                let constraint = k.constraintText
                out += "| `\(s.path(of: k.name))` | \(k.type.name) | \(cell(def)) | "
                    + "\(constraint.isEmpty ? "" : cell(constraint)) | \(cell(k.doc)) |\n"
            }
        }
        return out
    }
}
