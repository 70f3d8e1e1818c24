import FoundationEssentials

/// A strict RFC 8259 JSON parser for the documents this project trusts least: token headers and
/// payloads, JWKS, discovery, the cache. Stricter than Foundation's decoder where it matters for
/// security — a member name that appears twice is an error rather than "last one wins" (two
/// parsers must never read two different audiences from one token) — and bounded in depth.
/// Pure: bytes in, value or nil out.
///
/// One grammar, two uses: `JSONScanner` validates a document without building anything, and
/// values are built from the validated bytes only when asked for (`StrictJSON.parse` builds the
/// whole tree; `JSONObjectView` builds single members on demand — the token path reads a dozen
/// claims and never pays for the rest).
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
        var scanner = JSONScanner(bytes: buffer)
        guard let kind = scanner.document() else { return nil }
        return JSONScanner.build(buffer, JSONSpan(kind: kind, start: 0, end: buffer.count))
    }
}

/// The JSON type of a value, known once the scanner has validated it.
public enum JSONKind: UInt8, Sendable {
    case null, bool, number, string, array, object
}

/// Where a validated value is, and for a string what decoding its text takes.
struct JSONSpan: Sendable {
    var kind: JSONKind
    var start: Int
    var end: Int
    /// Set for strings: the bytes between the quotes.
    var text: JSONStringRange?
}

/// Where a string's bytes are (between its quotes) and what decoding it takes.
struct JSONStringRange: Sendable {
    var start: Int
    var end: Int
    /// Contains a backslash escape: the bytes are not the text.
    var escaped: Bool
    /// Contains bytes above 0x7F (already checked to be valid UTF-8).
    var nonASCII: Bool
    /// Plain ASCII without escapes: byte equality is text equality.
    var plain: Bool { !escaped && !nonASCII }
}

