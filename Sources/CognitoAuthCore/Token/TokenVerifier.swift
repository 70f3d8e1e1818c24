import Crypto
import CryptoExtras
import Foundation

/// The outcome of one named check, kept for `cognito-auth test`, `verify-token` and the audit line.
public struct CheckResult: Sendable, Equatable {
    public var name: String
    public var passed: Bool
    public var code: ReasonCode
    public var detail: String

    public static func pass(_ name: String, _ detail: String) -> CheckResult {
        CheckResult(name: name, passed: true, code: .ok, detail: detail)
    }
    public static func fail(_ name: String, _ refusal: Refusal) -> CheckResult {
        CheckResult(name: name, passed: false, code: refusal.code, detail: refusal.detail)
    }
}

/// The ID token's claims once every check has passed.
public struct VerifiedIDToken: Sendable {
    public var header: [String: JSONValue]
    public var claims: [String: JSONValue]

    public var sub: String? { claims["sub"]?.stringValue }
    public var email: String? { claims["email"]?.stringValue }
    public var jti: String? { claims["jti"]?.stringValue }
    public var authTime: Double? { claims["auth_time"]?.numberValue }
    /// `cognito:groups`; the verifier has already refused a value that is not an array of strings.
    public var groups: [String] { claims["cognito:groups"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
}

public struct TokenVerdict: Sendable {
    public var checks: [CheckResult]
    public var token: VerifiedIDToken?
    /// The first failed check, if any.
    public var failure: CheckResult? { checks.first { !$0.passed } }
    /// Claims as parsed, even when a check failed (for display and audit of who tried).
    public var unverifiedClaims: [String: JSONValue]
}

/// What the ID token must be, for one sign-in.
public struct TokenExpectations: Sendable {
    public var issuer: String
    public var clientId: String
    public var nonce: String?
    public var accessToken: String?
    public var clockSkew: Int
    public var requireEmailVerified: Bool
    public var now: Date

    public init(issuer: String, clientId: String, nonce: String?, accessToken: String? = nil,
                clockSkew: Int, requireEmailVerified: Bool, now: Date) {
        self.issuer = issuer; self.clientId = clientId; self.nonce = nonce; self.accessToken = accessToken
        self.clockSkew = clockSkew; self.requireEmailVerified = requireEmailVerified; self.now = now
    }
}

/// Verifies a Cognito ID token: header, key, RS256 signature, then each claim. Each check is a
/// small function returning a value; the first failure stops the chain (later checks would only
/// describe a token we already refuse). Pure: keys and the clock come from the caller.
public enum TokenVerifier {
    public static func verify(_ token: String, keys: JWKSet, expect: TokenExpectations) -> TokenVerdict {
        var checks: [CheckResult] = []
        let jws: CompactJWS
        switch CompactJWS.parse(token) {
        case .failure(let r):
            return TokenVerdict(checks: [.fail("structure", r)], token: nil, unverifiedClaims: [:])
        case .success(let j):
            jws = j
            checks.append(.pass("structure", "three base64url parts, JSON header and payload"))
        }
        let context = Context(jws: jws, claims: jws.claims, keys: keys, expect: expect)
        for (name, step) in chain {
            switch step(context) {
            case .success(let detail): checks.append(.pass(name, detail))
            case .failure(let refusal):
                checks.append(.fail(name, refusal))
                return TokenVerdict(checks: checks, token: nil, unverifiedClaims: context.claims)
            }
        }
        return TokenVerdict(checks: checks, token: VerifiedIDToken(header: jws.header, claims: context.claims), unverifiedClaims: context.claims)
    }

    struct Context {
        let jws: CompactJWS
        let claims: [String: JSONValue]
        let keys: JWKSet
        let expect: TokenExpectations
    }

    /// The checks, in order. A static table of plain functions: composing them costs nothing per token.
    static let chain: [(String, @Sendable (Context) -> Result<String, Refusal>)] = [
        ("algorithm", { checkAlgorithm($0.jws.header) }),
        ("key", { checkKey($0.jws.header, $0.keys).map { "kid \($0.kid) in JWKS, RSA \($0.publicKey?.keySizeInBits ?? 0) bits" } }),
        ("signature", { checkSignature($0.jws, $0.keys) }),
        ("claim types", { checkClaimTypes($0.claims) }),
        ("issuer", { checkIssuer($0.claims, $0.expect.issuer) }),
        ("audience", { checkAudience($0.claims, $0.expect.clientId) }),
        ("token_use", { checkTokenUse($0.claims) }),
        ("expiry", { checkExpiry($0.claims, $0.expect) }),
        ("issued at", { checkIssuedAt($0.claims, $0.expect) }),
        ("nonce", { checkNonce($0.claims, $0.expect.nonce) }),
        ("at_hash", { checkAtHash($0.claims, $0.expect.accessToken) }),
        ("email_verified", { checkEmailVerified($0.claims, required: $0.expect.requireEmailVerified) }),
    ]

    static func checkAlgorithm(_ header: [String: JSONValue]) -> Result<String, Refusal> {
        guard let alg = header["alg"]?.stringValue else { return .failure(Refusal(.algNotAllowed, "header has no string alg")) }
        guard alg == "RS256" else { return .failure(Refusal(.algNotAllowed, "header alg is \(alg), only RS256 is accepted")) }
        if let crit = header["crit"] { return .failure(Refusal(.malformedToken, "header has crit \(crit.jsonText), which is not supported")) }
        return .success("RS256")
    }

    static func checkKey(_ header: [String: JSONValue], _ keys: JWKSet) -> Result<JWK, Refusal> {
        guard let kidValue = header["kid"] else { return .failure(Refusal(.missingKid, "header has no kid")) }
        guard let kid = kidValue.stringValue, !kid.isEmpty else { return .failure(Refusal(.missingKid, "header kid is not a non-empty string")) }
        guard let jwk = keys.key(for: kid) else { return .failure(Refusal(.unknownKid, "kid \(kid) is not in the JWKS")) }
        if let why = jwk.rejection { return .failure(Refusal(.keyRejected, "kid \(kid): \(why)")) }
        guard jwk.publicKey != nil else { return .failure(Refusal(.keyRejected, "kid \(kid) has no usable RSA key")) }
        return .success(jwk)
    }

    static func checkSignature(_ jws: CompactJWS, _ keys: JWKSet) -> Result<String, Refusal> {
        guard let kid = jws.header["kid"]?.stringValue, let key = keys.key(for: kid)?.publicKey else {
            return .failure(Refusal(.unknownKid, "no key to check the signature with"))
        }
        let signature = _RSA.Signing.RSASignature(rawRepresentation: jws.signature)
        let digest = SHA256.hash(data: jws.signingInput)
        guard key.isValidSignature(signature, for: digest, padding: .insecurePKCS1v1_5) else {
            return .failure(Refusal(.badSignature, "RS256 signature does not verify with kid \(kid)"))
        }
        return .success("RS256 PKCS#1 v1.5 signature valid")
    }

    static func checkClaimTypes(_ c: [String: JSONValue]) -> Result<String, Refusal> {
        let strings = ["iss", "sub", "token_use", "nonce", "email", "at_hash", "jti", "cognito:username"]
        for name in strings where c[name] != nil && c[name]?.stringValue == nil {
            return .failure(Refusal(.claimWrongType, "claim \(name) is not a string"))
        }
        for name in ["exp", "iat", "auth_time", "nbf"] where c[name] != nil && c[name]?.numberValue == nil {
            return .failure(Refusal(.claimWrongType, "claim \(name) is not a number"))
        }
        if let aud = c["aud"], aud.stringValue == nil {
            guard let a = aud.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                return .failure(Refusal(.claimWrongType, "claim aud is neither a string nor an array of strings"))
            }
        }
        if let g = c["cognito:groups"] {
            guard let a = g.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                return .failure(Refusal(.claimWrongType, "claim cognito:groups is not an array of strings"))
            }
        }
        if let ev = c["email_verified"], ev.boolValue == nil, ev.stringValue == nil {
            return .failure(Refusal(.claimWrongType, "claim email_verified is neither a boolean nor a string"))
        }
        return .success("every known claim has its JSON type")
    }

