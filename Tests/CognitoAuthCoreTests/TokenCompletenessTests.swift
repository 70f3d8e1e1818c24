import CognitoAuthCore
import CognitoEmulator
import Crypto
import CryptoExtras
import Foundation
import Testing

/// Issue 3: the checks aws-jwt-verify makes and the gaps it leaves, each on a token built by
/// signing chosen header and claims with a test key, asserting the specific reason.
@Suite("Token verification, complete")
struct TokenCompletenessTests {
    static let key: _RSA.Signing.PrivateKey? = try? _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func jwk(kid: String = "k1", alg: JSONValue? = .string("RS256"), use: JSONValue? = .string("sig"),
                    kty: String = "RSA", n: String? = nil) throws -> String {
        let key = try #require(Self.key)
        let p = try key.publicKey.getKeyPrimitives()
        var o: [String: JSONValue] = ["kid": .string(kid), "kty": .string(kty), "e": .string(Base64URL.encode(p.publicExponent)),
                                      "n": .string(n ?? Base64URL.encode(p.modulus))]
        if let alg { o["alg"] = alg }
        if let use { o["use"] = use }
        return JSONValue.object(["keys": .array([.object(o)])]).jsonText
    }

    func claims(_ change: (inout [String: JSONValue]) -> Void = { _ in }) -> [String: JSONValue] {
        var c: [String: JSONValue] = [
            "sub": .string("s-1"), "iss": .string(Self.issuer), "aud": .string("client-1"), "token_use": .string("id"),
            "exp": .number(now.timeIntervalSince1970 + 3600), "iat": .number(now.timeIntervalSince1970),
            "auth_time": .number(now.timeIntervalSince1970), "nonce": .string("n-1"), "email": .string("alice@example.com"),
            "email_verified": .bool(true), "cognito:groups": .array([.string("linux-admins")]),
        ]
        change(&c)
        return c
    }

