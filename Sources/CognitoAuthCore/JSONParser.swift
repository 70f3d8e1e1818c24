import Foundation

/// A strict RFC 8259 JSON parser for the documents this project trusts least: token headers and
/// payloads, JWKS, discovery, the cache. Stricter than Foundation's decoder where it matters for
/// security — a member name that appears twice is an error rather than "last one wins" (two
/// parsers must never read two different audiences from one token) — and bounded in depth.
/// Pure: bytes in, value or nil out.
public enum StrictJSON {
    public static let maxDepth = 32

    public static func parse<C: Collection>(_ bytes: C) -> JSONValue? where C.Element == UInt8 {
        if let v = bytes.withContiguousStorageIfAvailable({ parse(buffer: $0) }) { return v }
        return Array(bytes).withUnsafeBufferPointer { parse(buffer: $0) }
    }

    public static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { parse(buffer: $0.bindMemory(to: UInt8.self)) }
    }

    static func parse(buffer: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        var parser = Parser(bytes: buffer)
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipWhitespace()
        return parser.index == buffer.count ? value : nil
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipWhitespace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
        }

        mutating func value(depth: Int) -> JSONValue? {
            guard depth <= StrictJSON.maxDepth else { return nil }
            skipWhitespace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "["): return array(depth: depth)
            case UInt8(ascii: "\""): return string().map { .string($0) }
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return number()
            }
        }

        mutating func literal(_ word: StaticString, _ v: JSONValue) -> JSONValue? {
            let w = word.withUTF8Buffer { Array($0) }
            guard index + w.count <= bytes.count, bytes[index..<index + w.count].elementsEqual(w) else { return nil }
            index += w.count
            return v
        }

        mutating func object(depth: Int) -> JSONValue? {
            index += 1
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(24)
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let name = string() else { return nil }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                guard let v = value(depth: depth + 1), members[name] == nil else { return nil }
                members[name] = v
                skipWhitespace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                return nil
            }
        }

        mutating func array(depth: Int) -> JSONValue? {
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            while true {
                guard let v = value(depth: depth + 1) else { return nil }
                items.append(v)
                skipWhitespace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                return nil
            }
        }

        mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x37)
                case 0x61...0x66: d = UInt32(c - 0x57)
                default: return nil
                }
                v = v << 4 | d
                index += 1
            }
            return v
        }

        mutating func string() -> String? {
            index += 1   // opening quote
            var out: [UInt8] = []
            var runStart = index
            while index < bytes.count {
                let c = bytes[index]
                if c == UInt8(ascii: "\"") {
                    defer { index += 1 }
                    if out.isEmpty {
                        // The common case, no escapes: one copy straight from the input.
                        return text(UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                    }
                    out += bytes[runStart..<index]
                    return out.withUnsafeBufferPointer { text($0) }
                }
                if c < 0x20 { return nil }
                if c != UInt8(ascii: "\\") { index += 1; continue }
                out += bytes[runStart..<index]
                index += 1
                guard index < bytes.count else { return nil }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
                        index += 2
                        guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        return nil
                    }
                    guard let u = Unicode.Scalar(scalar) else { return nil }
                    out += Array(String(Character(u)).utf8)
                default:
                    return nil
                }
                runStart = index
            }
            return nil
        }

        /// The bytes as a String, refusing invalid UTF-8. ASCII (every token member in practice) takes
        /// the specialised path; only other text pays for the generic validating initialiser.
        func text(_ b: UnsafeBufferPointer<UInt8>) -> String? {
            var high: UInt8 = 0
            for byte in b { high |= byte }
            if high < 0x80 { return String(decoding: b, as: UTF8.self) }
            return String(validating: b, as: UTF8.self)
        }

        mutating func number() -> JSONValue? {
            let start = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else if (0x31...0x39).contains(bytes[index]) {
                while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            } else {
                return nil
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                let digits = index
                while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
                guard index > digits else { return nil }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                let digits = index
                while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
                guard index > digits else { return nil }
            }
            // Integers of up to 15 digits (every NumericDate) are exact in a Double: skip the text round trip.
            let digits = bytes[start] == UInt8(ascii: "-") ? index - start - 1 : index - start
            if digits <= 15, !bytes[start..<index].contains(where: { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") }) {
                var n: Int64 = 0
                for b in bytes[start..<index] where b != UInt8(ascii: "-") { n = n * 10 + Int64(b - 0x30) }
                return .number(Double(bytes[start] == UInt8(ascii: "-") ? -n : n))
            }
            guard let d = Double(String(decoding: bytes[start..<index], as: UTF8.self)), d.isFinite else { return nil }
            return .number(d)
        }
    }
}
