import CognitoAuthCore
@testable import CognitoEmulator
import Crypto
import CryptoExtras
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A JSON value that keeps JSON types apart (a bool is not a number, a number not a string).
enum J: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([J]), object([String: J])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let n = try? c.decode(Double.self) { self = .number(n); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([J].self) { self = .array(a); return }
        self = .object(try c.decode([String: J].self))
    }

    subscript(_ key: String) -> J? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    var object: [String: J]? { if case .object(let o) = self { return o } else { return nil } }
    var array: [J]? { if case .array(let a) = self { return a } else { return nil } }

    static func parse(_ data: Data) throws -> J { try JSONDecoder().decode(J.self, from: data) }
    static func parse(_ text: String) throws -> J { try parse(Data(text.utf8)) }
}

/// A decoded compact JWS.
struct DecodedJWT {
    var header: J
    var claims: J
    var headerText: String
    var payloadText: String
    var signature: [UInt8]
    var signingInput: String

    init(_ token: String) throws {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 3)
        let h = try #require(Base64URL.decode(parts[0]))
        let p = try #require(Base64URL.decode(parts[1]))
        signature = Array(try #require(Base64URL.decode(parts[2])))
        headerText = String(decoding: h, as: UTF8.self)
        payloadText = String(decoding: p, as: UTF8.self)
        header = try J.parse(h)
        claims = try J.parse(p)
        signingInput = String(parts[0]) + "." + String(parts[1])
    }
}

struct PKCE {
    let verifier: String
    let challenge: String

    init() {
        verifier = Base64URL.encode((0..<48).map { _ in UInt8.random(in: 0...255) })
        challenge = Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }
}

let redirectURI = "http://localhost:8400/callback"
let secondRedirectURI = "http://localhost:8401/callback"
let alice = EmulatorUser(email: "alice@example.com", password: "Correct-horse-1", groups: ["linux-admins"],
                         username: "alice-username", sub: "11111111-2222-4333-8444-555555555555",
                         custom: ["department": "ops", "custom:shell": "/bin/bash"])
let bob = EmulatorUser(email: "bob@example.com", password: "Bob-pw-2", groups: [], emailVerified: false)

/// An emulator started on an ephemeral port, stopped when the test is done with it.
final class Fixture: @unchecked Sendable {
    let emulator: CognitoEmulator
    let client: EmulatorClient

    init(secret: String? = "s3cr3t-value", users: [EmulatorUser] = [alice, bob]) throws {
        client = EmulatorClient(clientId: "client-abc123", clientSecret: secret, redirectURIs: [redirectURI, secondRedirectURI])
        emulator = CognitoEmulator(client: client, users: users)
        try emulator.start()
    }

    deinit { emulator.stop() }

    func authorizeURL(_ extra: [(String, String)] = [], pkce: PKCE? = PKCE(), state: String? = "st-123",
                      nonce: String? = "n-456", scope: String? = "openid email",
                      redirect: String = redirectURI, responseType: String = "code") -> String {
        var pairs: [(String, String)] = [("response_type", responseType), ("client_id", client.clientId),
                                         ("redirect_uri", redirect)]
        if let scope { pairs.append(("scope", scope)) }
        if let state { pairs.append(("state", state)) }
        if let nonce { pairs.append(("nonce", nonce)) }
        if let pkce { pairs += [("code_challenge", pkce.challenge), ("code_challenge_method", "S256")] }
        return emulator.baseURL + "/oauth2/authorize?" + FormURLEncoding.encode(pairs + extra)
    }

    /// Signs in through the hosted UI and returns the code from the redirect.
    func code(pkce: PKCE, nonce: String? = "n-456", scope: String? = "openid email",
              user: EmulatorUser = alice) async throws -> String {
        let location = try await TestBrowser.signIn(authorizeURL: authorizeURL(pkce: pkce, nonce: nonce, scope: scope),
                                                    email: user.email, password: user.password)
        let params = try #require(query(of: location))
        return try #require(params["code"])
    }

