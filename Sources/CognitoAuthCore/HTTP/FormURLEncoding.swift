/// `application/x-www-form-urlencoded` bodies and URL query strings (WHATWG URL §5).
public enum FormURLEncoding {
    /// Decodes `name=value&name=value`. `+` is a space, `%XX` a byte; the bytes must be UTF-8.
    /// Empty segments (`a=1&&b=2`) are skipped; a segment without `=` has an empty value.
    /// Returns nil for a malformed `%` escape or for bytes that are not valid UTF-8, so one input has
    /// one meaning. Pairs keep their order and duplicates are kept (callers decide what a
    /// repeated parameter means).
    public static func decode(_ s: Substring) -> [(String, String)]? {
        var pairs: [(String, String)] = []
        for segment in s.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let name: Substring.UTF8View.SubSequence
            let value: Substring.UTF8View.SubSequence
            if let eq = segment.firstIndex(of: UInt8(ascii: "=")) {
                name = segment[segment.startIndex..<eq]
                value = segment[segment.index(after: eq)...]
            } else {
                name = segment
                value = segment[segment.endIndex...]
            }
            guard let n = percentDecode(name), let v = percentDecode(value) else { return nil }
            pairs.append((n, v))
        }
        return pairs
    }

    public static func decode(_ s: String) -> [(String, String)]? { decode(Substring(s)) }

    /// Encodes pairs as `name=value&…`: ASCII letters, digits and `-._~` stay, space becomes `+`,
    /// every other byte of the UTF-8 is `%XX` (upper-case hex).
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    /// Encodes pairs for a URL query: as `encode`, but a space is `%20`, which RFC 3986 decoders
    /// (that keep `+` as a plus) and form decoders read the same way.
    public static func encodeQuery(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0, spaceAsPlus: false) + "=" + escape($0.1, spaceAsPlus: false) }.joined(separator: "&")
    }

    /// One name or value, escaped as `encode` does (or with `%20` for a space).
    public static func escape(_ s: String, spaceAsPlus: Bool = true) -> String {
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    private static func percentDecode(_ bytes: Substring.UTF8View.SubSequence) -> String? {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
                i = bytes.index(after: i)
            } else if b == UInt8(ascii: "%") {
                let h = bytes.index(after: i)
                guard h < bytes.endIndex else { return nil }
                let l = bytes.index(after: h)
                guard l < bytes.endIndex, let hi = hexValue(bytes[h]), let lo = hexValue(bytes[l]) else { return nil }
                out.append(hi << 4 | lo)
                i = bytes.index(after: l)
            } else {
                out.append(b)
                i = bytes.index(after: i)
            }
        }
        // Strict UTF-8 validation: String(validating:) refuses ill-formed sequences.
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
