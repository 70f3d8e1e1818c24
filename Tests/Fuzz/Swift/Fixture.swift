import CognitoAuthCore
import Crypto
import CryptoExtras
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// What the token targets verify against: one RSA key (a test key made for the fuzzer, never used
/// anywhere else), its JWKS, a fixed clock and a fixed sign-in. The tokens it signs have the
/// emulator's header and claims (TokenMinter), so the corpus looks like what Cognito sends.
enum Fixture {
    static let privateKeyPEM = """
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDsHLcpVxYe7Nxh
fLzGRRu5uBA0Ig+ZvSvFAjDWmIGwA9UGjQZSeieXSbOslUKsaBC7BWHoNBkegnH+
W9TEw86WTtihBvBO0B3O8EPlvfAuIIR+/p3Ud4yu8LvoU1sVV4d3emQTDLkGPix6
um30Jhj0wmcAVIc/7Jde1xkq+e8obXQvSvL+7Whrv5g1lJckFX74n//ea/kufXwB
cVQWJYaQaWqdfcvLC9Wihf40rJBTObqvFnan565GkzZfXF4gcp3t5NXhUA5w8C30
zcE4HqgzDgh7QJmlqUf+FMbX9eb7vidyt6ecO8ztl7VXQLaQlvOBqTsjD6jtUXf8
pdgia6hjAgMBAAECggEADS/EtPza90AwRguNjsng9LGIdM5ALncSYOQwmROXDp8F
gIz+Fjt3RuuZVXatQha6dHomT9h1B1oEBs+B0GQaf2ozjrll+2jZJAERhwe2yG9i
0aWOaAWDPb6j0qOxJGh+itgy4EjSHpH4saQELGIM+8J4YTGCBOUa8R40lsyy+YAZ
SgItc7/NYnsFOxZ3ZKoW7Jl+DwTE8N6GnzrcCm5k+8FlbjLPt+cDm6CBl3rs+dTm
kEq2oybXsVFwO/QS3gpqvNyjFQFAx0G/SeTW4v8FK0Pzvv2z5HA+LBp7mPwT2Rok
6xaItq946rCz3LbnnzIcD1KmC1EmtSJTn2XBTlig9QKBgQD4K0bD6YOf96Egf5hn
Whqf8/Rf6I4ud2HWr+WSXqPl5G9k9Ix4Zpp6fRSiS7f6BaNTyem/UAuj94ZQBIVo
/zcJcL/PUOJM655QwwXvuqMEp3BpSFjeSfQWoSuC8SjXBohx/V9KGkfxeUkfyJwF
cfmcqhYzr0oYGxoMzI+Yda/XtwKBgQDzkAr7k4w7WUqKKwUALycLi+jQLFEVK7E3
vHoltrrYpma+8RgsO6xu4iaEa0qbfurCb6EO65QshchaU5c9uMcMbowQ59s4DHsy
WdBAAqLUcy+OLv31VJZpGCKyb4+JXWmav17iPhWBAfpnt0XQqwrT1V5EXNQlnWVm
PcHrUUD8tQKBgAOCoTKeN/VoTEgoZeB4Xs4KZleA85nmqGSgAlBKtGjJDWZRKzd8
xAydflA5X/XSZJgH0B2bpT6Bfs3c8oIksgOZK61kCH9sCcY8q/XTHwEu2SE0G8Wx
KBm11+a3QIuiFQX/vnxO2NuqioU/ki1lilFT+pJqlVK392tc7V8LsxwLAoGAYnhZ
+Fwu1c/D0xiRbQGjR4fJGGDSZzzC6UXKHHVEFVMxNwFCRJ/blvjXmbHG+BbX0sRO
2TllLprn5ZzmCI4r61rGRg93EbH6HOEy0K5AJqRrFZDqG8WXCeY4IOv5nA+oImg8
dDuldgLWuhfeof6E4h/hfMILAyofVLajMAApxgECgYBdob277KaGiNlB56tSOlJx
4/FjJtPDOiWv2lxoWu51ySww6nVzcXN3PfGsXTkkBROm0yaqERBNLzWiG+ZJhjU+
MA7knJmRD5bWV3ZLs74WLgeBKmH8/sEXDiSpo/eWvgen0xDUy4S8X4j7Nzzbm34X
BAMpMCAUg4ovu1RaPCM1iQ==
-----END PRIVATE KEY-----
"""
    static let kid = "fuzz-key-1+/=="
    static let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Fuzz0000"
    static let clientId = "fuzzclient0123456789abcdef"
    static let nonce = "bm9uY2Utb2YtdGhpcy1zaWduLWlu"
    static let state = "c3RhdGUtb2YtdGhpcy1zaWduLWlu"
    static let accessToken = "eyJraWQiOiJhY2Nlc3MiLCJhbGciOiJSUzI1NiJ9.eyJ0b2tlbl91c2UiOiJhY2Nlc3MifQ.c2ln"
    static let now = 1_780_000_000

