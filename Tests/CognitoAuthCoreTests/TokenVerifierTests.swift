import CognitoAuthCore
import CognitoEmulator
import Foundation
import Testing

/// Every way a Cognito ID token can be wrong, produced by the emulator's fault injection, must be
/// refused with its own reason (issue 2 acceptance: one test per token fault).
@Suite("Token verification", .serialized)
struct TokenVerifierTests {
    static let emulator: CognitoEmulator = {
        let e = CognitoEmulator(client: EmulatorClient(clientId: "client-1", redirectURIs: ["http://localhost:8400/callback"]),
                                users: [EmulatorUser(email: "alice@example.com", password: "pw", groups: ["linux-admins"])])
        return e
    }()

    func verdict(fault: TokenFault?, nonce: String = "n-123", expectNonce: String? = "n-123",
                 requireEmailVerified: Bool = true, now: Date = Date()) throws -> TokenVerdict {
        let e = Self.emulator
        e.setFault(fault)
        defer { e.setFault(nil) }
        let (id, access) = try e.mintTokens(email: "alice@example.com", nonce: nonce)
        let keys = try JWKSet.parse(Data(try e.jwksJSON().utf8)).get()
        let expect = TokenExpectations(issuer: e.issuer, clientId: "client-1", nonce: expectNonce, accessToken: access,
                                       clockSkew: 60, requireEmailVerified: requireEmailVerified, now: now)
        return TokenVerifier.verify(try #require(id), keys: keys, expect: expect)
    }

    @Test func validTokenPassesEveryCheck() throws {
        let v = try verdict(fault: nil)
        #expect(v.failure == nil, "\(String(describing: v.failure))")
        #expect(v.token?.email == "alice@example.com")
        #expect(v.token?.groups == ["linux-admins"])
        #expect(v.checks.map(\.name).contains("signature"))
    }

    @Test(arguments: [
        (TokenFault.badSignature, ReasonCode.badSignature),
        (.unknownKid, .unknownKid),
        (.algNone, .algNotAllowed),
        (.wrongAudience, .wrongAudience),
        (.wrongIssuer, .wrongIssuer),
        (.tokenUseAccess, .wrongTokenUse),
        (.expired, .expired),
        (.nonceMismatch, .nonceMismatch),
        (.emailVerifiedFalse, .emailNotVerified),
        (.missingKid, .missingKid),
        (.hs256WithPublicKey, .algNotAllowed),
        (.rs384, .algNotAllowed),
        (.iatInFuture, .issuedInFuture),
        (.missingNonce, .nonceMismatch),
        (.missingExp, .missingExp),
        (.atHashMismatch, .atHashMismatch),
        (.expAsString, .claimWrongType),
        (.audAsNumber, .claimWrongType),
        (.groupsAsString, .claimWrongType),
        (.signedWithRemovedKey, .unknownKid),
        (.nbfInFuture, .issuedInFuture),
        (.critHeader, .malformedToken),
        (.embeddedJWK, .unknownKid),
        (.kidMismatch, .badSignature),
        (.algNoneMixedCase, .algNotAllowed),
        (.emptySignature, .badSignature),
    ])
    func faultIsRefusedWithItsReason(_ fault: TokenFault, _ reason: ReasonCode) throws {
        let v = try verdict(fault: fault)
        #expect(v.token == nil)
        #expect(v.failure?.code == reason, "\(fault.rawValue): \(String(describing: v.failure))")
    }

    @Test func expiryHonoursClockSkew() throws {
        // A fresh token checked 3600 s + 59 s later still passes; 3600 + 61 does not.
        #expect(try verdict(fault: nil, now: Date().addingTimeInterval(3659)).failure == nil)
        #expect(try verdict(fault: nil, now: Date().addingTimeInterval(3662)).failure?.code == .expired)
    }

    @Test func unverifiedEmailAcceptedOnlyWhenNotRequired() throws {
        #expect(try verdict(fault: .emailVerifiedFalse, requireEmailVerified: false).failure == nil)
    }

    @Test func anyChangeToHeaderPayloadOrSignatureIsRefused() throws {
        let e = Self.emulator
        let (id, access) = try e.mintTokens(email: "alice@example.com", nonce: "n")
        let token = try #require(id)
        let keys = try JWKSet.parse(Data(try e.jwksJSON().utf8)).get()
        let expect = TokenExpectations(issuer: e.issuer, clientId: "client-1", nonce: "n", accessToken: access,
                                       clockSkew: 60, requireEmailVerified: true, now: Date())
        #expect(TokenVerifier.verify(token, keys: keys, expect: expect).failure == nil)
        let parts = token.split(separator: ".").map(String.init)
        for index in 0..<3 {
            var p = parts
            var chars = Array(p[index])
            let i = chars.count / 2
            chars[i] = chars[i] == "A" ? "B" : "A"
            p[index] = String(chars)
            let v = TokenVerifier.verify(p.joined(separator: "."), keys: keys, expect: expect)
            #expect(v.failure != nil, "part \(index) changed but accepted")
        }
    }

    @Test(arguments: ["", "a.b", "a.b.c.d", "!!.e30.e30", "e30=.e30.", "W10.e30.", String(repeating: "a", count: 20_000)])
    func malformedStructureIsRefused(_ token: String) {
        let v = TokenVerifier.verify(token, keys: JWKSet(keys: [:]),
                                     expect: TokenExpectations(issuer: "i", clientId: "c", nonce: nil, clockSkew: 0,
                                                               requireEmailVerified: true, now: Date()))
        #expect(v.failure?.code == .malformedToken || v.failure?.code == .tokenTooLarge)
    }

    @Test func jwksRejectsUnusableKeys() throws {
        let doc = """
            {"keys":[{"kid":"ec","kty":"EC","crv":"P-256","x":"AA","y":"AA"},
                     {"kid":"enc","kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},
                     {"kid":"ps","kty":"RSA","alg":"PS256","n":"AQAB","e":"AQAB"},
                     {"kid":"small","kty":"RSA","n":"\(Base64URL.encode([UInt8](repeating: 0xC3, count: 128)))","e":"AQAB"}]}
            """
        let set = try JWKSet.parse(Data(doc.utf8)).get()
        for kid in ["ec", "enc", "ps", "small"] {
            #expect(set.key(for: kid)?.rejection != nil, "\(kid)")
            #expect(set.key(for: kid)?.publicKey == nil, "\(kid)")
        }
        #expect((try? JWKSet.parse(Data("[]".utf8)).get()) == nil)
    }
}
