import Crypto
import CryptoExtras
import FoundationEssentials

/// The outcome of one named check, kept for `cognito-auth test`, `verify-token` and the audit line.
public struct CheckResult: Sendable, Equatable {
    public var name: String
    public var passed: Bool
    public var code: ReasonCode
    var note: Note

    /// Why the check passed or failed, in words. Formatted when read: a login records every
    /// passing check but shows none of them.
    public var detail: String {
        get { note.text }
        set { note = .text(newValue) }
    }

    /// A detail kept as its parts until someone reads it.
    enum Note: Sendable {
        case text(String)
        case keyInJWKS(kid: String, bits: Int)
        case expiresIn(seconds: Int)
        case issuedAgo(seconds: Int)

        var text: String {
            switch self {
            case .text(let s): return s
            case .keyInJWKS(let kid, let bits): return "kid \(kid) in JWKS, RSA \(bits) bits"
            case .expiresIn(let seconds): return "expires in \(seconds) s"
            case .issuedAgo(let seconds): return "issued \(seconds) s ago"
            }
        }
    }

    public init(name: String, passed: Bool, code: ReasonCode, detail: String) {
        self.init(name: name, passed: passed, code: code, note: .text(detail))
    }
    init(name: String, passed: Bool, code: ReasonCode, note: Note) {
        self.name = name; self.passed = passed; self.code = code; self.note = note
    }

    public static func pass(_ name: String, _ detail: String) -> CheckResult {
        CheckResult(name: name, passed: true, code: .ok, note: .text(detail))
    }
    public static func fail(_ name: String, _ refusal: Refusal) -> CheckResult {
        CheckResult(name: name, passed: false, code: refusal.code, note: .text(refusal.detail))
    }
    public static func == (a: CheckResult, b: CheckResult) -> Bool {
        a.name == b.name && a.passed == b.passed && a.code == b.code && a.detail == b.detail
    }
}

/// The ID token's claims once every check has passed.
public struct VerifiedIDToken: Sendable {
    public var header: JSONObjectView
    public var claims: JSONObjectView

    public init(header: JSONObjectView, claims: JSONObjectView) { self.header = header; self.claims = claims }
    public init(header: [String: JSONValue], claims: [String: JSONValue]) {
        self.init(header: JSONObjectView(header), claims: JSONObjectView(claims))
    }

