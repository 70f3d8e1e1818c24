import CognitoAuthCore
import CognitoRelay
import Crypto
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// A clock the tests move by hand (no sleeping to test expiry or pacing).
final class TestClock: Sendable {
    private let ms = Mutex<Int64>(1_800_000_000_000)
    func now() -> Int64 { ms.withLock { $0 } }
    func advance(seconds: Double) { ms.withLock { $0 += Int64(seconds * 1000) } }
}

let hostSecret = "host-secret-0123456789abcdefghijklmnopqrstuvwxyz"
let authorizeEndpoint = "https://idp.example/oauth2/authorize"

func relayConfig(maxAttempts: Int = 5) throws -> RelayConfig {
    try RelayConfigParser.parse("""
        public_url = https://login.example.com
        region = eu-west-1
        user_pool_id = eu-west-1_AbC123
        client_id = 1example23456789
        host_secret_file = /etc/cognito-auth/relay-host-secrets
        max_code_attempts = \(maxAttempts)
        code_lifetime = 600
        """, path: "/etc/cognito-auth/relay.conf")
}

/// A browser's cookie jar, enough for the relay's two cookies.
final class Jar: Sendable {
    private let cookies = Mutex<[String: String]>([:])
    func take(_ response: TestResponse) {
        for v in response.headers[values: .setCookie] {
            guard let pair = v.split(separator: ";").first, let eq = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<eq]), value = String(pair[pair.index(after: eq)...])
            cookies.withLock { $0[name] = value.isEmpty ? nil : value }
        }
    }
    var header: String { cookies.withLock { $0.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") } }
    func value(_ name: String) -> String? { cookies.withLock { $0[name] } }
}

struct Harness {
    let clock = TestClock()
    let store = MemoryRelayStore()
    let app: Application<RouterResponder<RelayRequestContext>>

    init(maxAttempts: Int = 5) throws {
        let clock = self.clock
        let settings = RelaySettings(config: try relayConfig(maxAttempts: maxAttempts), hostSecrets: ["an-old-secret-being-rotated-out-0000", hostSecret],
                                     authorizeEndpoint: authorizeEndpoint, now: { clock.now() })
        app = buildRelayApplication(settings: settings, store: store, logger: Logger(label: "relay-test"))
    }
}

func form(_ pairs: [(String, String)]) -> ByteBuffer { ByteBuffer(string: FormURLEncoding.encode(pairs)) }
let formType: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
func authed(_ secret: String = hostSecret) -> HTTPFields {
    var h = formType
    h[.authorization] = "Bearer " + secret
    return h
}
func json(_ r: TestResponse) -> [String: JSONValue] { JSONValue.parseObject(Array(r.body.readableBytesView)) ?? [:] }
func text(_ r: TestResponse) -> String { String(buffer: r.body) }
func hiddenCSRF(_ html: String) -> String? {
    guard let r = html.range(of: "name=\"csrf\" value=\"") else { return nil }
    return String(html[r.upperBound...].prefix { $0 != "\"" })
}

let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
let challenge = Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))

func startSignIn(_ client: some TestClientProtocol) async throws -> (device: String, user: String) {
    try await client.execute(uri: "/device_authorization", method: .post, headers: authed(), body: form([
        ("code_challenge", challenge), ("code_challenge_method", "S256"), ("nonce", "n-0S6_WzA2Mj-host-nonce"),
        ("scope", "openid email"), ("host", "web1.example.com"), ("user", "alice"), ("rhost", "203.0.113.9"),
    ])) { r in
        #expect(r.status == .ok)
        let j = json(r)
        #expect(j["verification_uri"]?.stringValue == "https://login.example.com/d")
        #expect(j["expires_in"]?.numberValue == 600)
        #expect(j["interval"]?.numberValue == 1)
        let user = j["user_code"]?.stringValue ?? ""
        #expect(j["verification_uri_complete"]?.stringValue == "https://login.example.com/d?code=" + user)
        #expect(r.headers[.cacheControl] == "no-store")
        return (j["device_code"]?.stringValue ?? "", user)
    }
}

