// The declarative configuration schema: value types, ranges, keys and sections.
//
// One list of sections (ConfigSections.swift) is the single source of truth for
// the defaults, the strict validation in ConfigLoader, the typed RunConfig and
// the Markdown reference (ConfigReference.swift).

import Foundation
import JSONFormat
import Distributed
import TensorEngine

/// A resolved configuration value.
public enum ConfigValue: Equatable, Sendable {
    case int(Int)
    case float(Double)
    case bool(Bool)
    /// Strings and enum values (the raw choice).
    case string(String)
    case intList([Int])
    case floatList([Double])
    case stringList([String])
}

/// The type of a configuration key.
public enum ConfigType: Equatable, Sendable {
    case int
    case float
    case bool
    case string
    /// A string restricted to the given choices.
    case enumeration([String])
    case intList
    case floatList
    case stringList

    /// Short name used in the reference table.
    public var name: String {
        switch self {
        case .int: return "int"
        case .float: return "float"
        case .bool: return "bool"
        case .string: return "string"
        case .enumeration: return "enum"
        case .intList: return "list of int"
        case .floatList: return "list of float"
        case .stringList: return "list of string"
        }
    }

    /// What a value of this type is, for error messages ("is not an integer").
    var expectation: String {
        switch self {
        case .int: return "an integer"
        case .float: return "a number"
        case .bool: return "a bool (true or false)"
        case .string: return "a string"
        case .enumeration(let choices): return "one of: " + choices.joined(separator: ", ")
        case .intList: return "a list of integers, e.g. [10, 20]"
        case .floatList: return "a list of numbers, e.g. [0.5, 1.0]"
        case .stringList: return "a list of strings, e.g. [a, b]"
        }
    }

    var isList: Bool {
        switch self {
        case .intList, .floatList, .stringList: return true
        default: return false
        }
    }
}

/// A numeric interval. For list types it applies to every element.
public struct ConfigRange: Equatable, Sendable {
    public var min: Double?
    public var minExclusive: Bool
    public var max: Double?
    public var maxExclusive: Bool

    public init(min: Double?, minExclusive: Bool = false, max: Double?, maxExclusive: Bool = false) {
        self.min = min
        self.minExclusive = minExclusive
        self.max = max
        self.maxExclusive = maxExclusive
    }

    /// min ... max, both inclusive.
    public static func between(_ lo: Double, _ hi: Double) -> ConfigRange { ConfigRange(min: lo, max: hi) }
    /// >= lo.
    public static func atLeast(_ lo: Double) -> ConfigRange { ConfigRange(min: lo, max: nil) }
    /// > lo.
    public static func above(_ lo: Double) -> ConfigRange { ConfigRange(min: lo, minExclusive: true, max: nil) }
    /// > lo and <= hi.
    public static func above(_ lo: Double, atMost hi: Double) -> ConfigRange {
        ConfigRange(min: lo, minExclusive: true, max: hi)
    }

    public func contains(_ x: Double) -> Bool {
        if x.isNaN { return false }
        if let lo = min, minExclusive ? !(x > lo) : !(x >= lo) { return false }
        if let hi = max, maxExclusive ? !(x < hi) : !(x <= hi) { return false }
        return true
    }

    /// "1 ... 65536", ">= 0", "> 0", "> 0, <= 10".
    public func text(integer: Bool) -> String {
        func f(_ x: Double) -> String {
            integer || (x == x.rounded() && abs(x) < 1e15) ? String(Int(x)) : ConfigFormat.float(x)
        }
        switch (min, max) {
        case let (lo?, hi?) where !minExclusive && !maxExclusive: return "\(f(lo)) ... \(f(hi))"
        case let (lo?, hi?): return "\(minExclusive ? ">" : ">=") \(f(lo)), \(maxExclusive ? "<" : "<=") \(f(hi))"
        case let (lo?, nil): return "\(minExclusive ? ">" : ">=") \(f(lo))"
        case let (nil, hi?): return "\(maxExclusive ? "<" : "<=") \(f(hi))"
        case (nil, nil): return "any"
        }
    }
}

/// A check beyond type and range, applied to the value (or to each element of a list).
public struct ConfigRule: Sendable {
    /// Shown in the reference table and in the error message.
    public let description: String
    public let check: @Sendable (ConfigValue) -> Bool

    public init(_ description: String, _ check: @escaping @Sendable (ConfigValue) -> Bool) {
        self.description = description
        self.check = check
    }
}

/// One configuration key.
public struct ConfigKey: Sendable {
    public let name: String
    public let type: ConfigType
    public let defaultValue: ConfigValue
    public let range: ConfigRange?
    public let rule: ConfigRule?
    /// One-line documentation.
    public let doc: String
    /// Replaces the printed default in the reference (e.g. "file name").
    public let defaultText: String?

