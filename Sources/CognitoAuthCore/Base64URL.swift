import FoundationEssentials

/// RFC 4648 §5 base64url without padding, as used by JWS (RFC 7515 §2).
/// Decoding is strict: padding, whitespace, characters outside the url-safe alphabet and
/// non-zero trailing bits are rejected rather than ignored, so one token has exactly one encoding.
/// Table-driven: it runs on every login's three token parts and the JWKS.
public enum Base64URL {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// One table per position in a quantum (entries 0–255 for the first character, 256–511 for
    /// the second, ...), each value already shifted into place and bit 24 marking a byte outside
    /// the alphabet: a quantum decodes with four lookups, three ORs and one test. The fourth
    /// position's entries are the plain 6-bit values.
    static let quantumTable: [UInt32] = {
        var t = [UInt32](repeating: 1 << 24, count: 1024)
        for (i, c) in alphabet.enumerated() {
            for position in 0..<4 { t[position * 256 + Int(c)] = UInt32(i) << (18 - 6 * position) }
        }
        return t
    }()

    public static func encode<D: DataProtocol>(_ data: D) -> String {
        let bytes = Array(data)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        switch bytes.count - i {
        case 1:
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
        case 2:
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
        default: break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Returns nil for anything that is not canonical unpadded base64url.
    public static func decode(_ string: Substring) -> Data? {
        if let d = string.utf8.withContiguousStorageIfAvailable({ decode(bytes: $0) }) { return d }
        return Array(string.utf8).withUnsafeBufferPointer { decode(bytes: $0) }
    }

    public static func decode(_ string: String) -> Data? { decode(Substring(string)) }

    static func decode(bytes: UnsafeBufferPointer<UInt8>) -> Data? {
        guard let size = decodedCount(bytes.count) else { return nil }
        var out = Data(count: size)
        let ok = out.withUnsafeMutableBytes { decode(bytes, into: $0.bindMemory(to: UInt8.self)) }
        return ok ? out : nil
    }

    /// How many bytes `count` base64url characters decode to; nil for a length no canonical
    /// encoding has.
    static func decodedCount(_ count: Int) -> Int? {
        guard count % 4 != 1 else { return nil }
        return count / 4 * 3 + (count % 4 == 0 ? 0 : count % 4 - 1)
    }

    /// Decodes into `out`, which must hold exactly `decodedCount(bytes.count)` bytes. False for
    /// anything that is not canonical unpadded base64url (`out` then holds garbage).
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        let count = bytes.count
        guard let size = decodedCount(count), out.count == size else { return false }
        let tail = count % 4
        var o = 0
        var i = 0
        return quantumTable.withUnsafeBufferPointer { q -> Bool in
            while i + 4 <= count {
                let n = q[Int(bytes[i])] | q[256 + Int(bytes[i + 1])] | q[512 + Int(bytes[i + 2])] | q[768 + Int(bytes[i + 3])]
                guard n & (1 << 24) == 0 else { return false }
                out[o] = UInt8(truncatingIfNeeded: n >> 16); out[o + 1] = UInt8(truncatingIfNeeded: n >> 8)
                out[o + 2] = UInt8(truncatingIfNeeded: n)
                o += 3
                i += 4
            }
            // The tail reads the fourth position's entries: plain 6-bit values.
            if tail == 2 {
                let a = q[768 + Int(bytes[i])], b = q[768 + Int(bytes[i + 1])]
                // The 4 unused bits must be zero.
                guard (a | b) & (1 << 24) == 0, b & 0x0F == 0 else { return false }
                out[o] = UInt8(truncatingIfNeeded: a << 2 | b >> 4)
            } else if tail == 3 {
                let a = q[768 + Int(bytes[i])], b = q[768 + Int(bytes[i + 1])], c = q[768 + Int(bytes[i + 2])]
                // The 2 unused bits must be zero.
                guard (a | b | c) & (1 << 24) == 0, c & 0x03 == 0 else { return false }
                out[o] = UInt8(truncatingIfNeeded: a << 2 | b >> 4); out[o + 1] = UInt8(truncatingIfNeeded: (b & 0x0F) << 4 | c >> 2)
            }
            return true
        }
    }
}