func poll(_ client: some TestClientProtocol, _ device: String, secret: String = hostSecret) async throws -> (HTTPResponse.Status, [String: JSONValue]) {
    try await client.execute(uri: "/token", method: .post, headers: authed(secret), body: form([
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", device),
    ])) { ($0.status, json($0)) }
}

/// GET /d, POST /d with the code; returns the confirmation page.
func enterCode(_ client: some TestClientProtocol, _ jar: Jar, _ code: String, headers extra: HTTPFields = [:]) async throws -> TestResponse {
    let page = try await client.execute(uri: "/d?code=\(code)", method: .get, headers: [.cookie: jar.header]) { $0 }
    jar.take(page)
    var h = formType
    h[.cookie] = jar.header
    h.append(contentsOf: extra)
    return try await client.execute(uri: "/d", method: .post, headers: h,
                                    body: form([("csrf", hiddenCSRF(text(page)) ?? ""), ("code", code)]))
}

/// Enters the code, then presses Continue or "This is not me" on the confirmation page.
func confirm(_ client: some TestClientProtocol, _ jar: Jar, _ code: String, action: String) async throws -> TestResponse {
    let page = text(try await enterCode(client, jar, code))
    var hdrs = formType
    hdrs[.cookie] = jar.header
    return try await client.execute(uri: "/d/confirm", method: .post, headers: hdrs, body: form([
        ("csrf", hiddenCSRF(page) ?? ""), ("code", code), ("action", action)]))
}

@Suite("cognito-auth-relay")
struct RelayRouteTests {
    @Test func wholeSignInHandsTheCodeOutOnce() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let (device, user) = try await startSignIn(client)
            #expect(device.utf8.count == 43)   // 256 bits of base64url
            #expect(UserCode.normalize(user) != nil && user.utf8.count == 9 && user.dropFirst(4).hasPrefix("-"))
            #expect(try await poll(client, device).1["error"] == .string("authorization_pending"))

            let jar = Jar()
            let confirm = try await enterCode(client, jar, user.lowercased())
            #expect(confirm.status == .ok)
            let page = text(confirm)
            #expect(page.contains("web1.example.com") && page.contains("alice") && page.contains("203.0.113.9"))
            #expect(confirm.headers[.cacheControl] == "no-store")
            #expect(confirm.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'; form-action 'self' https://idp.example;") == true)

            var hdrs = formType
            hdrs[.cookie] = jar.header
            let redirect = try await client.execute(uri: "/d/confirm", method: .post, headers: hdrs, body: form([
                ("csrf", hiddenCSRF(page) ?? ""), ("code", user), ("action", "continue"),
            ])) { $0 }
            #expect(redirect.status == .found)
            jar.take(redirect)
            let location = redirect.headers[.location] ?? ""
            #expect(location.hasPrefix(authorizeEndpoint + "?"))
            let q = Dictionary(uniqueKeysWithValues: FormURLEncoding.decode(location.split(separator: "?", maxSplits: 1)[1]) ?? [])
            #expect(q["code_challenge"] == challenge)
            #expect(q["code_challenge_method"] == "S256")
            #expect(q["nonce"] == "n-0S6_WzA2Mj-host-nonce")
            #expect(q["redirect_uri"] == "https://login.example.com/callback")
            #expect(q["client_id"] == "1example23456789")
            #expect(q["code_verifier"] == nil)
            let state = try #require(q["state"])
            #expect(jar.value("__Secure-relay_state") == state)

            // The used user code is refused from now on.
            #expect(try await enterCode(client, Jar(), user).status == .badRequest)

            let done = try await client.execute(uri: "/callback?code=cognito-code-123&state=\(state)", method: .get,
                                                headers: [.cookie: jar.header]) { $0 }
            #expect(done.status == .ok)
            #expect(text(done).contains("Signed in — return to your terminal"))