    static func checkIssuer(_ c: [String: JSONValue], _ issuer: String) -> Result<String, Refusal> {
        guard let iss = c["iss"]?.stringValue else { return .failure(Refusal(.wrongIssuer, "token has no iss")) }
        guard iss == issuer else { return .failure(Refusal(.wrongIssuer, "iss is \(iss), expected \(issuer)")) }
        return .success(iss)
    }

    static func checkAudience(_ c: [String: JSONValue], _ clientId: String) -> Result<String, Refusal> {
        switch c["aud"] {
        case .string(let aud)?:
            return aud == clientId ? .success(aud) : .failure(Refusal(.wrongAudience, "aud is \(aud), expected client id \(clientId)"))
        case .array(let list)?:
            let auds = list.compactMap(\.stringValue)
            guard auds.contains(clientId) else { return .failure(Refusal(.wrongAudience, "aud \(auds) does not contain client id \(clientId)")) }
            if auds.count > 1, c["azp"]?.stringValue != clientId {
                return .failure(Refusal(.wrongAudience, "aud has several audiences and azp is not \(clientId)"))
            }
            return .success(clientId)
        default:
            return .failure(Refusal(.wrongAudience, "token has no aud"))
        }
    }

    static func checkTokenUse(_ c: [String: JSONValue]) -> Result<String, Refusal> {
        guard let use = c["token_use"]?.stringValue else { return .failure(Refusal(.wrongTokenUse, "token has no token_use")) }
        guard use == "id" else { return .failure(Refusal(.wrongTokenUse, "token_use is \(use), expected id")) }
        return .success("id")
    }

