/// Byte-level validators for the names the configuration and the mapping accept. Each one reads the
/// whole value (there is no "end of line" that a trailing newline could satisfy, as `$` does in a
/// regular expression) and accepts ASCII only, so no Unicode folding or canonical equivalence can
/// make two different byte strings the same name.
public enum Syntax {
    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") }
    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isLower(b) || isUpper(b) || isDigit(b) }

    /// Every byte satisfies `ok`, and there are at least `minCount` of them.
    static func all<S: StringProtocol>(_ s: S, minCount: Int = 1, _ ok: (UInt8) -> Bool) -> Bool {
        var n = 0
        for b in s.utf8 {
            guard ok(b) else { return false }
            n += 1
        }
        return n >= minCount
    }

    public static func isDigits<S: StringProtocol>(_ s: S) -> Bool { all(s, isDigit) }

    /// `[a-z]{2}(-[a-z]+)+-[0-9]+`, e.g. `eu-west-1`, `us-gov-west-1`.
    public static func isRegion<S: StringProtocol>(_ s: S) -> Bool {
        let parts = Array(s.utf8).split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard parts.count >= 3, let first = parts.first, let last = parts.last,
              first.count == 2, first.allSatisfy(isLower),
              !last.isEmpty, last.allSatisfy(isDigit) else { return false }
        return parts.dropFirst().dropLast().allSatisfy { !$0.isEmpty && $0.allSatisfy(isLower) }
    }

    /// `<region>_<id>` with id `[A-Za-z0-9]+`.
    public static func isUserPoolId<S: StringProtocol>(_ s: S) -> Bool {
        let bytes = Array(s.utf8)
        guard let us = bytes.firstIndex(of: UInt8(ascii: "_")) else { return false }
        let region = String(decoding: bytes[..<us], as: UTF8.self)
        let id = bytes[(us + 1)...]
        return isRegion(region) && !id.isEmpty && id.allSatisfy(isAlnum)
    }

    /// `[A-Za-z0-9_+-]{1,128}`.
    public static func isClientId<S: StringProtocol>(_ s: S) -> Bool {
        s.utf8.count <= 128 && all(s) { isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }
    }

    /// RFC 6749 §3.3 scope-token: `%x21 / %x23-5B / %x5D-7E`, one or more.
    public static func isScopeToken<S: StringProtocol>(_ s: S) -> Bool {
        all(s) { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }

    /// Lower-case DNS name of two or more labels, each `[a-z0-9]([a-z0-9-]*[a-z0-9])?`.
    public static func isDomainName<S: StringProtocol>(_ s: S) -> Bool {
        let labels = Array(s.utf8).split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2, s.utf8.count <= 253 else { return false }
        return labels.allSatisfy { label in
            guard let f = label.first, let l = label.last, label.count <= 63 else { return false }
            let inner = { (b: UInt8) in isLower(b) || isDigit(b) }
            return inner(f) && inner(l) && label.allSatisfy { inner($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// A conservative POSIX login name, `[a-z_][a-z0-9_.-]{0,31}`: what Debian's adduser accepts,
    /// without the trailing `$` of machine accounts.
    public static func isLoginName<S: StringProtocol>(_ s: S) -> Bool {
        guard let f = s.utf8.first, isLower(f) || f == UInt8(ascii: "_"), s.utf8.count <= 32 else { return false }
        return all(s) { isLower($0) || isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// Printable ASCII only (0x21…0x7E): what an identity claim (an email address, a user name)
    /// must be before any mapping looks at it.
    /// base64url characters (and `.` `~`): device codes, nonces, CSRF tokens, authorization codes.
    public static func isURLSafeToken<S: StringProtocol>(_ s: S) -> Bool {
        all(s) { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "~") }
    }

    /// What an IPv4 or IPv6 address is written with: hex digits, `.` and `:`.
    public static func isHexDigitOrSeparator(_ b: UInt8) -> Bool {
        isDigit(b) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F"))
            || b == UInt8(ascii: ".") || b == UInt8(ascii: ":")
    }

    public static func isPrintableASCII<S: StringProtocol>(_ s: S) -> Bool {
        all(s) { $0 > 0x20 && $0 < 0x7F }
    }

    /// Text for a one-line reason (a log line, an error on a terminal): each control byte (C0 and
    /// DEL) written as `\xNN`, so an input cannot end the line or drive the terminal. Text without
    /// control bytes comes back unchanged.
    public static func visible<S: StringProtocol>(_ s: S) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return String(s) }
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in s.utf8 {
            if b < 0x20 || b == 0x7F {
                out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(b >> 4)], hex[Int(b & 0x0F)]]
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// ASCII-only lower-casing; any other byte is left as it is (callers accept ASCII only anyway).
    public static func asciiLowercased<S: StringProtocol>(_ s: S) -> String {
        String(decoding: s.utf8.map { isUpper($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}

extension StringProtocol {
    /// Without leading and trailing ASCII white space (space, tab, CR, LF, VT, FF). What the
    /// config, the account map, headers and pasted answers are trimmed of: nothing beyond ASCII.
    public func trimmed() -> String {
        let u = Array(utf8)
        func space(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
        guard let first = u.firstIndex(where: { !space($0) }), let last = u.lastIndex(where: { !space($0) }) else { return "" }
        return String(decoding: u[first...last], as: UTF8.self)
    }
}

extension Syntax {
    /// `%04o` of a file mode.
    public static func octal4(_ mode: UInt32) -> String {
        let s = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// Lower-case hex of the bytes, two digits each.
    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
