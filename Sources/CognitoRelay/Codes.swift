import CognitoAuthCore
import Crypto

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
