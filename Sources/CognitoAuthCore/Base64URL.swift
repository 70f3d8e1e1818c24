import Foundation

/// RFC 4648 §5 base64url without padding, as used by JWS (RFC 7515 §2).
/// Decoding is strict: padding, whitespace, characters outside the url-safe alphabet and
/// non-zero trailing bits are rejected rather than ignored, so one token has exactly one encoding.
/// Table-driven: it runs on every login's three token parts and the JWKS.
public enum Base64URL {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let invalid: UInt8 = 0xFF
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
        var out = [UInt8]()
        out.reserveCapacity(count * 3 / 4)
        let table = decodeTable
        var i = 0
        while i + 4 <= count {
            let a = table[Int(bytes[i])], b = table[Int(bytes[i + 1])], c = table[Int(bytes[i + 2])], d = table[Int(bytes[i + 3])]
            guard a | b | c | d != invalid, a < 64, b < 64, c < 64, d < 64 else { return nil }
            let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
            out.append(UInt8(n >> 16 & 0xFF)); out.append(UInt8(n >> 8 & 0xFF)); out.append(UInt8(n & 0xFF))
            i += 4
        }
        switch count - i {
        case 2:
            let a = table[Int(bytes[i])], b = table[Int(bytes[i + 1])]
            guard a < 64, b < 64, b & 0x0F == 0 else { return nil }   // the 4 unused bits must be zero
            out.append(a << 2 | b >> 4)
        case 3:
            let a = table[Int(bytes[i])], b = table[Int(bytes[i + 1])], c = table[Int(bytes[i + 2])]
            guard a < 64, b < 64, c < 64, c & 0x03 == 0 else { return nil }   // the 2 unused bits must be zero
            out.append(a << 2 | b >> 4); out.append((b & 0x0F) << 4 | c >> 2)
        default: break
        }
        return Data(out)
    }
}