    enum Auth { case basic, post, none, basicWith(String, String) }

    func tokenRequest(_ form: [(String, String)], auth: Auth = .basic) async throws -> (status: Int, json: J) {
        var request = URLRequest(url: try #require(URL(string: emulator.baseURL + "/oauth2/token")))
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        var form = form
        switch auth {
        case .basic:
            let raw = "\(client.clientId):\(client.clientSecret ?? "")"
            request.setValue("Basic " + Data(raw.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        case .basicWith(let id, let secret):
            request.setValue("Basic " + Data("\(id):\(secret)".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        case .post:
            form.append(("client_id", client.clientId))
            if let s = client.clientSecret { form.append(("client_secret", s)) }
        case .none:
            form.append(("client_id", client.clientId))
        }
        request.httpBody = Data(FormURLEncoding.encode(form).utf8)
        let r = try await TestBrowser.fetch(request)
        return (r.status, try J.parse(r.body))
    }

    func redeem(_ code: String, _ pkce: PKCE, redirect: String = redirectURI, auth: Auth = .basic) async throws -> (status: Int, json: J) {
        try await tokenRequest([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect),
                                ("code_verifier", pkce.verifier)], auth: auth)
    }

    /// A full sign-in and code redemption; returns the token response.
    func tokens(nonce: String? = "n-456", scope: String? = "openid email", user: EmulatorUser = alice) async throws -> J {
        let pkce = PKCE()
        let code = try await code(pkce: pkce, nonce: nonce, scope: scope, user: user)
        let r = try await redeem(code, pkce)
        try #require(r.status == 200, "token response \(r.status) \(r.json)")
        return r.json
    }

    func idToken(nonce: String? = "n-456", user: EmulatorUser = alice) async throws -> DecodedJWT {
        let t = try await tokens(nonce: nonce, user: user)
        return try DecodedJWT(try #require(t["id_token"]?.string))
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> (status: Int, headers: [String: String], body: String) {
        var request = URLRequest(url: try #require(URL(string: emulator.baseURL + path)))
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        return try await TestBrowser.fetch(request)
    }

    func post(_ path: String, json: String) async throws -> (status: Int, headers: [String: String], body: String) {
        var request = URLRequest(url: try #require(URL(string: emulator.baseURL + path)))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(json.utf8)
        return try await TestBrowser.fetch(request)
    }

    /// The JWKS as served, by kid.
    func jwks() async throws -> [String: J] {
        let r = try await get("/\(emulator.userPoolId)/.well-known/jwks.json")
        let keys = try #require(try J.parse(r.body)["keys"]?.array)
        var out: [String: J] = [:]
        for k in keys { out[try #require(k["kid"]?.string)] = k }
        return out
    }
}

/// The query parameters of a URL (last value wins), or nil.
func query(of url: String) -> [String: String]? {
    guard let q = url.firstIndex(of: "?"), let pairs = FormURLEncoding.decode(url[url.index(after: q)...]) else { return nil }
    var out: [String: String] = [:]
    for (k, v) in pairs { out[k] = v }
    return out
}

/// RS256 verification of a token against a JWK, as a relying party does it.
func verifiesRS256(_ jwt: DecodedJWT, with jwk: J) -> Bool {
    guard let n = jwk["n"]?.string.flatMap({ Base64URL.decode($0) }),
          let e = jwk["e"]?.string.flatMap({ Base64URL.decode($0) }),
          let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { return false }
    return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: jwt.signature),
                                for: SHA256.hash(data: Array(jwt.signingInput.utf8)), padding: .insecurePKCS1v1_5)
}

/// Sends raw bytes to 127.0.0.1:port and reads until the server closes (bounded by time).
func rawExchange(port: UInt16, _ bytes: [UInt8], readTimeout: Int = 5) -> (connected: Bool, response: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return (false, "") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard ok == 0 else { return (false, "") }
    var timeout = timeval(tv_sec: readTimeout, tv_usec: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { break }
        offset += n
    }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return (true, String(decoding: out, as: UTF8.self))
}