            let first = try await poll(client, device)
            #expect(first.0 == .ok)
            #expect(first.1["code"] == .string("cognito-code-123"))
            #expect(first.1["redirect_uri"] == .string("https://login.example.com/callback"))
            h.clock.advance(seconds: 2)
            #expect(try await poll(client, device).1["error"] == .string("expired_token"))
        }
        let dump = await h.store.dump()
        #expect(!dump.contains("cognito-code-123"))
        #expect(!dump.contains(verifier))
        #expect(!dump.contains(hostSecret))
    }

    @Test func hostSecretRequired() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            for headers: HTTPFields in [formType, authed("wrong-secret-wrong-secret-wrong-secret")] {
                let r = try await client.execute(uri: "/device_authorization", method: .post, headers: headers,
                                                 body: form([("code_challenge", challenge)])) { $0 }
                #expect(r.status == .unauthorized)
                #expect(json(r)["error"] == .string("invalid_client"))
            }
            let (device, _) = try await startSignIn(client)
            let r = try await poll(client, device, secret: "wrong-secret-wrong-secret-wrong-secret")
            #expect(r.0 == .unauthorized && r.1["error"] == .string("invalid_client"))
            // Another accepted secret may start sign-ins of its own (rotation), but cannot poll
            // this one: a device code is answered only to the secret that started it.
            #expect(try await poll(client, device, secret: "an-old-secret-being-rotated-out-0000").1["error"] == .string("expired_token"))
            #expect(try await poll(client, device).1["error"] == .string("authorization_pending"))
        }
    }

    @Test func slowDownOnlyForPollsHalfAnIntervalApart() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let (device, _) = try await startSignIn(client)
            #expect(try await poll(client, device).1["error"] == .string("authorization_pending"))
            h.clock.advance(seconds: 0.2)
            #expect(try await poll(client, device).1["error"] == .string("slow_down"))
            h.clock.advance(seconds: 0.6)
            #expect(try await poll(client, device).1["error"] == .string("authorization_pending"))
            #expect(try await poll(client, "no-such-device-code").1["error"] == .string("expired_token"))
        }
    }

    @Test func wrongCodesLockTheAddressOut() async throws {
        let h = try Harness(maxAttempts: 3)
        try await h.app.test(.router) { client in
            let (_, user) = try await startSignIn(client)
            let jar = Jar()
            #expect(try await enterCode(client, jar, "BBBB-BBBB").status == .badRequest)
            #expect(try await enterCode(client, jar, "not a code").status == .badRequest)
            #expect(try await enterCode(client, jar, "CCCC-CCCC").status == .tooManyRequests)
            // Locked: even the right code is refused until the window has passed.
            #expect(try await enterCode(client, jar, user).status == .tooManyRequests)
            h.clock.advance(seconds: 601)
            // (the code itself expired with the clock: a new sign-in)
            let (_, fresh) = try await startSignIn(client)
            #expect(try await enterCode(client, jar, fresh).status == .ok)
        }
    }

    @Test func rightCodesGiveTheirPlaceBack() async throws {
        let h = try Harness(maxAttempts: 3)
        try await h.app.test(.router) { client in
            let jar = Jar()
            // An admin signing in to five hosts in a row from one address is not locked out.
            for _ in 0..<5 {
                let (_, user) = try await startSignIn(client)
                #expect(try await enterCode(client, jar, user).status == .ok)
            }
            #expect(try await enterCode(client, jar, "BBBB-BBBB").status == .badRequest)
            #expect(try await enterCode(client, jar, "CCCC-CCCC").status == .badRequest)
            #expect(try await enterCode(client, jar, "DDDD-DDDD").status == .tooManyRequests)
        }
    }

    /// Guesses sent at once: each takes its place before its code is looked at, so no more than
    /// max_code_attempts are ever looked at in a window, however they interleave.
    @Test func wrongCodesSentAtOnceNeverOverrunTheLimit() async throws {
        let h = try Harness(maxAttempts: 4)
        try await h.app.test(.router) { client in
            _ = try await startSignIn(client)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<40 {
                    group.addTask { try await enterCode(client, Jar(), i % 2 == 0 ? "BBBB-BBBB" : "CCCC-CCCC").status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .badRequest }.count == 3)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 37)
            #expect(try await h.store.count(event: "wrong_code", key: ClientAddress.lockoutKey("unknown"), since: 0) == 4)   // the test router has no peer address
        }
    }

    @Test func admitTakesExactlyTheLimitUnderConcurrency() async throws {
        let store = MemoryRelayStore()
        let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                group.addTask { try await store.admit(event: "device_authorization", key: "k", at: 1_000 + Int64(i), since: 0, limit: 25) != nil }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 25)
        #expect(try await store.count(event: "device_authorization", key: "k", since: 0) == 25)
        try await store.release(event: "device_authorization", key: "k", at: 1_000)
        #expect(try await store.count(event: "device_authorization", key: "k", since: 0) == 24)
        #expect(try await store.admit(event: "device_authorization", key: "other", at: 5, since: 0, limit: 25) == 1)
        #expect(try await store.admit(event: "device_authorization", key: "k", at: 9, since: 0, limit: 25) == 25)
    }

    /// Over a real socket from loopback (the TLS terminator's place), so X-Forwarded-For names the
    /// client: wrong codes from anywhere in one IPv6 /64 count together; IPv4 counts per address.
    @Test func wrongCodesAreCountedPerIPv6SlashSixtyFour() async throws {
        let h = try Harness(maxAttempts: 3)
        let xff = HTTPField.Name("X-Forwarded-For") ?? .via
        try await h.app.test(.live) { client in
            let (_, user) = try await startSignIn(client)
            func from(_ address: String, _ code: String) async throws -> HTTPResponse.Status {
                try await enterCode(client, Jar(), code, headers: [xff: address]).status
            }
            #expect(try await from("2001:db8:a:b::1", "BBBB-BBBB") == .badRequest)
            #expect(try await from("2001:db8:a:b:ffff:ffff:ffff:fffe", "CCCC-CCCC") == .badRequest)
            #expect(try await from("2001:DB8:A:B:0:0:0:2", "DDDD-DDDD") == .tooManyRequests)
            // Any address of that /64 is locked out, even with the right code; the next /64 is not.
            #expect(try await from("2001:db8:a:b:1234::9", user) == .tooManyRequests)
            #expect(try await from("2001:db8:a:c::1", user) == .ok)
            // IPv4: one address each; an IPv4-mapped IPv6 address is that IPv4 address.
            #expect(try await from("192.0.2.1", "FFFF-FFFF") == .badRequest)
            #expect(try await from("192.0.2.2", "FFFF-FFFF") == .badRequest)
            #expect(try await from("::ffff:192.0.2.1", "GGGG-GGGG") == .badRequest)
            #expect(try await from("192.0.2.1", "HHHH-HHHH") == .tooManyRequests)
            #expect(try await from("192.0.2.3", user) == .ok)
        }
    }

    @Test func expiredCodeRefused() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let (device, user) = try await startSignIn(client)
            h.clock.advance(seconds: 601)
            #expect(try await enterCode(client, Jar(), user).status == .badRequest)
            #expect(try await poll(client, device).1["error"] == .string("expired_token"))
        }
    }

    /// The host says how long it waits (`expires_in`, its login_timeout): the relay keeps the
    /// sign-in no longer, and its code page then says it expired.
    @Test func signInEndsWhenTheHostStopsWaiting() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let (device, user) = try await client.execute(uri: "/device_authorization", method: .post, headers: authed(), body: form([
                ("code_challenge", challenge), ("code_challenge_method", "S256"), ("nonce", "n-0S6_WzA2Mj-host-nonce"),
                ("scope", "openid email"), ("host", "web1.example.com"), ("user", "alice"), ("rhost", ""), ("expires_in", "30"),
            ])) { r in
                #expect(r.status == .ok)
                #expect(json(r)["expires_in"]?.numberValue == 30)
                return (json(r)["device_code"]?.stringValue ?? "", json(r)["user_code"]?.stringValue ?? "")
            }
            h.clock.advance(seconds: 29)
            #expect(try await enterCode(client, Jar(), user).status == .ok)
            h.clock.advance(seconds: 1)
            let late = try await enterCode(client, Jar(), user)
            #expect(late.status == .badRequest)
            #expect(text(late).contains("This sign-in has expired; start again at your terminal."))
            #expect(try await poll(client, device).1["error"] == .string("expired_token"))
            // A host that waits longer than code_lifetime gets code_lifetime.
            try await client.execute(uri: "/device_authorization", method: .post, headers: authed(), body: form([
                ("code_challenge", challenge), ("code_challenge_method", "S256"), ("nonce", "n-0S6_WzA2Mj-host-nonce"),
                ("scope", "openid"), ("host", "web1"), ("user", "alice"), ("expires_in", "3600"),
            ])) { r in #expect(json(r)["expires_in"]?.numberValue == 600) }
        }
        // After the purge the store holds nothing of the expired sign-in.
        try await h.store.purge(now: h.clock.now(), eventsBefore: 0)
        #expect(!(await h.store.dump()).contains("web1.example.com alice  "))
    }

    @Test(arguments: ["0", "-5", "abc", "3601", "1e3", " 30", "30 ", "+30", "99999", ""])
    func garbageExpiresInRefused(value: String) async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let r = try await client.execute(uri: "/device_authorization", method: .post, headers: authed(), body: form([
                ("code_challenge", challenge), ("code_challenge_method", "S256"), ("nonce", "n-0S6_WzA2Mj-host-nonce"),
                ("scope", "openid"), ("host", "web1"), ("user", "alice"), ("expires_in", value),
            ])) { $0 }
            #expect(r.status == .badRequest)
            #expect(json(r)["error"] == .string("invalid_request"))
        }
    }

    @Test func formsNeedThisBrowsersCSRFToken() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let (_, user) = try await startSignIn(client)
            // No cookie, and a cookie that is not the form's: both refused, nothing counted.
            let none = try await client.execute(uri: "/d", method: .post, headers: formType,
                                                body: form([("csrf", "x"), ("code", user)])) { $0 }
            #expect(none.status == .forbidden)
            var h2 = formType
            h2[.cookie] = "__Host-relay_csrf=" + String(repeating: "A", count: 43)
            let other = try await client.execute(uri: "/d", method: .post, headers: h2,
                                                 body: form([("csrf", String(repeating: "B", count: 43)), ("code", user)])) { $0 }
            #expect(other.status == .forbidden)
            #expect(try await enterCode(client, Jar(), user).status == .ok)
        }
    }

    @Test func callbackWithForgedOrMissingStateRefused() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let (device, user) = try await startSignIn(client)
            let jar = Jar()
            let redirect = try await confirm(client, jar, user, action: "continue")
            jar.take(redirect)
            let state = try #require(jar.value("__Secure-relay_state"))
            // Missing state; a state without this browser's cookie; a forged state with a forged cookie.
            for (uri, cookie) in [("/callback?code=c1", jar.header),
                                  ("/callback?code=c1&state=\(state)", ""),
                                  ("/callback?code=c1&state=forged", "__Secure-relay_state=forged"),
                                  ("/callback?code=c1&state=\(state)&state=\(state)", jar.header)] {
                let r = try await client.execute(uri: uri, method: .get, headers: [.cookie: cookie]) { $0 }
                #expect(r.status == .badRequest, "\(uri)")
            }
            #expect(try await poll(client, device).1["error"] == .string("authorization_pending"))
            // Cognito's error redirect → access_denied, once.
            let denied = try await client.execute(uri: "/callback?error=access_denied&state=\(state)", method: .get,
                                                  headers: [.cookie: jar.header]) { $0 }
            #expect(denied.status == .ok)
            h.clock.advance(seconds: 1)
            #expect(try await poll(client, device).1["error"] == .string("access_denied"))
            #expect(try await poll(client, device).1["error"] == .string("expired_token"))
        }
    }

    @Test func badHelperFormsRefused() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let good: [(String, String)] = [("code_challenge", challenge), ("code_challenge_method", "S256"), ("nonce", "n-0S6_WzA2Mj-host-nonce"),
                                            ("scope", "openid email"), ("host", "web1"), ("user", "alice"), ("rhost", "")]
            for (i, bad) in [("code_challenge_method", "plain"), ("scope", "email"), ("user", "al ice"), ("nonce", "short")].enumerated() {
                let fields = good.map { $0.0 == bad.0 ? (bad.0, bad.1) : $0 }
                let r = try await client.execute(uri: "/device_authorization", method: .post, headers: authed(), body: form(fields)) { $0 }
                #expect(r.status == .badRequest, "case \(i)")
                #expect(json(r)["error"] == .string("invalid_request"))
            }
            let repeated = try await client.execute(uri: "/device_authorization", method: .post, headers: authed(),
                                                    body: form(good + [("user", "bob")])) { $0 }
            #expect(repeated.status == .badRequest)
            let big = try await client.execute(uri: "/device_authorization", method: .post, headers: authed(),
                                               body: ByteBuffer(string: String(repeating: "a", count: 9000))) { $0 }
            #expect(big.status == .contentTooLarge)
            let grant = try await client.execute(uri: "/token", method: .post, headers: authed(),
                                                 body: form([("grant_type", "authorization_code"), ("device_code", "x")])) { $0 }
            #expect(json(grant)["error"] == .string("unsupported_grant_type"))
            #expect(try await client.execute(uri: "/healthz", method: .get) { $0.status } == .ok)
        }
    }

    @Test func personCanRefuseTheSignIn() async throws {
        let h = try Harness()
        try await h.app.test(.router) { client in
            let (device, user) = try await startSignIn(client)
            let r = try await confirm(client, Jar(), user, action: "deny")
            #expect(r.status == .ok)
            #expect(try await poll(client, device).1["error"] == .string("access_denied"))
        }
    }
}

