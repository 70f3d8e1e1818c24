/// The key cognito-auth-relay counts wrong user codes under (ARCHITECTURE.md §7): an IPv4 address
/// as itself, an IPv6 address by its /64. One IPv6 subscriber usually holds a whole /64, so a
/// per-address count would let them draw a fresh address for every guess. IPv4-mapped IPv6
/// (`::ffff:192.0.2.1`) counts as the IPv4 address. A port a terminator may append to an IPv4
/// address (`192.0.2.1:5678`) is dropped, so a fresh source port is no fresh count; text that is
/// still no address shares the one key `unparsable` (one bucket, never one per variant).
public enum ClientAddress {
    public static let unparsable = "unparsable"

    public static func lockoutKey(_ address: String) -> String {
        if let v4 = ipv4(Substring(address)) ?? ipv4WithPort(address) { return v4.map(String.init).joined(separator: ".") }
        guard let groups = ipv6(address) else { return unparsable }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xFFFF {
            return [groups[6] >> 8, groups[6] & 0xFF, groups[7] >> 8, groups[7] & 0xFF].map(String.init).joined(separator: ".")
        }
        return groups[0..<4].map { String($0, radix: 16) }.joined(separator: ":") + "::/64"
    }

    static func isHex(_ b: UInt8) -> Bool {
        Syntax.isDigit(b) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F"))
    }

    /// `a.b.c.d:port`, port 1-5 digits.
    static func ipv4WithPort(_ s: String) -> [UInt16]? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...5).contains(parts[1].utf8.count), Syntax.isDigits(parts[1]) else { return nil }
        return ipv4(parts[0])
    }

    /// Dotted quad, each part 1-3 decimal digits ≤ 255.
    static func ipv4(_ s: Substring) -> [UInt16]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt16] = []
        for p in parts {
            guard (1...3).contains(p.utf8.count), Syntax.isDigits(p), let n = UInt16(p), n <= 255 else { return nil }
            out.append(n)
        }
        return out
    }

    /// RFC 4291 §2.2 text: eight groups of 1-4 hex digits, one `::` for a run of zero groups, an
    /// optional dotted quad as the last 32 bits. No zone (`%eth0`), no brackets.
    static func ipv6(_ s: String) -> [UInt16]? {
        guard s.utf8.count <= 45, s.contains(":") else { return nil }
        // Split at the one `::` (a second one, or a `:::`, makes it no address).
        let bytes = Array(s.utf8)
        var halves: [Substring] = []
        var start = s.startIndex, i = 0, cut = s.startIndex
        while i < bytes.count {
            if i + 1 < bytes.count, bytes[i] == UInt8(ascii: ":"), bytes[i + 1] == UInt8(ascii: ":") {
                guard halves.isEmpty else { return nil }
                halves.append(s[start..<cut])
                start = s.utf8.index(cut, offsetBy: 2)
                cut = start
                i += 2
                continue
            }
            cut = s.utf8.index(after: cut)
            i += 1
        }
        halves.append(s[start...])
        func groups(_ part: Substring, allowV4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, f) in fields.enumerated() {
                if allowV4, i == fields.count - 1, f.contains("."), let v4 = ipv4(f) {
                    out.append(v4[0] << 8 | v4[1])
                    out.append(v4[2] << 8 | v4[3])
                    continue
                }
                guard (1...4).contains(f.utf8.count), f.utf8.allSatisfy(isHex), let n = UInt16(f, radix: 16) else { return nil }
                out.append(n)
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], allowV4: true), all.count == 8 else { return nil }
            return all
        }
        guard let head = groups(halves[0], allowV4: false), let tail = groups(halves[1], allowV4: true),
              head.count + tail.count <= 7 else { return nil }
        return head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
    }
}
