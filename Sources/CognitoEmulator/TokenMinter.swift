import CognitoAuthCore
import Crypto
import CryptoExtras
import Foundation

/// The keys a pool signs with at one moment.
struct KeyRing: Sendable {
    var idKey: SigningKey
    var accessKey: SigningKey
    /// ID keys removed from the JWKS by rotation, oldest first.
    var retiredIDKeys: [SigningKey] = []
    /// A key that is never published: signs `unknown_kid`, `jwk_header`, and `removed_key`
    /// before any rotation.
    var unpublishedKey: SigningKey

    func jwks() throws -> OrderedJSON {
        .object([("keys", .array([try idKey.jwk(), try accessKey.jwk()]))])
    }
}

/// Everything one token issuance needs to know.
struct TokenContext: Sendable {
    var issuer: String
    var clientId: String
    var user: EmulatorUser
    var scopes: [String]
    var nonce: String?
    var authTime: Int
    var now: Int
    var originJti: String
    var eventId: String
}

/// Writes Cognito-shaped JWTs, with a fault applied to the ID token when one is set.
enum TokenMinter {
    static let lifetime = 3600

    static func accessToken(_ c: TokenContext, keys: KeyRing) throws -> String {
        var claims: [(String, OrderedJSON)] = [("sub", .string(c.user.sub))]
        if !c.user.groups.isEmpty { claims.append(("cognito:groups", .array(c.user.groups.map { .string($0) }))) }
        claims += [
            ("iss", .string(c.issuer)),
            ("version", .int(2)),
            ("client_id", .string(c.clientId)),
            ("origin_jti", .string(c.originJti)),
            ("event_id", .string(c.eventId)),
            ("token_use", .string("access")),
            ("scope", .string(c.scopes.joined(separator: " "))),
            ("auth_time", .int(c.authTime)),
            ("exp", .int(c.now + lifetime)),
            ("iat", .int(c.now)),
            ("jti", .string(randomUUID())),
            ("username", .string(c.user.username)),
        ]
        let header: [(String, OrderedJSON)] = [("kid", .string(keys.accessKey.kid)), ("alg", .string("RS256"))]
        return try sign(header: header, claims: claims, with: .rs256(keys.accessKey))
    }

    /// `at_hash`: base64url of the left half of SHA-256 over the access token's ASCII.
    static func atHash(_ accessToken: String) -> String {
        let digest = Array(SHA256.hash(data: Array(accessToken.utf8)))
        return Base64URL.encode(digest[0..<16])
    }