@Suite("lockout key")
struct LockoutKeyTests {
    @Test(arguments: [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:a:b::1", "2001:db8:a:b::/64"),
        ("2001:0DB8:000A:000B:ffff:0:0:1", "2001:db8:a:b::/64"),
        ("2001:db8::", "2001:db8:0:0::/64"),
        ("::1", "0:0:0:0::/64"),
        ("::", "0:0:0:0::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("2001:db8:a:b:c:d:192.0.2.1", "2001:db8:a:b::/64"),
        ("fe80::1:2:3:4", "fe80:0:0:0::/64"),
        ("192.0.2.7:5678", "192.0.2.7"),          // a terminator that appends the source port
        ("192.0.2.7:1", "192.0.2.7"),
    ])
    func key(address: String, expected: String) {
        #expect(ClientAddress.lockoutKey(address) == expected)
    }

    @Test(arguments: ["unknown", "1:2:3:4:5:6:7:8:9", "1::2::3", "1:::2", ":1::", "12345::", "192.0.2.256", "1.2.3", "g::1",
                      "192.0.2.7:", "192.0.2.7:123456", "192.0.2.7:1:2", "192.0.2.256:80"])
    func notAnAddressSharesOneKey(text: String) {
        #expect(ClientAddress.lockoutKey(text) == ClientAddress.unparsable)
    }
}

@Suite("relay.conf")
struct RelayConfigTests {
    let base = """
        public_url = https://login.example.com/
        region = eu-west-1
        user_pool_id = eu-west-1_AbC123
        client_id = 1example23456789
        host_secret_file = /etc/cognito-auth/relay-host-secrets
        """