    nonisolated(unsafe) static var keys = JWKSet(keys: [:])
    nonisolated(unsafe) static var modulus: [UInt8] = []
    /// Every token the fixture signed: the only tokens that may ever verify.
    nonisolated(unsafe) static var signed: Set<String> = []
    nonisolated(unsafe) static var jwksJSON = ""

    static var expectations: TokenExpectations {
        TokenExpectations(issuer: issuer, clientId: clientId, nonce: nonce, accessToken: accessToken, clockSkew: 60,
                          requireEmailVerified: true, now: Date(timeIntervalSince1970: Double(now)))
    }

    static func prepare() {
        guard let key = try? _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM),
              let primitives = try? key.publicKey.getKeyPrimitives() else {
            fatalError("fixture key does not load")
        }
        modulus = Array(primitives.modulus.drop { $0 == 0 })
        let e = Array(primitives.publicExponent.drop { $0 == 0 })
        jwksJSON = #"{"keys":[{"alg":"RS256","e":"\#(Base64URL.encode(e))","kid":"\#(kid)","kty":"RSA","n":"\#(Base64URL.encode(modulus))","use":"sig"},"#
            + #"{"alg":"RS256","e":"AQAB","kid":"small","kty":"RSA","n":"\#(Base64URL.encode([UInt8](repeating: 0xC3, count: 128)))","use":"sig"}]}"#
        guard case .success(let set) = JWKSet.parse(Array(jwksJSON.utf8)) else { fatalError("fixture JWKS does not parse") }
        keys = set
        signed = Set(tokenClaims.map { sign($0, key: key) })
        guard signed.contains(where: { TokenVerifier.verify($0, keys: keys, expect: expectations).token != nil }) else {
            fatalError("no fixture token verifies: the jwt target would test nothing")
        }
    }

    static func sign(_ claims: String, header: String? = nil, key: _RSA.Signing.PrivateKey) -> String {
        let h = header ?? #"{"kid":"\#(kid)","alg":"RS256"}"#
        let input = Base64URL.encode(Array(h.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        guard let sig = try? key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5) else {
            fatalError("fixture key does not sign")
        }
        return input + "." + Base64URL.encode(Array(sig.rawRepresentation))
    }

    static var atHash: String {
        Base64URL.encode(Array(SHA256.hash(data: Array(accessToken.utf8))).prefix(16))
    }

    /// The emulator's ID token claims (TokenMinter's order), and variants that are wrong on purpose
    /// (an access token, expired, email not verified): signed, so the verifier gets past the
    /// signature to the claim checks.
    static var tokenClaims: [String] {
        let sub = "7c2b1f4e-0d1a-4c39-9a57-1f2e3d4c5b6a"
        let base = #""at_hash":"\#(atHash)","sub":"\#(sub)","cognito:groups":["linux-admins"],"email_verified":true,"iss":"\#(issuer)","cognito:username":"\#(sub)","nonce":"\#(nonce)","origin_jti":"0b8f6c2e-5a4d-4e3b-8c1a-9d7e6f5a4b3c","aud":"\#(clientId)","event_id":"5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170","token_use":"id","auth_time":\#(now - 5),"exp":\#(now + 3600),"iat":\#(now - 5),"jti":"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d","email":"alice@example.com""#
        return [
            "{" + base + "}",
            "{" + base.replacing(#""aud":"\#(clientId)""#, with: #""aud":["\#(clientId)","other"],"azp":"\#(clientId)""#) + "}",
            "{" + base.replacing(#""token_use":"id""#, with: #""token_use":"access""#) + "}",
            "{" + base.replacing(#""exp":\#(now + 3600)"#, with: #""exp":\#(now - 3600)"#) + "}",
            "{" + base.replacing(#""email_verified":true"#, with: #""email_verified":"false""#) + "}",
        ]
    }

    static func writeSeeds(to dir: String) {
        prepare()
        func write(_ target: String, _ name: String, _ text: String) {
            let folder = dir + "/" + target
            _ = mkdir(folder, 0o755)
            guard let f = fopen(folder + "/" + name, "w") else { fatalError("cannot write \(folder)/\(name)") }
            fputs(text, f)
            fclose(f)
        }
        for (i, t) in signed.sorted().enumerated() { write("jwt", "signed-\(i)", t) }
        write("jwks", "fixture.json", jwksJSON)
    }
}