    static func idToken(_ c: TokenContext, accessToken: String, keys: KeyRing, fault: TokenFault?) throws -> String {
        var claims: [(String, OrderedJSON)] = [
            ("at_hash", .string(atHash(accessToken))),
            ("sub", .string(c.user.sub)),
        ]
        if !c.user.groups.isEmpty { claims.append(("cognito:groups", .array(c.user.groups.map { .string($0) }))) }
        claims += [
            ("email_verified", .bool(c.user.emailVerified)),
            ("iss", .string(c.issuer)),
            ("cognito:username", .string(c.user.username)),
        ]
        if let nonce = c.nonce { claims.append(("nonce", .string(nonce))) }
        claims += [
            ("origin_jti", .string(c.originJti)),
            ("aud", .string(c.clientId)),
            ("event_id", .string(c.eventId)),
            ("token_use", .string("id")),
            ("auth_time", .int(c.authTime)),
            ("exp", .int(c.now + lifetime)),
            ("iat", .int(c.now)),
            ("jti", .string(randomUUID())),
            ("email", .string(c.user.email)),
        ]
        for key in c.user.custom.keys.sorted() { claims.append((key, .string(c.user.custom[key] ?? ""))) }

        var header: [(String, OrderedJSON)] = [("kid", .string(keys.idKey.kid)), ("alg", .string("RS256"))]
        var signer = Signer.rs256(keys.idKey)
        var flipBit = false
        let otherClient = "wrongaud" + String(randomUUID().replacingOccurrences(of: "-", with: "").prefix(18))

        switch fault {
        case nil:
            break
        case .badSignature:
            flipBit = true
        case .unknownKid:
            header.set("kid", .string(SigningKey.randomKid()))
            signer = .rs256(keys.unpublishedKey)
        case .algNone:
            header.set("alg", .string("none"))
            signer = .empty
        case .algNoneMixedCase:
            header.set("alg", .string("nOnE"))
            signer = .empty
        case .emptySignature:
            signer = .empty
        case .wrongAudience:
            claims.set("aud", .string(otherClient))
        case .wrongIssuer:
            claims.set("iss", .string(wrongIssuer(c.issuer)))
        case .tokenUseAccess:
            claims.set("token_use", .string("access"))
        case .expired:
            claims.set("iat", .int(c.now - 2 * lifetime))
            claims.set("exp", .int(c.now - lifetime))
            claims.set("auth_time", .int(min(c.authTime, c.now - 2 * lifetime)))
        case .nonceMismatch:
            claims.set("nonce", .string(Base64URL.encode(randomBytes(24))))
        case .emailVerifiedFalse:
            claims.set("email_verified", .bool(false))
        case .emailVerifiedAsString:
            claims.set("email_verified", .string(c.user.emailVerified ? "true" : "false"))
        case .missingKid:
            header.remove("kid")
        case .hs256WithPublicKey:
            header.set("alg", .string("HS256"))
            signer = .hs256(Array(keys.idKey.privateKey.publicKey.pemRepresentation.utf8))
        case .rs384:
            header.set("alg", .string("RS384"))
            signer = .rs384(keys.idKey)
        case .iatInFuture:
            claims.set("iat", .int(c.now + lifetime))
            claims.set("exp", .int(c.now + 2 * lifetime))
        case .nbfInFuture:
            claims.append(("nbf", .int(c.now + lifetime)))
        case .missingNonce:
            claims.remove("nonce")
        case .missingExp:
            claims.remove("exp")
        case .missingSub:
            claims.remove("sub")
        case .missingEmail:
            claims.remove("email")
        case .atHashMismatch:
            claims.set("at_hash", .string(atHash(Base64URL.encode(randomBytes(32)))))
        case .expAsString:
            claims.set("exp", .string(String(c.now + lifetime)))
        case .audAsNumber:
            claims.set("aud", .int(1_234_567_890))
        case .groupsAsString:
            claims.set("cognito:groups", .string(c.user.groups.joined(separator: ",")))
        case .signedWithRemovedKey:
            let key = keys.retiredIDKeys.last ?? keys.unpublishedKey
            header.set("kid", .string(key.kid))
            signer = .rs256(key)
        case .authTimeOld:
            claims.set("auth_time", .int(c.now - 2 * 86_400))
        case .critHeader:
            header.append(("crit", .array([.string("exp")])))
        case .embeddedJWK:
            header.set("kid", .string(keys.unpublishedKey.kid))
            header.append(("jwk", try keys.unpublishedKey.jwk()))
            signer = .rs256(keys.unpublishedKey)
        case .kidMismatch:
            header.set("kid", .string(keys.accessKey.kid))
        case .duplicateAudience:
            claims.append(("aud", .string(otherClient)))
        }
        var token = try sign(header: header, claims: claims, with: signer)
        if flipBit { token = flipSignatureBit(token) }
        return token
    }

    enum Signer {
        case rs256(SigningKey)
        case rs384(SigningKey)
        case hs256([UInt8])
        case empty
    }

    static func sign(header: [(String, OrderedJSON)], claims: [(String, OrderedJSON)], with signer: Signer) throws -> String {
        let input = Base64URL.encode(OrderedJSON.object(header).bytes) + "." + Base64URL.encode(OrderedJSON.object(claims).bytes)
        let signature: [UInt8]
        switch signer {
        case .rs256(let key): signature = try key.signRS256(Array(input.utf8))
        case .rs384(let key): signature = try key.signRS384(Array(input.utf8))
        case .hs256(let secret):
            signature = Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: secret)))
        case .empty: signature = []
        }
        return input + "." + Base64URL.encode(signature)
    }

    /// The same issuer form for another pool of the same region.
    static func wrongIssuer(_ issuer: String) -> String {
        guard let slash = issuer.lastIndex(of: "/") else { return issuer + "-other" }
        return String(issuer[...slash]) + "us-east-1_Attacker1"
    }

    static func flipSignatureBit(_ token: String) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, var sig = Base64URL.decode(parts[2]).map(Array.init), !sig.isEmpty else { return token }
        sig[sig.count / 2] ^= 0x01
        return parts[0] + "." + parts[1] + "." + Base64URL.encode(sig)
    }
}