    @Test func defaults() throws {
        let c = try RelayConfigParser.parse(base, path: "/r")
        #expect(c.listenHost == "127.0.0.1" && c.listenPort == 8300)
        #expect(c.publicURL == "https://login.example.com")
        #expect(c.callbackURI == "https://login.example.com/callback")
        #expect(c.store == .memory)
        #expect(c.codeLifetime == 600 && c.maxCodeAttempts == 5)
        #expect(c.provider.discoveryURL == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/openid-configuration")
    }

    @Test func postgresStore() throws {
        let c = try RelayConfigParser.parse(base + "\nstore = postgresql://relay:s3cret@127.0.0.1:5432/relay", path: "/r")
        #expect(c.store == .postgresql(PostgresURL(user: "relay", password: "s3cret", host: "127.0.0.1", port: 5432, database: "relay")))
        #expect(!c.storeDescription.contains("s3cret"))
    }

    @Test(arguments: [
        ("store = mysql://x@h:1/d", "store"), ("listen = 0.0.0.0", "listen"), ("code_lifetime = 9", "code_lifetime"),
        ("max_code_attempts = 0", "max_code_attempts"), ("public_url = http://login.example.com", "public_url"),
        ("client_secret_file = /x", "client_secret_file"), ("allowed_groups = a", "allowed_groups"),
    ])
    func refused(line: String, key: String) {
        #expect(throws: ConfigError.self) { try RelayConfigParser.parse(base + "\n" + line, path: "/r") }
        do { _ = try RelayConfigParser.parse(base + "\n" + line, path: "/r") } catch { #expect(error.key == key && error.line == 6) }
    }

    @Test func postgresTLSDefaultsToRequireUnlessTheDatabaseIsOnThisMachine() throws {
        let remote = try RelayConfigParser.parse(base + "\nstore = postgresql://relay@db.example.internal:5432/relay", path: "/r")
        #expect(remote.postgresTLS == .require && remote.postgresCAFile == nil)
        let local = try RelayConfigParser.parse(base + "\nstore = postgresql://relay@127.0.0.1:5432/relay", path: "/r")
        #expect(local.postgresTLS == .disable)
        let named = try RelayConfigParser.parse(base + "\nstore = postgresql://relay@localhost:5432/relay", path: "/r")
        #expect(named.postgresTLS == .disable)
        let chosen = try RelayConfigParser.parse(base + "\nstore = postgresql://relay@127.0.0.1:5432/relay\npostgres_tls = require\npostgres_ca_file = /etc/cognito-auth/db-ca.pem", path: "/r")
        #expect(chosen.postgresTLS == .require && chosen.postgresCAFile == "/etc/cognito-auth/db-ca.pem")
        // No prefer: a man in the middle answers "no TLS" and it would fall back to plain text.
        #expect(throws: ConfigError.self) { try RelayConfigParser.parse(base + "\nstore = postgresql://relay@db:5432/relay\npostgres_tls = prefer", path: "/r") }
        #expect(try RelayConfigParser.parse(base + "\nstore = postgresql://relay@db:5432/relay\npostgres_tls = disable", path: "/r").postgresTLS == .disable)
    }

    @Test(arguments: [
        ("store = postgresql://relay@db:5432/relay\npostgres_tls = yes", "postgres_tls"),
        ("postgres_tls = require", "postgres_tls"),                       // memory store
        ("postgres_ca_file = /etc/ca.pem", "postgres_ca_file"),
        ("store = postgresql://relay@db:5432/relay\npostgres_ca_file = ca.pem", "postgres_ca_file"),
        ("store = postgresql://relay@db:5432/relay\npostgres_tls = disable\npostgres_ca_file = /etc/ca.pem", "postgres_ca_file"),
    ])
    func postgresTLSRefused(lines: String, key: String) {
        do { _ = try RelayConfigParser.parse(base + "\n" + lines, path: "/r"); Issue.record("accepted: \(lines)") }
        catch { #expect(error.key == key) }
    }

    @Test func noSectionsAndSecretsFile() throws {
        #expect(throws: ConfigError.self) { try RelayConfigParser.parse(base + "\n[service sshd]", path: "/r") }
        #expect(try RelayConfigParser.hostSecrets("# rotation\nnew-secret-new-secret-new-secret-00\nold-secret-old-secret-old-secret-00\n", path: "/s").count == 2)
        #expect(throws: ConfigError.self) { try RelayConfigParser.hostSecrets("short\n", path: "/s") }
        #expect(throws: ConfigError.self) { try RelayConfigParser.hostSecrets("# none\n", path: "/s") }
    }

    @Test func userCodes() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let c = UserCode.generate(using: &rng)
            #expect(c.utf8.count == 8 && c.utf8.allSatisfy { UserCode.alphabet.contains($0) })
        }
        #expect(UserCode.normalize("wdjb-mjht") == "WDJBMJHT")
        #expect(UserCode.normalize("WDJB MJHT") == "WDJBMJHT")
        #expect(UserCode.normalize("WDJA-MJHT") == nil)   // A is not in the alphabet
        #expect(UserCode.normalize("WDJB-MJH") == nil)
        #expect(UserCode.display("WDJBMJHT") == "WDJB-MJHT")
    }
}