    public init(name: String, type: ConfigType, defaultValue: ConfigValue, range: ConfigRange? = nil,
                rule: ConfigRule? = nil, doc: String, defaultText: String? = nil) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.range = range
        self.rule = rule
        self.doc = doc
        self.defaultText = defaultText
    }

    static func int(_ name: String, _ def: Int, _ range: ConfigRange? = nil, rule: ConfigRule? = nil,
                    _ doc: String) -> ConfigKey {
        ConfigKey(name: name, type: .int, defaultValue: .int(def), range: range, rule: rule, doc: doc)
    }
    static func float(_ name: String, _ def: Double, _ range: ConfigRange? = nil, _ doc: String) -> ConfigKey {
        ConfigKey(name: name, type: .float, defaultValue: .float(def), range: range, doc: doc)
    }
    static func bool(_ name: String, _ def: Bool, _ doc: String) -> ConfigKey {
        ConfigKey(name: name, type: .bool, defaultValue: .bool(def), doc: doc)
    }
    static func string(_ name: String, _ def: String, rule: ConfigRule? = nil, defaultText: String? = nil,
                       _ doc: String) -> ConfigKey {
        ConfigKey(name: name, type: .string, defaultValue: .string(def), rule: rule, doc: doc,
                  defaultText: defaultText)
    }
    static func choice<E: CaseIterable & RawRepresentable>(_ name: String, _ def: E, _ doc: String) -> ConfigKey
        where E.RawValue == String {
        ConfigKey(name: name, type: .enumeration(E.allCases.map(\.rawValue)), defaultValue: .string(def.rawValue),
                  doc: doc)
    }
    static func intList(_ name: String, _ def: [Int], _ range: ConfigRange? = nil, _ doc: String) -> ConfigKey {
        ConfigKey(name: name, type: .intList, defaultValue: .intList(def), range: range, doc: doc)
    }
    static func floatList(_ name: String, _ def: [Double], _ range: ConfigRange? = nil, _ doc: String) -> ConfigKey {
        ConfigKey(name: name, type: .floatList, defaultValue: .floatList(def), range: range, doc: doc)
    }
    static func stringList(_ name: String, _ def: [String], rule: ConfigRule? = nil, _ doc: String) -> ConfigKey {
        ConfigKey(name: name, type: .stringList, defaultValue: .stringList(def), rule: rule, doc: doc)
    }

    /// The range or choices column of the reference ("" when unconstrained).
    public var constraintText: String {
        var parts: [String] = []
        if case .enumeration(let choices) = type { parts.append(choices.joined(separator: ", ")) }
        if let range {
            let integer = type == .int || type == .intList
            parts.append((type.isList ? "each " : "") + range.text(integer: integer))
        }
        if let rule { parts.append(rule.description) }
        return parts.joined(separator: "; ")
    }

    /// Checks a value of the right type against choices, range and rule.
    /// Returns the error kind and the text after "'path' = value ", or nil when valid.
    func problem(with value: ConfigValue) -> (ConfigError.Kind, String)? {
        if case .enumeration(let choices) = type, case .string(let s) = value, !choices.contains(s) {
            return (.badChoice, "is not one of: " + choices.joined(separator: ", "))
        }
        let elements: [ConfigValue]
        switch value {
        case .intList(let xs): elements = xs.map { .int($0) }
        case .floatList(let xs): elements = xs.map { .float($0) }
        case .stringList(let xs): elements = xs.map { .string($0) }
        default: elements = [value]
        }
        for element in elements {
            let prefix = type.isList ? "has element \(ConfigFormat.scalar(element)) that " : ""
            if let range {
                let x: Double?
                switch element {
                case .int(let i): x = Double(i)
                case .float(let d): x = d
                default: x = nil
                }
                if let x, !range.contains(x) {
                    return (.outOfRange,
                            prefix + "is out of range (\(range.text(integer: type == .int || type == .intList)))")
                }
            }
            if let rule, !rule.check(element) {
                return (.outOfRange, prefix + "is not allowed (\(rule.description))")
            }
        }
        return nil
    }
}

/// A group of keys: a YAML mapping under `name`, or the top level when `name` is empty.
public struct ConfigSection: Sendable {
    public let name: String
    public let doc: String
    public let keys: [ConfigKey]

    public init(name: String, doc: String, keys: [ConfigKey]) {
        self.name = name
        self.doc = doc
        self.keys = keys
    }

    public func key(named key: String) -> ConfigKey? { keys.first { $0.name == key } }

    /// "optim.lr", or "seed" for the top level.
    public func path(of key: String) -> String { name.isEmpty ? key : "\(name).\(key)" }
}

/// The configuration error: one type, with a message naming the file or override,
/// the key, the value and what was expected.
public struct ConfigError: ExitStatusError, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case io, syntax, unknownSection, unknownKey, duplicateKey, wrongType, outOfRange, badChoice,
             badOverride, invalid
    }
    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    public var errorDescription: String? { description }

    /// A config error is a usage error: exit status 2.
    public var exitStatus: Int32 { 2 }
}

/// Canonical text of values: used by the resolved YAML (and so by the hash) and the reference.
enum ConfigFormat {
    /// Shortest round-trip representation; always has a '.' or an exponent so YAML reads it as a float.
    static func float(_ x: Double) -> String {
        var s = "\(x)"
        if !s.contains(".") && !s.contains("e") && !s.contains("n") && !s.contains("i") { s += ".0" }
        return s
    }

    private static let plainWords: Set<String> = [
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~", "",
    ]

    /// A string as a YAML scalar: plain when unambiguous, double-quoted otherwise.
    static func string(_ s: String, inFlow: Bool = false) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./")
        let plain = !inFlow && !s.isEmpty && s.allSatisfy { allowed.contains($0) }
            && !plainWords.contains(s.lowercased()) && !(s.first.map { "-.0123456789".contains($0) } ?? true)
        // YAML's double-quoted style takes JSON's escapes (and must escape DEL too, as JSONText does).
        return plain ? s : JSONText.quoted(s)
    }

    static func scalar(_ v: ConfigValue) -> String {
        switch v {
        case .int(let i): return String(i)
        case .float(let d): return float(d)
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return string(s)
        case .intList(let xs): return "[" + xs.map(String.init).joined(separator: ", ") + "]"
        case .floatList(let xs): return "[" + xs.map(float).joined(separator: ", ") + "]"
        case .stringList(let xs): return "[" + xs.map { string($0, inFlow: true) }.joined(separator: ", ") + "]"
        }
    }
}
