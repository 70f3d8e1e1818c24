import CognitoAuthCore
import Crypto
import CryptoExtras
import Foundation

/// Per-phase timing, printed with --phases, to see where a verification's time goes.
func phaseReport(_ token: String, keys: JWKSet, expect: TokenExpectations) {
    let scale = Int(ProcessInfo.processInfo.environment["BENCH_PHASE_SCALE"] ?? "1") ?? 1
    // The fastest of 7 rounds: on a shared machine the minimum is the steadiest estimate.
    @discardableResult
    func time(_ name: String, _ n: Int = 1000, _ body: () -> Void) -> Double {
        let n = n * scale
        if let only = ProcessInfo.processInfo.environment["BENCH_PHASE_ONLY"], only != name { return 0 }
        var best = Double.infinity
        for _ in 0..<7 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<n { body() }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(n) / 1000)
        }
        print(String(format: "phase %-30@ %8.2f us", name as NSString, best))
        return best
    }
    guard case .success(let jws) = CompactJWS.parse(token), let kid = jws.header.string("kid"),
          let key = keys.key(for: kid)?.publicKey else { return }
    let sig = _RSA.Signing.RSASignature(rawRepresentation: jws.signature)
    let digest = jws.signingInputDigest()
    let access = expect.accessToken ?? ""
    time("CompactJWS.parse") { _ = CompactJWS.parse(token) }
    let input = time("sha256 signing input") { _ = jws.signingInputDigest() }
    let atHash = time("sha256 access token (at_hash)") { _ = access.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) } }
    let rsa = time("rsa verify (digest given)") { _ = key.isValidSignature(sig, for: digest, padding: .insecurePKCS1v1_5) }
    let all = time("verify (all)") { _ = TokenVerifier.verify(token, keys: keys, expect: expect) }
    var alone = expect
    alone.accessToken = nil
    let idOnly = time("verify (no access token)") { _ = TokenVerifier.verify(token, keys: keys, expect: alone) }
    time("verify, stops at key") { _ = TokenVerifier.verify(token, keys: JWKSet(keys: [:]), expect: expect) }
    time("RSASignature + rsa verify") {
        _ = key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: jws.signature), for: jws.signingInputDigest(), padding: .insecurePKCS1v1_5)
    }
    time("parse + signature") {
        guard case .success(let j) = CompactJWS.parse(token) else { return }
        _ = key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: j.signature), for: j.signingInputDigest(), padding: .insecurePKCS1v1_5)
    }
    let claims = jws.claims
    time("claims.kind x16") {
        for n in ["iss", "sub", "token_use", "nonce", "email", "at_hash", "jti", "cognito:username", "exp", "iat", "auth_time", "nbf", "aud", "cognito:groups", "email_verified", "azp"] { _ = claims.kind(n) }
    }
    time("claims.kind(iss)") { _ = claims.kind("iss") }
    time("isArrayOfStrings(groups)") { _ = claims.isArrayOfStrings("cognito:groups") }
    time("header.string(kid)+key(for:)") { _ = keys.key(for: jws.header.string("kid") ?? "") }
    time("string(iss, equals:)") { _ = claims.string("iss", equals: expect.issuer) }
    var wrongIssuer = alone
    wrongIssuer.issuer = "x"
    time("verify, stops at issuer") { _ = TokenVerifier.verify(token, keys: keys, expect: wrongIssuer) }
    print(String(format: "phase %-30@ %8.2f us", "= parse and checks" as NSString, all - rsa - input - atHash))
    print(String(format: "phase %-30@ %8.2f us", "= parse and checks (no at)" as NSString, idOnly - rsa - input))
}
