import Foundation

/// RFC 4648 §5 base64url without padding, as used by JWS (RFC 7515 §2).
/// Decoding is strict: padding, whitespace, characters outside the url-safe alphabet and
/// non-zero trailing bits are rejected rather than ignored, so one token has exactly one encoding.
/// Table-driven: it runs on every login's three token parts and the JWKS.
public enum Base64URL {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let decodeTable: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
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
        let count = bytes.count
        guard count % 4 != 1 else { return nil }
        let full = count / 4
        let tail = count % 4
        let size = full * 3 + (tail == 0 ? 0 : tail - 1)
        let table = decodeTable
        var ok = true
        let out = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var o = 0
            var i = 0
            while i + 4 <= count {
                let a = table[Int(bytes[i])], b = table[Int(bytes[i + 1])], c = table[Int(bytes[i + 2])], d = table[Int(bytes[i + 3])]
                guard (a | b | c | d) & 0xC0 == 0 else { ok = false; break }   // 0xFF marks a byte outside the alphabet
                let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                buffer[o] = UInt8(truncatingIfNeeded: n >> 16); buffer[o + 1] = UInt8(truncatingIfNeeded: n >> 8)
                buffer[o + 2] = UInt8(truncatingIfNeeded: n)
                o += 3
                i += 4
            }
            if ok && tail == 2 {
                let a = table[Int(bytes[i])], b = table[Int(bytes[i + 1])]
                // The 4 unused bits must be zero.
                if (a | b) & 0xC0 != 0 || b & 0x0F != 0 { ok = false } else { buffer[o] = a << 2 | b >> 4; o += 1 }
            } else if ok && tail == 3 {
                let a = table[Int(bytes[i])], b = table[Int(bytes[i + 1])], c = table[Int(bytes[i + 2])]
                // The 2 unused bits must be zero.
                if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 { ok = false } else {
                    buffer[o] = a << 2 | b >> 4; buffer[o + 1] = (b & 0x0F) << 4 | c >> 2; o += 2
                }
            }
            initialized = ok ? o : 0
        }
        return ok ? Data(out) : nil
    }
}
