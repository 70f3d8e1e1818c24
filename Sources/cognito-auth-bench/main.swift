// Measures ID-token verifications per second on the calling thread, with warm keys and a
// realistic Cognito ID token from the emulator (every claim Cognito sets, 2048-bit RS256).
// Run through scripts/bench-verify, which pins it to one core and compares with OpenSSL.
import CognitoAuthCore
import CognitoEmulator
import Foundation

let seconds = Double(CommandLine.arguments.dropFirst().first ?? "3") ?? 3
let emulator = CognitoEmulator(client: EmulatorClient(clientId: "bench-client", redirectURIs: ["http://localhost:8400/callback"]),
                               users: [EmulatorUser(email: "alice@example.com", password: "x", groups: ["linux-admins", "staff"],
                                                    custom: ["department": "engineering"])])
do {
    let minted = try emulator.mintTokens(email: "alice@example.com", nonce: "bench-nonce")
    guard let idToken = minted.idToken else { throw CognitoEmulatorError.unknownUser("no id token") }
    let keys = try JWKSet.parse(Data(try emulator.jwksJSON().utf8)).get()
    let expect = TokenExpectations(issuer: emulator.issuer, clientId: "bench-client", nonce: "bench-nonce",
                                   accessToken: minted.accessToken, clockSkew: 60, requireEmailVerified: true, now: Date())
    guard TokenVerifier.verify(idToken, keys: keys, expect: expect).failure == nil else {
        print("token did not verify"); exit(1)
    }
    if CommandLine.arguments.contains("--phases") { phaseReport(idToken, keys: keys, expect: expect); exit(0) }
    // Warm up, then count whole verifications until the time is up.
    for _ in 0..<200 { _ = TokenVerifier.verify(idToken, keys: keys, expect: expect) }
    let start = DispatchTime.now().uptimeNanoseconds
    let end = start + UInt64(seconds * 1e9)
    var count = 0
    var now = start
    while now < end {
        for _ in 0..<50 { _ = TokenVerifier.verify(idToken, keys: keys, expect: expect) }
        count += 50
        now = DispatchTime.now().uptimeNanoseconds
    }
    let rate = Double(count) / (Double(now - start) / 1e9)
    print("token_bytes \(idToken.utf8.count)")
    print("verify_per_s \(Int(rate))")
} catch {
    print("bench failed: \(error)")
    exit(1)
}