    func sign(header: [String: JSONValue] = ["alg": .string("RS256"), "kid": .string("k1")], payload: String) throws -> String {
        let input = Base64URL.encode(Array(JSONValue.object(header).jsonText.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let key = try #require(Self.key)
        let sig = try key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5)
        return input + "." + Base64URL.encode(sig.rawRepresentation)
    }

    func verify(_ token: String, jwks: String? = nil, requireEmailVerified: Bool = true) throws -> CheckResult? {
        let keys = try JWKSet.parse(Data((try jwks ?? Self.jwk()).utf8)).get()
        let expect = TokenExpectations(issuer: Self.issuer, clientId: "client-1", nonce: "n-1", clockSkew: 60,
                                       requireEmailVerified: requireEmailVerified, now: now)
        return TokenVerifier.verify(token, keys: keys, expect: expect).failure
    }

    @Test func baselineTokenIsValid() throws {
        #expect(try verify(sign(payload: JSONValue.object(claims()).jsonText)) == nil)
    }

    @Test(arguments: ["PS256", "RS384", "RS512", "HS256", "ES256", "none", "rs256"])
    func headerAlgOtherThanRS256(_ alg: String) throws {
        let t = try sign(header: ["alg": .string(alg), "kid": .string("k1")], payload: JSONValue.object(claims()).jsonText)
        #expect(try verify(t)?.code == .algNotAllowed)
    }

    @Test func jwkWithDifferentAlgIsRejected() throws {
        let t = try sign(payload: JSONValue.object(claims()).jsonText)
        #expect(try verify(t, jwks: Self.jwk(alg: .string("RS512")))?.code == .keyRejected)
    }
    @Test func jwkWithoutAlgIsAccepted() throws {
        let t = try sign(payload: JSONValue.object(claims()).jsonText)
        #expect(try verify(t, jwks: Self.jwk(alg: nil, use: nil)) == nil)
    }
    @Test func jwkForEncryptionIsRejected() throws {
        let t = try sign(payload: JSONValue.object(claims()).jsonText)
        #expect(try verify(t, jwks: Self.jwk(use: .string("enc")))?.code == .keyRejected)
    }
    @Test func nonRSAKeyIsRejected() throws {
        let t = try sign(payload: JSONValue.object(claims()).jsonText)
        #expect(try verify(t, jwks: Self.jwk(kty: "EC"))?.code == .keyRejected)
    }
    @Test func rsaKeyUnder2048BitsIsRejected() throws {
        let t = try sign(payload: JSONValue.object(claims()).jsonText)
        let small = Base64URL.encode([0xC7] + [UInt8](repeating: 0x5B, count: 127))   // 1024 bits
        #expect(try verify(t, jwks: Self.jwk(n: small))?.code == .keyRejected)
    }

    @Test(arguments: [
        ("exp", JSONValue.string("1800003600"), ReasonCode.claimWrongType),
        ("iat", .string("now"), .claimWrongType),
        ("aud", .number(1), .claimWrongType),
        ("aud", .array([.string("client-1"), .number(2)]), .claimWrongType),
        ("cognito:groups", .string("linux-admins"), .claimWrongType),
        ("cognito:groups", .array([.number(1)]), .claimWrongType),
        ("iss", .array([]), .claimWrongType),
        ("email_verified", .number(1), .claimWrongType),
        ("nonce", .bool(true), .claimWrongType),
    ])
    func claimOfTheWrongJSONType(_ name: String, _ value: JSONValue, _ reason: ReasonCode) throws {
        let t = try sign(payload: JSONValue.object(claims { $0[name] = value }).jsonText)
        #expect(try verify(t)?.code == reason, "\(name)")
    }

    @Test func missingClaims() throws {
        func without(_ n: String) throws -> ReasonCode? { try verify(sign(payload: JSONValue.object(claims { $0[n] = nil }).jsonText))?.code }
        #expect(try without("exp") == .missingExp)
        #expect(try without("iss") == .wrongIssuer)
        #expect(try without("aud") == .wrongAudience)
        #expect(try without("token_use") == .wrongTokenUse)
        #expect(try without("nonce") == .nonceMismatch)
        #expect(try without("iat") == .missingClaim)
        #expect(try without("email_verified") == .emailNotVerified)
    }

    @Test func emailVerifiedAsStringFollowsItsMeaning() throws {
        // Cognito writes the string form for some federated users; "true" means true, nothing else does.
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["email_verified"] = .string("true") }).jsonText)) == nil)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["email_verified"] = .string("false") }).jsonText))?.code == .emailNotVerified)
    }

    @Test func expiryAndIssuedAtAroundTheSkew() throws {
        let t0 = now.timeIntervalSince1970
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["exp"] = .number(t0 - 59) }).jsonText)) == nil)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["exp"] = .number(t0 - 61) }).jsonText))?.code == .expired)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["iat"] = .number(t0 + 59) }).jsonText)) == nil)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["iat"] = .number(t0 + 61) }).jsonText))?.code == .issuedInFuture)
    }

    @Test func audienceArrays() throws {
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["aud"] = .array([.string("client-1")]) }).jsonText)) == nil)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["aud"] = .array([.string("client-1"), .string("other")]) }).jsonText))?.code == .wrongAudience)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["aud"] = .array([.string("client-1"), .string("other")]); $0["azp"] = .string("client-1") }).jsonText)) == nil)
    }

    @Test func duplicateMembersAreRefusedNotResolved() throws {
        // Two parsers could read two different audiences from this payload: refuse it outright.
        var text = JSONValue.object(claims()).jsonText
        text.removeLast()
        text += #","aud":"other-client"}"#
        #expect(try verify(sign(payload: text))?.code == .malformedToken)
        let header = #"{"alg":"RS256","kid":"k1","alg":"none"}"#
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(claims()).jsonText.utf8))
        let key = try #require(Self.key)
        let sig = try key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5)
        #expect(try verify(input + "." + Base64URL.encode(sig.rawRepresentation))?.code == .malformedToken)
    }

    @Test func oversizedTokenIsRefusedBeforeParsing() throws {
        let t = try sign(payload: JSONValue.object(claims { $0["pad"] = .string(String(repeating: "x", count: 13_000)) }).jsonText)
        #expect(try verify(t)?.code == .tokenTooLarge)
    }

    /// Claims are any JSON number: a far-off time must be judged, never trap a conversion.
    @Test func farOffTimesAreJudgedWithoutTrapping() throws {
        let ok = TokenVerifier.verify(try sign(payload: JSONValue.object(claims { $0["exp"] = .number(1e300) }).jsonText),
                                      keys: try JWKSet.parse(Data(try Self.jwk().utf8)).get(),
                                      expect: TokenExpectations(issuer: Self.issuer, clientId: "client-1", nonce: "n-1", clockSkew: 60,
                                                                requireEmailVerified: true, now: now))
        #expect(ok.failure == nil)
        #expect(ok.checks.first { $0.name == "expiry" }?.detail == "expires in 1000000000000000 s")
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["exp"] = .number(-1e300) }).jsonText))?.code == .expired)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["nbf"] = .number(1e300) }).jsonText))?.code == .issuedInFuture)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["iat"] = .number(1e300) }).jsonText))?.code == .issuedInFuture)
        #expect(try verify(sign(payload: JSONValue.object(claims { $0["iat"] = .number(-1e300) }).jsonText)) == nil)
        let old = Policy(maxAuthAge: 300).evaluate(claims: claims { $0["auth_time"] = .number(-1e300) }, now: now)
        #expect(old.first { !$0.passed }?.code == .authTooOld)
    }

    /// Claims are compared as bytes when that is exact; JSON escapes must still mean their text.
    @Test func escapedClaimValuesMeanTheirText() throws {
        func payload(_ replace: (String) -> String) -> String { replace(JSONValue.object(claims()).jsonText) }
        let escapedIssuer = payload { $0.replacingOccurrences(of: "https://", with: #"https:\/\/"#) }
        #expect(escapedIssuer.contains(#"\/"#))
        #expect(try verify(sign(payload: escapedIssuer)) == nil)
        #expect(try verify(sign(payload: payload { $0.replacingOccurrences(of: #""n-1""#, with: #""n-1""#) })) == nil)
        #expect(try verify(sign(payload: payload { $0.replacingOccurrences(of: #""id""#, with: #""id""#) })) == nil)
        #expect(try verify(sign(payload: payload { $0.replacingOccurrences(of: #""n-1""#, with: #""n-2""#) }))?.code == .nonceMismatch)
        let escapedKid = try sign(header: ["alg": .string("RS256"), "kid": .string("k1")], payload: JSONValue.object(claims()).jsonText)
        #expect(try verify(escapedKid) == nil)
        let header = #"{"alg":"RS256","kid":"k1"}"#
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(claims()).jsonText.utf8))
        let key = try #require(Self.key)
        let sig = try key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5)
        #expect(try verify(input + "." + Base64URL.encode(sig.rawRepresentation)) == nil)
    }

    @Test func atHashIsComparedByItsTextEvenWhenEscaped() throws {
        let access = "header.payload.signature-of-the-access-token"
        let atHash = Base64URL.encode(Array(SHA256.hash(data: Array(access.utf8))).prefix(16))
        let keys = try JWKSet.parse(Data(try Self.jwk().utf8)).get()
        func check(_ value: String) throws -> CheckResult? {
            var text = JSONValue.object(claims()).jsonText
            text.removeLast()
            text += #","at_hash":"\#(value)"}"#
            let expect = TokenExpectations(issuer: Self.issuer, clientId: "client-1", nonce: "n-1", accessToken: access,
                                           clockSkew: 60, requireEmailVerified: true, now: now)
            return TokenVerifier.verify(try sign(payload: text), keys: keys, expect: expect).failure
        }
        #expect(try check(atHash) == nil)
        let first = try #require(atHash.unicodeScalars.first)
        #expect(try check(String(format: "\\u%04x", first.value) + atHash.dropFirst()) == nil)
        #expect(try check(String(atHash.dropLast()) + (atHash.hasSuffix("A") ? "B" : "A"))?.code == .atHashMismatch)
    }

    @Test func aMemberNameEscapedToDuplicateAnotherIsRefused() throws {
        var text = JSONValue.object(claims()).jsonText
        text.removeLast()
        text += #","aud":"other-client"}"#
        #expect(try verify(sign(payload: text))?.code == .malformedToken)
    }
}
