import CognitoAuthCore
import Crypto
import CryptoExtras
import Foundation

/// One RSA signing key with its `kid`, as a user pool publishes it.
struct SigningKey: Sendable {
    let kid: String
    let privateKey: _RSA.Signing.PrivateKey

    /// A new 2048-bit key. Cognito's kids are standard base64 of 32 bytes (they end in `=` and may
    /// hold `+` and `/`); so are ours.
    static func generate() throws -> SigningKey {
        SigningKey(kid: randomKid(), privateKey: try _RSA.Signing.PrivateKey(keySize: .bits2048))
    }

    static func randomKid() -> String {
        Data(randomBytes(32)).base64EncodedString()
    }

    /// The public JWK: `alg, e, kid, kty, n, use` (Cognito's member order).
    func jwk() throws -> OrderedJSON {
        let primitives = try privateKey.publicKey.getKeyPrimitives()
        return .object([
            ("alg", .string("RS256")),
            ("e", .string(Base64URL.encode(stripLeadingZeros(primitives.publicExponent)))),
            ("kid", .string(kid)),
            ("kty", .string("RSA")),
            ("n", .string(Base64URL.encode(stripLeadingZeros(primitives.modulus)))),
            ("use", .string("sig")),
        ])
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 (RS256).
    func signRS256(_ signingInput: [UInt8]) throws -> [UInt8] {
        Array(try privateKey.signature(for: SHA256.hash(data: signingInput), padding: .insecurePKCS1v1_5).rawRepresentation)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-384 (RS384), for the `rs384` fault.
    func signRS384(_ signingInput: [UInt8]) throws -> [UInt8] {
        Array(try privateKey.signature(for: SHA384.hash(data: signingInput), padding: .insecurePKCS1v1_5).rawRepresentation)
    }

    private func stripLeadingZeros(_ d: Data) -> Data {
        let bytes = Array(d)
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return Data([0]) }
        return Data(bytes[first...])
    }
}

/// Cryptographically random bytes (the system CSPRNG).
func randomBytes(_ count: Int) -> [UInt8] {
    var g = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &g) }
}

/// A random version-4 UUID, lower case, as Cognito writes `sub`, `jti`, `event_id` and codes.
func randomUUID() -> String {
    var b = randomBytes(16)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    let hex = b.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    let chars = Array(hex)
    return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(chars[$0]) }.joined(separator: "-")
}
