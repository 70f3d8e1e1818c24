import Foundation

/// RFC 4648 §5 base64url without padding, as used by JWS (RFC 7515 §2).
/// Decoding is strict: padding, whitespace and characters outside the url-safe alphabet are
/// rejected rather than ignored, so one token has exactly one encoding.
public enum Base64URL {
    public static func encode<D: DataProtocol>(_ data: D) -> String {
        var s = Data(data).base64EncodedString()
        s = s.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }

    /// Returns nil for anything that is not canonical unpadded base64url.
    public static func decode(_ string: Substring) -> Data? {
        var standard = [UInt8]()
        standard.reserveCapacity(string.utf8.count + 3)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                standard.append(byte)
            case UInt8(ascii: "-"): standard.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): standard.append(UInt8(ascii: "/"))
            default: return nil
            }
        }
        switch standard.count % 4 {
        case 0: break
        case 2: standard.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "=")])
        case 3: standard.append(UInt8(ascii: "="))
        default: return nil
        }
        guard let decoded = Data(base64Encoded: Data(standard)) else { return nil }
        // Reject non-canonical encodings (unused trailing bits set).
        guard encode(decoded) == string else { return nil }
        return decoded
    }

    public static func decode(_ string: String) -> Data? { decode(Substring(string)) }
}