/// Validates JSON over a byte buffer, moving `index` past what it accepts. Builds nothing except
/// the key list of a nested object (to refuse duplicate names at every depth).
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// The string `skipValue` last accepted, so a container walk can hand it on without a rescan.
    var lastString: JSONStringRange?

    init(bytes: UnsafeBufferPointer<UInt8>, index: Int = 0) { self.bytes = bytes; self.index = index }

    /// A whole document: one value and nothing after it but whitespace.
    mutating func document() -> JSONKind? {
        guard let kind = skipValue(depth: 0) else { return nil }
        skipWhitespace()
        return index == bytes.count ? kind : nil
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    /// Validates one value (after optional whitespace) and returns its kind.
    mutating func skipValue(depth: Int) -> JSONKind? {
        guard depth <= StrictJSON.maxDepth else { return nil }
        skipWhitespace()
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            var keys: [JSONStringRange] = []
            let ok = forEachMember(depth: depth) { key, _ in keys.append(key); return true }
            return ok && !JSONScanner.hasDuplicate(keys, in: bytes) ? .object : nil
        case UInt8(ascii: "["):
            return forEachElement(depth: depth) { _ in true } ? .array : nil
        case UInt8(ascii: "\""):
            lastString = scanString()
            return lastString == nil ? nil : .string
        case UInt8(ascii: "t"): return literal("true") ? .bool : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default: return scanNumber() ? .number : nil
        }
    }

    /// Walks an object whose `{` is at `index`, validating each member and handing it to `body`
    /// (key, value). False on a syntax error or when `body` says stop.
    /// Duplicate names are the caller's to refuse: it is the one holding the keys.
    mutating func forEachMember(depth: Int, _ body: (JSONStringRange, JSONSpan) -> Bool) -> Bool {
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return true }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = scanString() else { return false }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
            index += 1
            skipWhitespace()
            let start = index
            guard let kind = skipValue(depth: depth + 1),
                  body(key, JSONSpan(kind: kind, start: start, end: index, text: kind == .string ? lastString : nil)) else { return false }
            skipWhitespace()
            guard index < bytes.count else { return false }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return true }
            return false
        }
    }

    /// The same for an array whose `[` is at `index`: `body` gets each element.
    mutating func forEachElement(depth: Int, _ body: (JSONSpan) -> Bool) -> Bool {
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return true }
        while true {
            skipWhitespace()
            let start = index
            guard let kind = skipValue(depth: depth + 1),
                  body(JSONSpan(kind: kind, start: start, end: index, text: kind == .string ? lastString : nil)) else { return false }
            skipWhitespace()
            guard index < bytes.count else { return false }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return true }
            return false
        }
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard index + n <= bytes.count else { return false }
        let matches = word.withUTF8Buffer { w in (0..<n).allSatisfy { bytes[index + $0] == w[$0] } }
        if matches { index += n }
        return matches
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

    /// Validates a string whose opening quote is at `index`: no raw control characters, only
    /// RFC 8259 escapes, surrogates in pairs, valid UTF-8.
    @inline(__always)
    mutating func scanString() -> JSONStringRange? {
        index += 1
        let start = index
        var escaped = false
        var high: UInt8 = 0
        guard let base = bytes.baseAddress else { return nil }
        while index < bytes.count {
            // Eight bytes at a time up to the first quote, backslash, control character or
            // non-ASCII byte (SWAR: a byte's high bit flags each condition; the lowest flag is exact).
            if index + 8 <= bytes.count {
                let special = JSONScanner.specialBytes(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                if special == 0 { index += 8; continue }
                index += special.trailingZeroBitCount >> 3
            }
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                let range = JSONStringRange(start: start, end: index, escaped: escaped, nonASCII: high >= 0x80)
                index += 1
                if range.nonASCII, String(validating: UnsafeBufferPointer(rebasing: bytes[start..<range.end]), as: UTF8.self) == nil {
                    return nil   // escapes are ASCII, so the raw bytes are valid UTF-8 exactly when the text is
                }
                return range
            }
            high |= c
            if c < 0x20 { return nil }
            index += 1
            guard c == UInt8(ascii: "\\") else { continue }
            escaped = true
            guard index < bytes.count else { return nil }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                continue
            case UInt8(ascii: "u"):
                guard let scalar = hex4() else { return nil }
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
                    index += 2
                    guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    return nil
                }
            default:
                return nil
            }
        }
        return nil
    }

    /// A high bit in each byte of `w` (little-endian) that is `"`, `\\`, below 0x20 or above 0x7F.
    /// Bits above the lowest may be false alarms (borrows); the lowest is always a real one.
    @inline(__always)
    static func specialBytes(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let control = (w &- ones &* 0x20) & ~w & highs
        return w & highs | control | hasZeroByte(w ^ (ones &* 0x22)) | hasZeroByte(w ^ (ones &* 0x5C))
    }

    /// Validates a number at `index` against RFC 8259's grammar (no leading zeros, no bare dot).
    mutating func scanNumber() -> Bool {
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { return false }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (0x31...0x39).contains(bytes[index]) {
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
        } else {
            return false
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let digits = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            guard index > digits else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            guard index > digits else { return false }
        }
        return true
    }

    // MARK: Building values from validated bytes

    /// Two member names that are the same text. Plain ASCII names compare as bytes; any other name
    /// sends the whole object through String comparison (canonical equivalence, as a dictionary
    /// keyed by the names would see them).
    static func hasDuplicate<C: RandomAccessCollection>(_ keys: C, in bytes: UnsafeBufferPointer<UInt8>) -> Bool
    where C.Element == JSONStringRange, C.Index == Int {
        guard keys.count > 1 else { return false }
        if keys.count <= 64, keys.allSatisfy(\.plain) {
            for i in keys.startIndex + 1..<keys.endIndex {
                for j in keys.startIndex..<i where sameBytes(keys[i], keys[j], in: bytes) { return true }
            }
            return false
        }
        var seen = Set<String>()
        for key in keys {
            guard let text = text(key, in: bytes), seen.insert(text).inserted else { return true }
        }
        return false
    }

    static func sameBytes(_ a: JSONStringRange, _ b: JSONStringRange, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytesEqual(bytes[a.start..<a.end], bytes[b.start..<b.end], constantTime: false)
    }

    /// The text of a validated string.
    static func text(_ s: JSONStringRange, in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let raw = UnsafeBufferPointer(rebasing: bytes[s.start..<s.end])
        guard s.escaped else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func hex(_ at: Int) -> UInt32? {
            var digits = JSONScanner(bytes: raw, index: at)
            return digits.hex4()
        }
        while i < raw.count {
            let c = raw[i]
            guard c == UInt8(ascii: "\\"), i + 1 < raw.count else { out.append(c); i += 1; continue }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hex(i) else { return nil }
                i += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    guard let low = hex(i + 2) else { return nil }
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let u = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: String(Character(u)).utf8)
            default: out.append(e)   // \" \\ \/
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// The value of a validated number. Integers of up to 15 digits (every NumericDate) are exact
    /// in a Double and skip the text round trip.
    static func number(_ start: Int, _ end: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        guard start < end else { return nil }
        let negative = bytes[start] == UInt8(ascii: "-")
        let first = negative ? start + 1 : start
        if end - first <= 15, !bytes[first..<end].contains(where: { $0 < 0x30 || $0 > 0x39 }) {
            var n: Int64 = 0
            for b in bytes[first..<end] { n = n * 10 + Int64(b - 0x30) }
            return Double(negative ? -n : n)
        }
        guard let d = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)), d.isFinite else {
            return nil
        }
        return d
    }

    /// Builds the value the scanner validated at `span`.
    static func build(_ bytes: UnsafeBufferPointer<UInt8>, _ span: JSONSpan) -> JSONValue? {
        var scanner = JSONScanner(bytes: bytes, index: span.start)
        scanner.skipWhitespace()
        let at = scanner.index
        switch span.kind {
        case .null: return .null
        case .bool: return .bool(at < span.end && bytes[at] == UInt8(ascii: "t"))
        case .number: return number(at, span.end, in: bytes).map { .number($0) }
        case .string:
            guard let s = span.text ?? scanner.scanString() else { return nil }
            return text(s, in: bytes).map { .string($0) }
        case .array:
            var items: [JSONValue] = []
            var ok = true
            guard scanner.forEachElement(depth: 0, { element in
                guard let v = build(bytes, element) else { ok = false; return false }
                items.append(v)
                return true
            }), ok else { return nil }
            return .array(items)
        case .object:
            var members: [String: JSONValue] = [:]
            var ok = true
            guard scanner.forEachMember(depth: 0, { key, value in
                guard let name = text(key, in: bytes), let v = build(bytes, value) else { ok = false; return false }
                members[name] = v
                return true
            }), ok else { return nil }
            return .object(members)
        }
    }
}
