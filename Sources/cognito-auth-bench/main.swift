// Measures ID-token verifications per second on the calling thread, with warm keys and a
// realistic Cognito ID token from the emulator (every claim Cognito sets, 2048-bit RS256).
// Run through scripts/bench-verify, which pins it to one core and compares with OpenSSL.
import CognitoAuthCore
import CognitoEmulator
import Crypto
import CryptoExtras
import Foundation

let seconds = Double(CommandLine.arguments.dropFirst().first ?? "3") ?? 3
let emulator = CognitoEmulator(client: EmulatorClient(clientId: "bench-client", redirectURIs: ["http://localhost:8400/callback"]),
                               users: [EmulatorUser(email: "alice@example.com", password: "x", groups: ["linux-admins", "staff"],
                                                    custom: ["department": "engineering"])])

/// Calls `body` until `seconds` have passed (after a warm-up) and returns calls per second.
func rate(_ body: () -> Void) -> Int {
    for _ in 0..<200 { body() }
    let start = DispatchTime.now().uptimeNanoseconds
    let end = start + UInt64(seconds * 1e9)
    var count = 0
    var now = start
    while now < end {
        for _ in 0..<50 { body() }
        count += 50
        now = DispatchTime.now().uptimeNanoseconds
    }
    return Int(Double(count) / (Double(now - start) / 1e9))
}

do {
    let minted = try emulator.mintTokens(email: "alice@example.com", nonce: "bench-nonce")
    guard let idToken = minted.idToken else { throw CognitoEmulatorError.unknownUser("no id token") }
    let keys = try JWKSet.parse(Data(try emulator.jwksJSON().utf8)).get()
    // What a login checks: the ID token and, through at_hash, the access token from the same response.
    let login = TokenExpectations(issuer: emulator.issuer, clientId: "bench-client", nonce: "bench-nonce",
                                  accessToken: minted.accessToken, clockSkew: 60, requireEmailVerified: true, now: Date())
    // The ID token on its own (what `verify-token` and aws-jwt-verify check): at_hash has nothing to compare.
    var alone = login
    alone.accessToken = nil
    for expect in [login, alone] where TokenVerifier.verify(idToken, keys: keys, expect: expect).failure != nil {
        print("token did not verify"); exit(1)
    }
    if CommandLine.arguments.contains("--phases") { phaseReport(idToken, keys: keys, expect: login); exit(0) }
    guard case .success(let jws) = CompactJWS.parse(idToken), let kid = jws.header.string("kid"),
          let key = keys.key(for: kid)?.publicKey else { print("token did not parse"); exit(1) }

    print("token_bytes \(idToken.utf8.count)")
    print("access_token_bytes \(minted.accessToken.utf8.count)")
    print("verify_per_s \(rate { _ = TokenVerifier.verify(idToken, keys: keys, expect: login) })")
    print("verify_id_token_only_per_s \(rate { _ = TokenVerifier.verify(idToken, keys: keys, expect: alone) })")
    // The floor: SHA-256 of the signing input and the RSA check, nothing else.
    print("rs256_only_per_s \(rate { _ = key.isValidSignature(jws.rsaSignature, for: jws.signingInputDigest(), padding: .insecurePKCS1v1_5) })")
} catch {
    print("bench failed: \(error)")
    exit(1)
}