    static func checkExpiry(_ c: [String: JSONValue], _ e: TokenExpectations) -> Result<String, Refusal> {
        guard let exp = c["exp"]?.numberValue else { return .failure(Refusal(.missingExp, "token has no exp")) }
        let now = e.now.timeIntervalSince1970
        guard now <= exp + Double(e.clockSkew) else {
            return .failure(Refusal(.expired, "token expired \(Int(now - exp)) s ago (clock_skew \(e.clockSkew) s)"))
        }
        if let nbf = c["nbf"]?.numberValue, now + Double(e.clockSkew) < nbf {
            return .failure(Refusal(.issuedInFuture, "token not valid before \(Int(nbf - now)) s from now"))
        }
        return .success("expires in \(Int(exp - now)) s")
    }

    static func checkIssuedAt(_ c: [String: JSONValue], _ e: TokenExpectations) -> Result<String, Refusal> {
        guard let iat = c["iat"]?.numberValue else { return .failure(Refusal(.missingClaim, "token has no iat")) }
        let now = e.now.timeIntervalSince1970
        guard iat <= now + Double(e.clockSkew) else {
            return .failure(Refusal(.issuedInFuture, "iat is \(Int(iat - now)) s in the future (clock_skew \(e.clockSkew) s)"))
        }
        return .success("issued \(Int(now - iat)) s ago")
    }

    static func checkNonce(_ c: [String: JSONValue], _ nonce: String?) -> Result<String, Refusal> {
        guard let nonce else { return .success("no nonce expected (token checked on its own)") }
        guard let got = c["nonce"]?.stringValue else { return .failure(Refusal(.nonceMismatch, "token has no nonce")) }
        guard constantTimeEqual(got, nonce) else { return .failure(Refusal(.nonceMismatch, "nonce does not match this sign-in")) }
        return .success("matches this sign-in")
    }

    static func checkAtHash(_ c: [String: JSONValue], _ accessToken: String?) -> Result<String, Refusal> {
        guard let atHash = c["at_hash"]?.stringValue else { return .success("absent") }
        guard let accessToken else { return .success("present; no access token to compare") }
        let digest = Array(SHA256.hash(data: Array(accessToken.utf8)))
        let expected = Base64URL.encode(digest.prefix(16))
        guard constantTimeEqual(atHash, expected) else {
            return .failure(Refusal(.atHashMismatch, "at_hash does not match the access token from the same response"))
        }
        return .success("matches the access token")
    }

    static func checkEmailVerified(_ c: [String: JSONValue], required: Bool) -> Result<String, Refusal> {
        let verified: Bool
        switch c["email_verified"] {
        case .bool(let b)?: verified = b
        case .string(let s)?: verified = (s == "true")   // Cognito uses the string form for some federated users
        default: verified = false
        }
        if verified { return .success("true") }
        if !required { return .success("not verified; require_email_verified = false") }
        return .failure(Refusal(.emailNotVerified, "email_verified is not true"))
    }
}

/// Compares two strings in time that depends only on their lengths.
public func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<x.count { diff |= x[i] ^ y[i] }
    return diff == 0
}
