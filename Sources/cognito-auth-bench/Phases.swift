import CognitoAuthCore
import Crypto
import CryptoExtras
import Foundation

/// Per-phase timing, printed with --phases, to see where a verification's time goes.
/// BENCH_PHASE_SCALE=N runs each phase N times longer (for perf); BENCH_PHASE_ONLY=name runs one.
func phaseReport(_ token: String, keys: JWKSet, expect: TokenExpectations) {
    let scale = Int(ProcessInfo.processInfo.environment["BENCH_PHASE_SCALE"] ?? "1") ?? 1
    // The fastest of 7 rounds: on a shared machine the minimum is the steadiest estimate.
    @discardableResult
    func time(_ name: String, _ n: Int = 1000, _ body: () -> Void) -> Double {
        if let only = ProcessInfo.processInfo.environment["BENCH_PHASE_ONLY"], only != name { return 0 }
        var best = Double.infinity
        for _ in 0..<7 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<n * scale { body() }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(n * scale) / 1000)
        }
        print(String(format: "phase %-32@ %8.2f us", name as NSString, best))
        return best
    }
    guard case .success(let jws) = CompactJWS.parse(token), let kid = jws.header.string("kid"),
          let key = keys.key(for: kid)?.publicKey else { return }
    let signature = jws.rsaSignature
    let digest = jws.signingInputDigest()
    let access = expect.accessToken ?? ""
    let payloadText = token.split(separator: ".")[1]
    let payload = Array(Base64URL.decode(payloadText) ?? Data())
    var alone = expect
    alone.accessToken = nil

    time("base64url decode payload") { _ = Base64URL.decode(payloadText) }
    time("JSON view of payload") { _ = JSONObjectView.parse(payload, range: 0..<payload.count) }
    time("JSON tree of payload") { _ = StrictJSON.parse(payload) }
    let parse = time("CompactJWS.parse (all three)") { _ = CompactJWS.parse(token) }
    let input = time("sha256 signing input") { _ = jws.signingInputDigest() }
    let atHash = time("sha256 access token (at_hash)") {
        _ = access.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }
    let rsa = time("rsa verify (digest given)") { _ = key.isValidSignature(signature, for: digest, padding: .insecurePKCS1v1_5) }
    let all = time("verify (login: with at_hash)") { _ = TokenVerifier.verify(token, keys: keys, expect: expect) }
    let idOnly = time("verify (ID token only)") { _ = TokenVerifier.verify(token, keys: keys, expect: alone) }
    print(String(format: "phase %-32@ %8.2f us", "= claim checks, login" as NSString, all - parse - rsa - input - atHash))
    print(String(format: "phase %-32@ %8.2f us", "= claim checks, ID token only" as NSString, idOnly - parse - rsa - input))
}
