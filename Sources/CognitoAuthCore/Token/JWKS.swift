import Crypto
import CryptoExtras
import FoundationEssentials

/// One key from a JWKS. A key that cannot be used for RS256 is kept with the reason, so a token
/// naming it is refused with that reason instead of "unknown kid".
public struct JWK: Sendable {
    public var kid: String
    public var kty: String?
    public var alg: String?
    public var use: String?
    public var publicKey: _RSA.Signing.PublicKey?
    public var rejection: String?
}

public struct JWKSet: Sendable {
    public static let minimumRSABits = 2048
    public let keys: [String: JWK]
    /// The same keys as a list: a token's kid is compared as bytes with each (a JWKS holds two or
    /// three), which costs less than making a String of it to hash.
    let list: [JWK]

    public init(keys: [String: JWK]) {
        self.keys = keys
        self.list = Array(keys.values)
    }

    public func key(for kid: String) -> JWK? { keys[kid] }

    /// Parses a JWKS document. The document must be an object with a `keys` array; members without
    /// a string `kid` are skipped (a token can never select them).
    public static func parse<D: DataProtocol>(_ data: D) -> Result<JWKSet, Refusal> {
        guard let doc = JSONValue.parseObject(data), let array = doc["keys"]?.arrayValue else {
            return .failure(Refusal(.jwksInvalid, "JWKS is not an object with a 'keys' array"))
        }
        var keys: [String: JWK] = [:]
        for member in array {
            guard let o = member.objectValue, let kid = o["kid"]?.stringValue, !kid.isEmpty else { continue }
            var jwk = JWK(kid: kid, kty: o["kty"]?.stringValue, alg: o["alg"]?.stringValue, use: o["use"]?.stringValue)
            if keys[kid] != nil {
                // Two keys with one kid: the token cannot say which one it means.
                jwk.rejection = "JWKS lists kid \(kid) more than once"
                keys[kid] = jwk
                continue
            }
            jwk.rejection = rejectionReason(o)
            if jwk.rejection == nil,
               let n = o["n"]?.stringValue.flatMap({ Base64URL.decode($0) }),
               let e = o["e"]?.stringValue.flatMap({ Base64URL.decode($0) }) {
                do {
                    let key = try _RSA.Signing.PublicKey(n: n, e: e)
                    if key.keySizeInBits < minimumRSABits {
                        jwk.rejection = "RSA key is \(key.keySizeInBits) bits, under \(minimumRSABits)"
                    } else {
                        jwk.publicKey = key
                    }
                } catch {
                    jwk.rejection = "RSA key parameters are invalid or under \(minimumRSABits) bits"
                }
            } else if jwk.rejection == nil {
                jwk.rejection = "RSA key has no valid base64url n/e"
            }
            keys[kid] = jwk
        }
        return .success(JWKSet(keys: keys))
    }

    static func rejectionReason(_ o: [String: JSONValue]) -> String? {
        guard let kty = o["kty"]?.stringValue else { return "key has no kty" }
        guard kty == "RSA" else { return "key type \(kty) is not RSA" }
        if let alg = o["alg"], alg.stringValue != "RS256" { return "key alg is \(alg.jsonText), not RS256" }
        if let use = o["use"], use.stringValue != "sig" { return "key use is \(use.jsonText), not sig" }
        return nil
    }
}
