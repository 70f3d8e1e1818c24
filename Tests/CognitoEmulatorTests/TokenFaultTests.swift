import CognitoAuthCore
@testable import CognitoEmulator
import Crypto
import CryptoExtras
import Foundation
import Testing

@Suite("Cognito emulator: token faults", .timeLimit(.minutes(3)))
struct TokenFaultTests {
    /// Every fault, through the real flow: the ID token has exactly the named defect, and the
    /// access token stays correct.
    @Test(arguments: TokenFault.allCases)
    func faultProducesItsDefect(_ fault: TokenFault) async throws {
        let f = try Fixture()
        let oldKid = f.emulator.keyIDs.map(\.idToken)
        let keysBeforeRotation = try await f.jwks()
        if fault == .signedWithRemovedKey { try f.emulator.rotateSigningKey() }
        let keysBefore = try await f.jwks()
        f.emulator.setFault(fault)
        let t = try await f.tokens()
        let id = try DecodedJWT(try #require(t["id_token"]?.string))
        let access = try DecodedJWT(try #require(t["access_token"]?.string))
        let ids = try #require(f.emulator.keyIDs)
        let keys = try await f.jwks()
        #expect(keys.keys.sorted() == keysBefore.keys.sorted())
        let idJWK = try #require(keys[ids.idToken])
        let accessJWK = try #require(keys[ids.accessToken])
        #expect(verifiesRS256(access, with: accessJWK), "the access token stays good")
        let c = id.claims, h = id.header
        let now = Date().timeIntervalSince1970
        let publicPEM = try f.emulator.keyRing().idKey.privateKey.publicKey.pemRepresentation

        // What stays right unless the fault is about it.
        if ![.badSignature, .unknownKid, .algNone, .algNoneMixedCase, .emptySignature, .hs256WithPublicKey, .rs384,
             .signedWithRemovedKey, .embeddedJWK, .kidMismatch].contains(fault) {
            #expect(verifiesRS256(id, with: idJWK), "signature still good for \(fault)")
        }
        if ![.wrongAudience, .audAsNumber, .duplicateAudience].contains(fault) { #expect(c["aud"]?.string == "client-abc123") }
        if fault != .wrongIssuer { #expect(c["iss"]?.string == f.emulator.issuer) }

        switch fault {
        case .badSignature:
            #expect(h["kid"]?.string == ids.idToken)
            #expect(!verifiesRS256(id, with: idJWK))
            #expect(id.signature.count == 256)
        case .unknownKid:
            let kid = try #require(h["kid"]?.string)
            #expect(keys[kid] == nil)
            #expect(h["alg"]?.string == "RS256")
            #expect(!verifiesRS256(id, with: idJWK))
        case .algNone:
            #expect(h["alg"]?.string == "none")
            #expect(id.signature.isEmpty)
        case .algNoneMixedCase:
            #expect(h["alg"]?.string == "nOnE")
            #expect(id.signature.isEmpty)
        case .emptySignature:
            #expect(h["alg"]?.string == "RS256")
            #expect(id.signature.isEmpty)
        case .wrongAudience:
            #expect(c["aud"]?.string != nil && c["aud"]?.string != "client-abc123")
        case .wrongIssuer:
            #expect(c["iss"]?.string != nil && c["iss"]?.string != f.emulator.issuer)
        case .tokenUseAccess:
            #expect(c["token_use"]?.string == "access")
        case .expired:
            #expect((c["exp"]?.number ?? .infinity) < now - 3000)
            #expect((c["iat"]?.number ?? .infinity) < now - 3000)
        case .nonceMismatch:
            #expect(c["nonce"]?.string != nil && c["nonce"]?.string != "n-456")
        case .emailVerifiedFalse:
            #expect(c["email_verified"] == .bool(false))
        case .emailVerifiedAsString:
            #expect(c["email_verified"] == .string("true"))
        case .missingKid:
            #expect(h["kid"] == nil)
            #expect(h["alg"]?.string == "RS256")
        case .hs256WithPublicKey:
            #expect(h["alg"]?.string == "HS256")
            #expect(h["kid"]?.string == ids.idToken)
            let mac = HMAC<SHA256>.authenticationCode(for: Array(id.signingInput.utf8),
                                                       using: SymmetricKey(data: Array(publicPEM.utf8)))
            #expect(Array(mac) == id.signature)
            #expect(publicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        case .rs384:
            #expect(h["alg"]?.string == "RS384")
            let n = try #require(idJWK["n"]?.string.flatMap { Base64URL.decode($0) })
            let e = try #require(idJWK["e"]?.string.flatMap { Base64URL.decode($0) })
            let key = try _RSA.Signing.PublicKey(n: n, e: e)
            #expect(key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: id.signature),
                                         for: SHA384.hash(data: Array(id.signingInput.utf8)), padding: .insecurePKCS1v1_5))
            #expect(!verifiesRS256(id, with: idJWK))
        case .iatInFuture:
            #expect((c["iat"]?.number ?? 0) > now + 3000)
        case .nbfInFuture:
            #expect((c["nbf"]?.number ?? 0) > now + 3000)
        case .missingNonce:
            #expect(c["nonce"] == nil)
        case .missingExp:
            #expect(c["exp"] == nil)
        case .missingSub:
            #expect(c["sub"] == nil)
        case .missingEmail:
            #expect(c["email"] == nil)
        case .atHashMismatch:
            let good = Base64URL.encode(Array(SHA256.hash(data: Array((t["access_token"]?.string ?? "").utf8)))[0..<16])
            #expect(c["at_hash"]?.string != nil && c["at_hash"]?.string != good)
        case .expAsString:
            let exp = try #require(c["exp"]?.string)
            #expect(Double(exp) == (c["iat"]?.number ?? 0) + 3600)
        case .audAsNumber:
            #expect(c["aud"]?.number != nil)
        case .groupsAsString:
            #expect(c["cognito:groups"] == .string("linux-admins"))
        case .signedWithRemovedKey:
            let kid = try #require(h["kid"]?.string)
            #expect(kid == oldKid)
            #expect(keys[kid] == nil)
            let oldJWK = try #require(keysBeforeRotation[kid])
            #expect(verifiesRS256(id, with: oldJWK))
        case .authTimeOld:
            #expect((c["auth_time"]?.number ?? .infinity) < now - 86_400)
            #expect((c["exp"]?.number ?? 0) > now)
        case .critHeader:
            #expect(h["crit"] == .array([.string("exp")]))
        case .embeddedJWK:
            let jwk = try #require(h["jwk"])
            let kid = try #require(h["kid"]?.string)
            #expect(jwk["kid"]?.string == kid)
            #expect(keys[kid] == nil)
            #expect(verifiesRS256(id, with: jwk))
        case .kidMismatch:
            #expect(h["kid"]?.string == ids.accessToken)
            #expect(!verifiesRS256(id, with: accessJWK))
            #expect(verifiesRS256(id, with: idJWK))
        case .duplicateAudience:
            #expect(id.payloadText.components(separatedBy: "\"aud\":").count == 3)
            #expect(id.payloadText.contains("\"aud\":\"client-abc123\""))
        }

        // Cleared: the next token is right again.
        f.emulator.setFault(nil)
        let clean = try await f.idToken()
        #expect(verifiesRS256(clean, with: try #require(try await f.jwks()[ids.idToken])))
        #expect(clean.claims["nonce"]?.string == "n-456")
    }

    @Test func faultPersistsUntilCleared() async throws {
        let f = try Fixture()
        f.emulator.setFault(.expired)
        #expect(f.emulator.currentFault == .expired)
        for _ in 0..<2 {
            let id = try await f.idToken()
            #expect((id.claims["exp"]?.number ?? .infinity) < Date().timeIntervalSince1970)
        }
    }

    @Test func removedKeyBeforeAnyRotationIsNeverPublished() async throws {
        let f = try Fixture()
        f.emulator.setFault(.signedWithRemovedKey)
        let id = try await f.idToken()
        let kid = try #require(id.header["kid"]?.string)
        #expect(try await f.jwks()[kid] == nil)
    }

    @Test func rotationReplacesTheIDKeyOnly() async throws {
        let f = try Fixture()
        let before = try #require(f.emulator.keyIDs)
        let newKid = try f.emulator.rotateSigningKey()
        let after = try #require(f.emulator.keyIDs)
        #expect(after.idToken == newKid)
        #expect(newKid != before.idToken)
        #expect(after.accessToken == before.accessToken)
        let keys = try await f.jwks()
        #expect(Set(keys.keys) == [newKid, before.accessToken])
        let id = try await f.idToken()
        #expect(id.header["kid"]?.string == newKid)
        #expect(verifiesRS256(id, with: try #require(keys[newKid])))
    }
}
