import CognitoAuthCore
import Crypto
import CryptoExtras
import Foundation

/// Per-phase timing, printed with --phases, to see where a verification's time goes.
func phaseReport(_ token: String, keys: JWKSet, expect: TokenExpectations) {
    let scale = Int(ProcessInfo.processInfo.environment["BENCH_PHASE_SCALE"] ?? "1") ?? 1
    func time(_ name: String, _ n: Int = 2000, _ body: () -> Void) {
        let n = n * scale
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<n { body() }
        let us = Double(DispatchTime.now().uptimeNanoseconds - t0) / Double(n) / 1000
        print(String(format: "phase %-22@ %8.2f us", name as NSString, us))
    }
    let parts = token.split(separator: ".")
    time("base64url x3") { for p in parts { _ = Base64URL.decode(p) } }
    let header = Base64URL.decode(parts[0]) ?? Data()
    let payload = Base64URL.decode(parts[1]) ?? Data()
    time("json header+payload") { _ = JSONValue.parseObject(header); _ = JSONValue.parseObject(payload) }
    time("CompactJWS.parse") { _ = CompactJWS.parse(token) }
    guard case .success(let jws) = CompactJWS.parse(token), let kid = jws.header["kid"]?.stringValue,
          let key = keys.key(for: kid)?.publicKey else { return }
    let sig = _RSA.Signing.RSASignature(rawRepresentation: jws.signature)
    time("sha256") { _ = SHA256.hash(data: jws.signingInput) }
    time("verify (all)") { _ = TokenVerifier.verify(token, keys: keys, expect: expect) }
    time("rsa verify") { _ = key.isValidSignature(sig, for: SHA256.hash(data: jws.signingInput), padding: .insecurePKCS1v1_5) }
}