    public var sub: String? { claims.string("sub") }
    public var email: String? { claims.string("email") }
    public var jti: String? { claims.string("jti") }
    public var authTime: Double? { claims.number("auth_time") }
    /// `cognito:groups`; the verifier has already refused a value that is not an array of strings.
    public var groups: [String] { claims["cognito:groups"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
}

public struct TokenVerdict: Sendable {
    public var checks: [CheckResult]
    public var token: VerifiedIDToken?
    /// The first failed check, if any.
    public var failure: CheckResult? { checks.first { !$0.passed } }
    /// Claims as parsed, even when a check failed (for display and audit of who tried).
    public var unverifiedClaims: JSONObjectView

    public init(checks: [CheckResult], token: VerifiedIDToken?, unverifiedClaims: JSONObjectView) {
        self.checks = checks; self.token = token; self.unverifiedClaims = unverifiedClaims
    }
    public init(checks: [CheckResult], token: VerifiedIDToken?, unverifiedClaims: [String: JSONValue]) {
        self.init(checks: checks, token: token, unverifiedClaims: JSONObjectView(unverifiedClaims))
    }
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
///
/// Claims are read in place from the decoded payload (`JSONObjectView`): a check compares bytes
/// and builds a String only to describe a refusal.
public enum TokenVerifier {
    public static func verify(_ token: String, keys: JWKSet, expect: TokenExpectations) -> TokenVerdict {
        let jws: CompactJWS
        switch CompactJWS.parse(token) {
        case .failure(let r):
            return TokenVerdict(checks: [.fail("structure", r)], token: nil, unverifiedClaims: JSONObjectView.empty)
        case .success(let j):
            jws = j
        }
        var log = CheckLog()
        log.checks.append(.pass("structure", "three base64url parts, JSON header and payload"))
        let header = jws.header, claims = jws.claims
        let key = findKey(header, keys)
        // The checks, in order; `||` stops at the first refusal.
        let stopped = log.refused("algorithm", checkAlgorithm(header))
            || log.refused("key", key.map { .keyInJWKS(kid: $0.kid, bits: $0.publicKey.keySizeInBits) })
            || log.refused("signature", checkSignature(jws, key))
            || log.refused("claim types", checkClaimTypes(claims))
            || log.refused("issuer", checkIssuer(claims, expect.issuer))
            || log.refused("audience", checkAudience(claims, expect.clientId))
            || log.refused("token_use", checkTokenUse(claims))
            || log.refused("expiry", checkExpiry(claims, expect))
            || log.refused("issued at", checkIssuedAt(claims, expect))
            || log.refused("nonce", checkNonce(claims, expect.nonce))
            || log.refused("at_hash", checkAtHash(claims, expect.accessToken))
            || log.refused("email_verified", checkEmailVerified(claims, required: expect.requireEmailVerified))
        return TokenVerdict(checks: log.checks, token: stopped ? nil : VerifiedIDToken(header: header, claims: claims),
                            unverifiedClaims: claims)
    }

    /// The verdicts so far.
    struct CheckLog {
        var checks: [CheckResult]

        init() {
            checks = []
            checks.reserveCapacity(13)   // structure and the twelve checks in `verify`
        }

        /// Records one check's verdict; true when it refused (which ends the chain).
        mutating func refused(_ name: String, _ result: Result<String, Refusal>) -> Bool {
            refused(name, result.map { .text($0) })
        }

        mutating func refused(_ name: String, _ result: Result<CheckResult.Note, Refusal>) -> Bool {
            switch result {
            case .success(let note): checks.append(CheckResult(name: name, passed: true, code: .ok, note: note)); return false
            case .failure(let refusal): checks.append(.fail(name, refusal)); return true
            }
        }
    }

    static func checkAlgorithm(_ header: JSONObjectView) -> Result<String, Refusal> {
        guard header.kind(Claim.alg) == .string else { return .failure(Refusal(.algNotAllowed, "header has no string alg")) }
        guard header.string(Claim.alg, equals: "RS256") == true else {
            return .failure(Refusal(.algNotAllowed, "header alg is \(header.string(Claim.alg) ?? ""), only RS256 is accepted"))
        }
        if let crit = header[Claim.crit] { return .failure(Refusal(.malformedToken, "header has crit \(crit.jsonText), which is not supported")) }
        return .success("RS256")
    }

    /// The key a token names, once it has passed the JWK checks.
    struct SigningKey {
        let kid: String
        let publicKey: _RSA.Signing.PublicKey
    }

    /// The JWKS key the header's kid names, or why there is none to use.
    static func findKey(_ header: JSONObjectView, _ keys: JWKSet) -> Result<SigningKey, Refusal> {
        guard let kind = header.kind(Claim.kid) else { return .failure(Refusal(.missingKid, "header has no kid")) }
        guard kind == .string, header.string(Claim.kid, equals: "") == false else {
            return .failure(Refusal(.missingKid, "header kid is not a non-empty string"))
        }
        // Compare the header's kid with each key's kid in place: no String of it to hash.
        guard let at = keys.list.firstIndex(where: { header.string(Claim.kid, equals: $0.kid) == true }) else {
            return .failure(Refusal(.unknownKid, "kid \(header.string(Claim.kid) ?? "") is not in the JWKS"))
        }
        if let why = keys.list[at].rejection { return .failure(Refusal(.keyRejected, "kid \(keys.list[at].kid): \(why)")) }
        guard let publicKey = keys.list[at].publicKey else {
            return .failure(Refusal(.keyRejected, "kid \(keys.list[at].kid) has no usable RSA key"))
        }
        return .success(SigningKey(kid: keys.list[at].kid, publicKey: publicKey))
    }

    static func checkSignature(_ jws: CompactJWS, _ key: Result<SigningKey, Refusal>) -> Result<String, Refusal> {
        guard case .success(let key) = key else {
            return .failure(Refusal(.unknownKid, "no key to check the signature with"))
        }
        guard key.publicKey.isValidSignature(jws.rsaSignature, for: jws.signingInputDigest(), padding: .insecurePKCS1v1_5) else {
            return .failure(Refusal(.badSignature, "RS256 signature does not verify with kid \(key.kid)"))
        }
        return .success("RS256 PKCS#1 v1.5 signature valid")
    }

    /// The names the checks read, prepared once for lookups.
    enum Claim {
        static let iss: JSONName = "iss", sub: JSONName = "sub", aud: JSONName = "aud", azp: JSONName = "azp"
        static let tokenUse: JSONName = "token_use", nonce: JSONName = "nonce", email: JSONName = "email"
        static let emailVerified: JSONName = "email_verified", atHash: JSONName = "at_hash", jti: JSONName = "jti"
        static let exp: JSONName = "exp", iat: JSONName = "iat", nbf: JSONName = "nbf", authTime: JSONName = "auth_time"
        static let username: JSONName = "cognito:username", groups: JSONName = "cognito:groups"
        static let alg: JSONName = "alg", kid: JSONName = "kid", crit: JSONName = "crit"
        static let strings = [iss, sub, tokenUse, nonce, email, atHash, jti, username]
        static let numbers = [exp, iat, authTime, nbf]
    }

    static func checkClaimTypes(_ c: JSONObjectView) -> Result<String, Refusal> {
        for name in Claim.strings {
            if let kind = c.kind(name), kind != .string { return .failure(Refusal(.claimWrongType, "claim \(name) is not a string")) }
        }
        for name in Claim.numbers {
            if let kind = c.kind(name), kind != .number { return .failure(Refusal(.claimWrongType, "claim \(name) is not a number")) }
        }
        if let kind = c.kind(Claim.aud), kind != .string, c.isArrayOfStrings(Claim.aud) != true {
            return .failure(Refusal(.claimWrongType, "claim aud is neither a string nor an array of strings"))
        }
        if c.contains(Claim.groups), c.isArrayOfStrings(Claim.groups) != true {
            return .failure(Refusal(.claimWrongType, "claim cognito:groups is not an array of strings"))
        }
        if let kind = c.kind(Claim.emailVerified), kind != .bool, kind != .string {
            return .failure(Refusal(.claimWrongType, "claim email_verified is neither a boolean nor a string"))
        }
        return .success("every known claim has its JSON type")
    }

    static func checkIssuer(_ c: JSONObjectView, _ issuer: String) -> Result<String, Refusal> {
        guard let same = c.string(Claim.iss, equals: issuer) else { return .failure(Refusal(.wrongIssuer, "token has no iss")) }
        guard same else { return .failure(Refusal(.wrongIssuer, "iss is \(c.string(Claim.iss) ?? ""), expected \(issuer)")) }
        return .success(issuer)
    }

    static func checkAudience(_ c: JSONObjectView, _ clientId: String) -> Result<String, Refusal> {
        switch c.kind(Claim.aud) {
        case .string?:
            guard c.string(Claim.aud, equals: clientId) == true else {
                return .failure(Refusal(.wrongAudience, "aud is \(c.string(Claim.aud) ?? ""), expected client id \(clientId)"))
            }
            return .success(clientId)
        case .array?:
            let (matches, total) = c.count(Claim.aud, stringsEqualTo: clientId) ?? (0, 0)
            guard matches > 0 else {
                let auds = c[Claim.aud]?.arrayValue?.compactMap(\.stringValue) ?? []
                return .failure(Refusal(.wrongAudience, "aud \(auds) does not contain client id \(clientId)"))
            }
            if total > 1, c.string(Claim.azp, equals: clientId) != true {
                return .failure(Refusal(.wrongAudience, "aud has several audiences and azp is not \(clientId)"))
            }
            return .success(clientId)
        default:
            return .failure(Refusal(.wrongAudience, "token has no aud"))
        }
    }

    static func checkTokenUse(_ c: JSONObjectView) -> Result<String, Refusal> {
        guard let isID = c.string(Claim.tokenUse, equals: "id") else { return .failure(Refusal(.wrongTokenUse, "token has no token_use")) }
        guard isID else { return .failure(Refusal(.wrongTokenUse, "token_use is \(c.string(Claim.tokenUse) ?? ""), expected id")) }
        return .success("id")
    }

    static func checkExpiry(_ c: JSONObjectView, _ e: TokenExpectations) -> Result<CheckResult.Note, Refusal> {
        guard let exp = c.number(Claim.exp) else { return .failure(Refusal(.missingExp, "token has no exp")) }
        let now = e.now.timeIntervalSince1970
        guard now <= exp + Double(e.clockSkew) else {
            return .failure(Refusal(.expired, "token expired \(wholeSeconds(now - exp)) s ago (clock_skew \(e.clockSkew) s)"))
        }
        if let nbf = c.number(Claim.nbf), now + Double(e.clockSkew) < nbf {
            return .failure(Refusal(.issuedInFuture, "token not valid before \(wholeSeconds(nbf - now)) s from now"))
        }
        return .success(.expiresIn(seconds: wholeSeconds(exp - now)))
    }

    static func checkIssuedAt(_ c: JSONObjectView, _ e: TokenExpectations) -> Result<CheckResult.Note, Refusal> {
        guard let iat = c.number(Claim.iat) else { return .failure(Refusal(.missingClaim, "token has no iat")) }
        let now = e.now.timeIntervalSince1970
        guard iat <= now + Double(e.clockSkew) else {
            return .failure(Refusal(.issuedInFuture, "iat is \(wholeSeconds(iat - now)) s in the future (clock_skew \(e.clockSkew) s)"))
        }
        return .success(.issuedAgo(seconds: wholeSeconds(now - iat)))
    }

    static func checkNonce(_ c: JSONObjectView, _ nonce: String?) -> Result<String, Refusal> {
        guard let nonce else { return .success("no nonce expected (token checked on its own)") }
        guard let same = c.string(Claim.nonce, equals: nonce, constantTime: true) else {
            return .failure(Refusal(.nonceMismatch, "token has no nonce"))
        }
        guard same else { return .failure(Refusal(.nonceMismatch, "nonce does not match this sign-in")) }
        return .success("matches this sign-in")
    }

    /// OIDC Core §3.1.3.6: base64url of the left half of SHA-256 over the access token's ASCII.
    static func checkAtHash(_ c: JSONObjectView, _ accessToken: String?) -> Result<String, Refusal> {
        guard c.kind(Claim.atHash) == .string else { return .success("absent") }
        guard let accessToken else { return .success("present; no access token to compare") }
        let digest = accessToken.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
            ?? SHA256.hash(data: Array(accessToken.utf8))
        let expected = Base64URL.encode(Array(digest).prefix(16))
        guard c.string(Claim.atHash, equals: expected, constantTime: true) == true else {
            return .failure(Refusal(.atHashMismatch, "at_hash does not match the access token from the same response"))
        }
        return .success("matches the access token")
    }

    static func checkEmailVerified(_ c: JSONObjectView, required: Bool) -> Result<String, Refusal> {
        let verified: Bool
        switch c.kind(Claim.emailVerified) {
        case .bool?: verified = c.bool(Claim.emailVerified) == true
        case .string?: verified = c.string(Claim.emailVerified, equals: "true") == true   // Cognito uses the string form for some federated users
        default: verified = false
        }
        if verified { return .success("true") }
        if !required { return .success("not verified; require_email_verified = false") }
        return .failure(Refusal(.emailNotVerified, "email_verified is not true"))
    }
}

/// A span in whole seconds for display. Claims are any JSON number, so a far-off `exp` (1e300)
/// must not trap the conversion: the span is clamped to ±10^15 s.
public func wholeSeconds(_ span: Double) -> Int {
    guard span.isFinite else { return 0 }
    return Int(min(max(span, -1e15), 1e15))
}

/// Compares two strings in time that depends only on their lengths.
public func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    bytesEqual(Array(a.utf8), Array(b.utf8), constantTime: true)
}
