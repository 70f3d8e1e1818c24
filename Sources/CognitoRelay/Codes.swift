import CognitoAuthCore
import Crypto

/// User codes (RFC 8628 §6.1): 8 letters from an alphabet without vowels or look-alikes, shown as
/// XXXX-XXXX; 20^8 ≈ 2.6·10^10 codes against `max_code_attempts` guesses per address per 10 minutes.
public enum UserCode {
    public static let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ".utf8)
    public static let length = 8

    public static func generate<R: RandomNumberGenerator>(using rng: inout R) -> String {
        var bytes: [UInt8] = []
        for _ in 0..<length { bytes.append(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What the person typed, as the stored form (8 upper-case letters), or nil. Case, spaces and
    /// dashes do not matter; anything else makes it not a code.
    public static func normalize(_ typed: String) -> String? {
        guard typed.utf8.count <= 32 else { return nil }
        var out: [UInt8] = []
        for b in typed.utf8 {
            if b == UInt8(ascii: "-") || b == UInt8(ascii: " ") { continue }
            let upper = (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) ? b - 32 : b
            guard alphabet.contains(upper) else { return nil }
            out.append(upper)
        }
        guard out.count == length else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// XXXX-XXXX.
    public static func display(_ code: String) -> String {
        guard code.utf8.count == length else { return code }
        return String(code.prefix(4)) + "-" + String(code.suffix(4))
    }
}

enum Secrets {
    /// base64url of `bytes` random bytes from the system CSPRNG.
    static func random(bytes: Int) -> String {
        var rng = SystemRandomNumberGenerator()
        var out = [UInt8](repeating: 0, count: bytes)
        for i in out.indices { out[i] = UInt8.random(in: .min ... .max, using: &rng) }
        return Base64URL.encode(out)
    }

    /// Hex SHA-256: how device codes and states are stored and looked up.
    static func digest(_ s: String) -> String {
        Syntax.hex(SHA256.hash(data: Array(s.utf8)))
    }

    /// Compares two strings in time that depends only on their lengths.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
