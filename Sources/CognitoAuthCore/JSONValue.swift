import FoundationEssentials

/// A JSON value that keeps the JSON type of every member, so claim checks can refuse a claim of the
/// wrong type (`exp` as a string, `cognito:groups` as a string) instead of coercing it.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var numberValue: Double? { if case .number(let n) = self { return n } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }

    /// Parses a JSON document whose top level must be an object (strictly: see `StrictJSON`).
    /// Returns nil for anything else.
    public static func parseObject<D: DataProtocol>(_ data: D) -> [String: JSONValue]? {
        StrictJSON.parse(Array(data))?.objectValue
    }

    /// The same for Data without a generic detour (token parts take this path).
    public static func parseObject(_ data: Data) -> [String: JSONValue]? {
        StrictJSON.parse(data)?.objectValue
    }

    /// A compact, deterministic rendering (sorted keys), used for display and for the emulator.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            if n.rounded() == n, abs(n) < 9.0e15 { return String(Int64(n)) }
            return String(n)
        case .string(let s): return JSONValue.quote(s)
        case .array(let a): return "[" + a.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { JSONValue.quote($0) + ":" + (o[$0] ?? .null).jsonText }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal. Control characters, DEL and U+2028/U+2029 are escaped so the text is
    /// safe inside a log line or a script block.
    /// Characters a log line or terminal must never receive raw: C0 and C1 controls, DEL, line and
    /// paragraph separators, and the bidirectional controls that can make a line read differently
    /// from what it holds (Trojan Source).
    public static func mustEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0..<0x20, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069, 0xFEFF: return true
        default: return false
        }
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where Self.mustEscape(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
