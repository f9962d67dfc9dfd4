// A small strict JSON parser for the headers of the project's binary files
// (safetensors, checkpoints): objects keep their member order, duplicate keys are
// errors, nesting is bounded, numbers stay text for the caller to check, and
// every error names its byte offset in the file.

/// A parsed value; numbers keep their text.
public enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    /// For messages: "an object", "the string \"x\"", "12", ...
    public var short: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string(let s): return "the string \"\(s)\""
        case .number(let n): return n
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }
}

/// A syntax error: "invalid JSON header at byte N: what" (N counted in the file).
public struct JSONSyntaxError: Error, CustomStringConvertible, Equatable {
    public let offset: Int
    public let what: String
    public var description: String { "invalid JSON header at byte \(offset): \(what)" }
}

public struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    /// The file offset of bytes[0], for messages.
    let base: Int
    var pos = 0
    var depth = 0

    public init(bytes: UnsafeRawBufferPointer, base: Int) {
        self.bytes = bytes
        self.base = base
    }

    func fail(_ what: String) -> JSONSyntaxError { JSONSyntaxError(offset: base + pos, what: what) }

    mutating func skipSpace() {
        while pos < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[pos]) { pos += 1 }
    }

    /// The one value the bytes hold (surrounding white space allowed).
    public mutating func parseDocument() throws -> JSONValue {
        skipSpace()
        let v = try parseValue()
        skipSpace()
        if pos != bytes.count { throw fail("unexpected data after the JSON value") }
        return v
    }

    mutating func expect(_ c: UInt8) throws {
        guard pos < bytes.count else { throw fail("unexpected end, expected '\(Character(Unicode.Scalar(c)))'") }
        guard bytes[pos] == c else {
            throw fail("found '\(Character(Unicode.Scalar(bytes[pos])))', expected '\(Character(Unicode.Scalar(c)))'")
        }
        pos += 1
    }

    mutating func parseValue() throws -> JSONValue {
        guard pos < bytes.count else { throw fail("unexpected end of header") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            depth += 1
            if depth > 64 { throw fail("nesting deeper than 64") }
            defer { depth -= 1 }
            pos += 1
            var members: [(String, JSONValue)] = []
            var keys = Set<String>()
            skipSpace()
            if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                skipSpace()
                let keyPos = pos
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let k = try parseString()
                if !keys.insert(k).inserted {
                    pos = keyPos
                    throw fail("duplicate key \"\(k)\"")
                }
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                members.append((k, try parseValue()))
                skipSpace()
                guard pos < bytes.count else { throw fail("unexpected end inside an object") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                try expect(UInt8(ascii: "}"))
                return .object(members)
            }
        case UInt8(ascii: "["):
            depth += 1
            if depth > 64 { throw fail("nesting deeper than 64") }
            defer { depth -= 1 }
            pos += 1
            var items: [JSONValue] = []
            skipSpace()
            if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try parseValue())
                skipSpace()
                guard pos < bytes.count else { throw fail("unexpected end inside an array") }
                if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                try expect(UInt8(ascii: "]"))
                return .array(items)
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = pos
            while pos < bytes.count, "+-.eE0123456789".utf8.contains(bytes[pos]) { pos += 1 }
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
            guard Double(s) != nil else { pos = start; throw fail("malformed number \(s)") }
            return .number(s)
        default:
            throw fail("unexpected character '\(Character(Unicode.Scalar(bytes[pos])))'")
        }
    }

    mutating func literal(_ word: String) throws {
        for c in word.utf8 {
            guard pos < bytes.count, bytes[pos] == c else { throw fail("malformed literal, expected \(word)") }
            pos += 1
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    mutating func parseString() throws -> String {
        try expect(UInt8(ascii: "\""))
        var out = [UInt8]()
        while true {
            guard pos < bytes.count else { throw fail("unterminated string") }
            let c = bytes[pos]
            pos += 1
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { pos -= 1; throw fail("control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard pos < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5c)
            case UInt8(ascii: "/"): out.append(0x2f)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var cp = try hex4()
                if (0xD800..<0xDC00).contains(cp) {
                    guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    pos += 2
                    let lo = try hex4()
                    guard (0xDC00..<0xE000).contains(lo) else { throw fail("invalid low surrogate in \\u escape") }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(cp) else { throw fail("invalid code point in \\u escape") }
                out += Array(String(scalar).utf8)
            default:
                pos -= 1
                throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }
}
