import CognitoAuthCore
@testable import CognitoEmulator
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

@Suite("Cognito emulator: discovery, code flow, token endpoint", .timeLimit(.minutes(2)))
struct CodeFlowTests {
    @Test func discoveryHasCognitosFields() async throws {
        let f = try Fixture()
        let r = try await f.get("/us-east-1_Example/.well-known/openid-configuration")
        #expect(r.status == 200)
        #expect(r.headers["content-type"]?.hasPrefix("application/json") == true)
        let d = try J.parse(r.body)
        let base = f.emulator.baseURL
        #expect(d["issuer"]?.string == f.emulator.issuer)
        #expect(f.emulator.issuer == base + "/us-east-1_Example")
        #expect(d["authorization_endpoint"]?.string == base + "/oauth2/authorize")
        #expect(d["token_endpoint"]?.string == base + "/oauth2/token")
        #expect(d["userinfo_endpoint"]?.string == base + "/oauth2/userInfo")
        #expect(d["revocation_endpoint"]?.string == base + "/oauth2/revoke")
        #expect(d["end_session_endpoint"]?.string == base + "/logout")
        #expect(d["jwks_uri"]?.string == f.emulator.issuer + "/.well-known/jwks.json")
        #expect(d["response_types_supported"] == .array([.string("code"), .string("token")]))
        #expect(d["id_token_signing_alg_values_supported"] == .array([.string("RS256")]))
        #expect(d["subject_types_supported"] == .array([.string("public")]))
        #expect(d["scopes_supported"] == .array(["openid", "email", "phone", "profile"].map { .string($0) }))
        #expect(d["token_endpoint_auth_methods_supported"] == .array([.string("client_secret_basic"), .string("client_secret_post")]))
        #expect(d["device_authorization_endpoint"] == nil)
        #expect(f.emulator.discoveryURL == f.emulator.issuer + "/.well-known/openid-configuration")
        #expect(f.emulator.requestCount("discovery") == 1)
    }

    @Test func jwksHasTwoRS256KeysWithDistinctKids() async throws {
        let f = try Fixture()
        let keys = try await f.jwks()
        #expect(keys.count == 2)
        let ids = try #require(f.emulator.keyIDs)
        #expect(ids.idToken != ids.accessToken)
        #expect(Set(keys.keys) == [ids.idToken, ids.accessToken])
        for (_, k) in keys {
            #expect(k["alg"]?.string == "RS256")
            #expect(k["kty"]?.string == "RSA")
            #expect(k["use"]?.string == "sig")
            #expect(k["e"]?.string == "AQAB")
            let n = try #require(k["n"]?.string.flatMap { Base64URL.decode($0) })
            #expect(n.count == 256)  // 2048-bit modulus, no leading zero byte
            #expect(Set(k.object?.keys.map { $0 } ?? []) == ["alg", "e", "kid", "kty", "n", "use"])
        }
        #expect(f.emulator.requestCount("jwks") == 1)
    }

    @Test func fullCodeFlowWithPKCE() async throws {
        let f = try Fixture()
        let pkce = PKCE()
        let url = f.authorizeURL(pkce: pkce)
        let location = try await TestBrowser.signIn(authorizeURL: url, email: "Alice@Example.com", password: alice.password)
        #expect(location.hasPrefix(redirectURI + "?code="))
        let params = try #require(query(of: location))
        #expect(params["state"] == "st-123")
        let code = try #require(params["code"])

        let r = try await f.redeem(code, pkce)
        #expect(r.status == 200)
        let t = r.json
        #expect(t["expires_in"] == .number(3600))
        #expect(t["token_type"]?.string == "Bearer")
        #expect(t["refresh_token"]?.string?.split(separator: ".").count == 5)
        let keys = try await f.jwks()
        let ids = try #require(f.emulator.keyIDs)

        let id = try DecodedJWT(try #require(t["id_token"]?.string))
        #expect(id.header == .object(["kid": .string(ids.idToken), "alg": .string("RS256")]))
        #expect(verifiesRS256(id, with: try #require(keys[ids.idToken])))
        #expect(!verifiesRS256(id, with: try #require(keys[ids.accessToken])))
        let c = id.claims
        let accessToken = try #require(t["access_token"]?.string)
        let digest = Array(SHA256.hash(data: Array(accessToken.utf8)))
        #expect(c["at_hash"]?.string == Base64URL.encode(digest[0..<16]))
        #expect(c["sub"]?.string == alice.sub)
        #expect(c["cognito:groups"] == .array([.string("linux-admins")]))
        #expect(c["email_verified"] == .bool(true))
        #expect(c["iss"]?.string == f.emulator.issuer)
        #expect(c["cognito:username"]?.string == "alice-username")
        #expect(c["origin_jti"]?.string?.count == 36)
        #expect(c["aud"]?.string == "client-abc123")
        #expect(c["event_id"]?.string?.count == 36)
        #expect(c["token_use"]?.string == "id")
        let iat = try #require(c["iat"]?.number)
        #expect(c["exp"]?.number == iat + 3600)
        // auth_time is when the person signed in; the token is issued at the exchange, which may
        // fall in the next second on a loaded machine.
        let authTime = try #require(c["auth_time"]?.number)
        #expect(authTime <= iat && iat - authTime < 30)
        #expect(abs(iat - Date().timeIntervalSince1970) < 60)
        #expect(c["jti"]?.string?.count == 36)
        #expect(c["email"]?.string == "alice@example.com")
        #expect(c["nonce"]?.string == "n-456")
        #expect(c["custom:department"] == .string("ops"))
        #expect(c["custom:shell"] == .string("/bin/bash"))

        let access = try DecodedJWT(accessToken)
        #expect(access.header == .object(["kid": .string(ids.accessToken), "alg": .string("RS256")]))
        #expect(verifiesRS256(access, with: try #require(keys[ids.accessToken])))
        let a = access.claims
        #expect(a["sub"]?.string == alice.sub)
        #expect(a["cognito:groups"] == .array([.string("linux-admins")]))
        #expect(a["iss"]?.string == f.emulator.issuer)
        #expect(a["client_id"]?.string == "client-abc123")
        #expect(a["aud"] == nil)
        #expect(a["origin_jti"] == c["origin_jti"])
        #expect(a["event_id"] == c["event_id"])
        #expect(a["token_use"]?.string == "access")
        #expect(a["scope"]?.string == "openid email")
        #expect(a["auth_time"] == c["auth_time"])
        #expect(a["exp"] == c["exp"])
        #expect(a["iat"] == c["iat"])
        #expect(a["jti"]?.string != nil && a["jti"] != c["jti"])
        #expect(a["username"]?.string == "alice-username")

        #expect(f.emulator.requestCount("authorize") == 1)
        #expect(f.emulator.requestCount("login") == 2)  // the form, then the POST
        #expect(f.emulator.requestCount("token") == 1)
    }

    @Test func groupsOmittedWhenNoneAndVerifiedFalseIsABoolean() async throws {
        let f = try Fixture()
        let id = try await f.idToken(user: bob)
        #expect(id.claims["cognito:groups"] == nil)
        #expect(id.claims["email_verified"] == .bool(false))
        #expect(id.claims["cognito:username"]?.string == bob.sub)  // default username is the sub
    }

    @Test func nonceIsOptionalAndIdTokenNeedsOpenid() async throws {
        let f = try Fixture()
        let noNonce = try await f.idToken(nonce: nil)
        #expect(noNonce.claims["nonce"] == nil)
        let t = try await f.tokens(scope: "email profile")
        #expect(t["id_token"] == nil)
        #expect(t["access_token"]?.string != nil)
        let scope = try DecodedJWT(try #require(t["access_token"]?.string)).claims["scope"]
        #expect(scope?.string == "email profile")
    }

    @Test func unknownScopesAreIgnored() async throws {
        let f = try Fixture()
        let t = try await f.tokens(scope: "openid bogus email admin:everything")
        let scope = try DecodedJWT(try #require(t["access_token"]?.string)).claims["scope"]
        #expect(scope?.string == "openid email")
        #expect(t["id_token"]?.string != nil)
    }

    @Test func codeIsSingleUse() async throws {
        let f = try Fixture()
        let pkce = PKCE()
        let code = try await f.code(pkce: pkce)
        #expect(try await f.redeem(code, pkce).status == 200)
        let again = try await f.redeem(code, pkce)
        #expect(again.status == 400)
        #expect(again.json == .object(["error": .string("invalid_grant")]))
    }

    @Test func expiredCodeIsInvalidGrant() async throws {
        let f = try Fixture()
        let start = Date()
        let offset = OffsetClock()
        f.emulator.clock = { start.addingTimeInterval(offset.seconds) }
        let pkce = PKCE()
        let code = try await f.code(pkce: pkce)
        offset.seconds = 301
        let r = try await f.redeem(code, pkce)
        #expect(r.status == 400)
        #expect(r.json["error"]?.string == "invalid_grant")

        // Just inside five minutes is fine.
        offset.seconds = 0
        let pkce2 = PKCE()
        let code2 = try await f.code(pkce: pkce2)
        offset.seconds = 299
        #expect(try await f.redeem(code2, pkce2).status == 200)
    }

    @Test func pkceMismatchIsInvalidGrant() async throws {
        let f = try Fixture()
        let pkce = PKCE()
        let code = try await f.code(pkce: pkce)
        let r = try await f.redeem(code, PKCE())
        #expect(r.status == 400)
        #expect(r.json["error"]?.string == "invalid_grant")
    }

    @Test func missingVerifierIsInvalidRequest() async throws {
        let f = try Fixture()
        let pkce = PKCE()
        let code = try await f.code(pkce: pkce)
        let r = try await f.tokenRequest([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI)])
        #expect(r.status == 400)
        #expect(r.json["error"]?.string == "invalid_request")
    }

    @Test func plainPKCEIsRefusedWithARedirect() async throws {
        let f = try Fixture()
        let url = f.authorizeURL([("code_challenge", "a-plain-challenge-that-is-long-enough-to-be-valid-0123"),
                                  ("code_challenge_method", "plain")], pkce: nil)
        let location = try await TestBrowser.signIn(authorizeURL: url, email: alice.email, password: alice.password)
        #expect(location.hasPrefix(redirectURI + "?"))
        let params = try #require(query(of: location))
        #expect(params["error"] == "invalid_request")
        #expect(params["state"] == "st-123")
        #expect(params["code"] == nil)
    }

    @Test func unsupportedResponseType() async throws {
        let f = try Fixture()
        let location = try await TestBrowser.signIn(authorizeURL: f.authorizeURL(responseType: "id_token"),
                                                    email: alice.email, password: alice.password)
        let params = try #require(query(of: location))
        #expect(params["error"] == "unsupported_response_type")
        #expect(params["state"] == "st-123")
    }

    @Test func unregisteredRedirectURIShowsTheErrorPageAndNeverRedirectsThere() async throws {
        let f = try Fixture()
        for bad in ["http://localhost:8400/callback/", "http://LOCALHOST:8400/callback", "http://localhost:8402/callback",
                    "http://localhost:8400/callback?x=1", "http://evil.example/callback"] {
            let url = f.authorizeURL(redirect: bad)
            let first = try await f.get(String(url.dropFirst(f.emulator.baseURL.count)))
            #expect(first.status == 302)
            let location = try #require(first.headers["location"])
            #expect(location.hasPrefix(f.emulator.baseURL + "/error?error=redirect_mismatch"), "\(location)")
            await #expect(throws: TestBrowserError.self) {
                _ = try await TestBrowser.signIn(authorizeURL: url, email: alice.email, password: alice.password)
            }
            do {
                _ = try await TestBrowser.signIn(authorizeURL: url, email: alice.email, password: alice.password)
            } catch TestBrowserError.errorPage(let status, let page, let body) {
                #expect(status == 400)
                #expect(page.contains("/error?error=redirect_mismatch"))
                #expect(body.contains("redirect_mismatch"))
            }
        }
        // The sign-in POST itself re-checks the redirect URI.
        let query = FormURLEncoding.encode([("response_type", "code"), ("client_id", "client-abc123"),
                                            ("redirect_uri", "http://evil.example/cb")])
        let post = try await postForm(f, "/login?" + query, [("username", alice.email), ("password", alice.password)])
        #expect(post.status == 302)
        #expect(post.headers["location"]?.hasPrefix(f.emulator.baseURL + "/error?") == true)
    }

    @Test func unknownClientIdShowsTheErrorPage() async throws {
        let f = try Fixture()
        let url = f.emulator.baseURL + "/oauth2/authorize?" + FormURLEncoding.encode([
            ("response_type", "code"), ("client_id", "nope"), ("redirect_uri", redirectURI)])
        let r = try await f.get(String(url.dropFirst(f.emulator.baseURL.count)))
        #expect(r.status == 302)
        #expect(r.headers["location"]?.hasPrefix(f.emulator.baseURL + "/error?") == true)
    }

    @Test func redirectURIMustMatchAtTheTokenEndpoint() async throws {
        let f = try Fixture()
        let pkce = PKCE()
        let code = try await f.code(pkce: pkce)
        let r = try await f.redeem(code, pkce, redirect: secondRedirectURI)
        #expect(r.status == 400)
        #expect(r.json["error"]?.string == "invalid_grant")
    }

    @Test func badClientSecretIs401InvalidClient() async throws {
        let f = try Fixture()
        let pkce = PKCE()
        let code = try await f.code(pkce: pkce)
        let r = try await f.redeem(code, pkce, auth: .basicWith("client-abc123", "wrong"))
        #expect(r.status == 401)
        #expect(r.json == .object(["error": .string("invalid_client")]))
        let noSecret = try await f.redeem(code, pkce, auth: .none)
        #expect(noSecret.status == 401)
        let otherClient = try await f.redeem(code, pkce, auth: .basicWith("someone-else", "s3cr3t-value"))
        #expect(otherClient.status == 401)
        // A failed client authentication does not burn the code.
        #expect(try await f.redeem(code, pkce).status == 200)
    }

    @Test func clientSecretPostWorks() async throws {
        let f = try Fixture()
        let pkce = PKCE()
        let code = try await f.code(pkce: pkce)
        let r = try await f.redeem(code, pkce, auth: .post)
        #expect(r.status == 200)
        #expect(r.json["id_token"]?.string != nil)
    }

    @Test func publicClientSendsOnlyClientId() async throws {
        let f = try Fixture(secret: nil)
        let pkce = PKCE()
        let code = try await f.code(pkce: pkce)
        let withSecret = try await f.redeem(code, pkce, auth: .basicWith("client-abc123", "anything"))
        #expect(withSecret.status == 401)
        #expect(try await f.redeem(code, pkce, auth: .none).status == 200)
    }

    @Test func grantTypeAndRequestShapeErrors() async throws {
        let f = try Fixture()
        #expect(try await f.tokenRequest([("grant_type", "password")]).json["error"]?.string == "unsupported_grant_type")
        #expect(try await f.tokenRequest([("grant_type", "client_credentials")]).json["error"]?.string == "unauthorized_client")
        #expect(try await f.tokenRequest([("code", "x")]).json["error"]?.string == "invalid_request")
        let dup = try await f.tokenRequest([("grant_type", "authorization_code"), ("grant_type", "authorization_code")])
        #expect(dup.json["error"]?.string == "invalid_request")
        let unknown = try await f.tokenRequest([("grant_type", "authorization_code"), ("code", "nope"), ("redirect_uri", redirectURI)])
        #expect(unknown.status == 400)
        #expect(unknown.json["error"]?.string == "invalid_grant")
        let get = try await f.get("/oauth2/token")
        #expect(get.status == 405)
    }

    @Test func wrongPasswordShowsTheFormAgain() async throws {
        let f = try Fixture()
        let url = f.authorizeURL()
        do {
            _ = try await TestBrowser.signIn(authorizeURL: url, email: alice.email, password: "wrong")
            Issue.record("sign-in should have been refused")
        } catch TestBrowserError.signInRejected(let message) {
            #expect(message == "Incorrect username or password.")
        }
        await #expect(throws: TestBrowserError.signInRejected("Incorrect username or password.")) {
            _ = try await TestBrowser.signIn(authorizeURL: url, email: "nobody@example.com", password: "x")
        }
        // The page itself: 200, the form again, the message.
        let q = String(url[url.index(after: try #require(url.firstIndex(of: "?")))...])
        let page = try await postForm(f, "/login?" + q, [("username", alice.email), ("password", "wrong")])
        #expect(page.status == 200)
        #expect(page.body.contains("<form"))
        #expect(page.body.contains("Incorrect username or password."))
        #expect(page.headers["location"] == nil)
    }

    @Test func signInFormShape() async throws {
        let f = try Fixture()
        let url = f.authorizeURL()
        let first = try await f.get(String(url.dropFirst(f.emulator.baseURL.count)))
        #expect(first.status == 302)
        let login = try #require(first.headers["location"])
        let q = String(url[url.index(after: try #require(url.firstIndex(of: "?")))...])
        #expect(login == f.emulator.baseURL + "/login?" + q)
        let page = try await f.get(String(login.dropFirst(f.emulator.baseURL.count)))
        #expect(page.status == 200)
        let form = try #require(HTMLForm.first(in: page.body))
        #expect(form.action == "/login?" + q)
        #expect(page.body.contains("name=\"username\""))
        #expect(page.body.contains("name=\"password\""))
    }

    @Test func userInfoReturnsEmailVerifiedAsAString() async throws {
        let f = try Fixture()
        let t = try await f.tokens()
        let access = try #require(t["access_token"]?.string)
        let r = try await f.get("/oauth2/userInfo", headers: ["Authorization": "Bearer " + access])
        #expect(r.status == 200)
        let u = try J.parse(r.body)
        #expect(u["email_verified"] == .string("true"))
        #expect(u["email"]?.string == alice.email)
        #expect(u["sub"]?.string == alice.sub)
        #expect(u["username"]?.string == "alice-username")
        #expect(u["custom:department"]?.string == "ops")

        let bobTokens = try await f.tokens(user: bob)
        let rb = try await f.get("/oauth2/userInfo", headers: ["Authorization": "Bearer " + (bobTokens["access_token"]?.string ?? "")])
        #expect(try J.parse(rb.body)["email_verified"] == .string("false"))

        // The ID token is not an access token.
        let withID = try await f.get("/oauth2/userInfo", headers: ["Authorization": "Bearer " + (t["id_token"]?.string ?? "")])
        #expect(withID.status == 401)
        #expect(try await f.get("/oauth2/userInfo").status == 401)
        #expect(f.emulator.requestCount("userinfo") == 4)
    }

    @Test func refreshKeepsAuthTimeAndRevokeStopsIt() async throws {
        let f = try Fixture()
        let start = Date()
        let offset = OffsetClock()
        f.emulator.clock = { start.addingTimeInterval(offset.seconds) }
        let t = try await f.tokens()
        let refresh = try #require(t["refresh_token"]?.string)
        let first = try DecodedJWT(try #require(t["id_token"]?.string))
        offset.seconds = 1800
        let r = try await f.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", refresh)])
        #expect(r.status == 200)
        #expect(r.json["refresh_token"] == nil)
        let second = try DecodedJWT(try #require(r.json["id_token"]?.string))
        #expect(second.claims["auth_time"] == first.claims["auth_time"])
        #expect(second.claims["iat"]?.number == (first.claims["iat"]?.number ?? 0) + 1800)
        #expect(second.claims["origin_jti"] == first.claims["origin_jti"])

        var revoke = URLRequest(url: try #require(URL(string: f.emulator.baseURL + "/oauth2/revoke")))
        revoke.httpMethod = "POST"
        revoke.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        revoke.setValue("Basic " + Data("client-abc123:s3cr3t-value".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        revoke.httpBody = Data(FormURLEncoding.encode([("token", refresh)]).utf8)
        #expect(try await TestBrowser.fetch(revoke).status == 200)
        let after = try await f.tokenRequest([("grant_type", "refresh_token"), ("refresh_token", refresh)])
        #expect(after.json["error"]?.string == "invalid_grant")
        let info = try await f.get("/oauth2/userInfo", headers: ["Authorization": "Bearer " + (t["access_token"]?.string ?? "")])
        #expect(info.status == 401)
    }

    @Test func stateIsEchoedExactlyAndReadsTheSameUnderBothQueryConventions() async throws {
        let f = try Fixture()
        let state = "a b+c&d=e/é~%"
        let location = try await TestBrowser.signIn(authorizeURL: f.authorizeURL(state: state), email: alice.email,
                                                    password: alice.password)
        #expect(query(of: location)?["state"] == state)
        let items = URLComponents(string: location)?.queryItems ?? []
        #expect(items.first { $0.name == "state" }?.value == state)
        #expect(!location.contains("+"))
    }

    @Test func authorizeURLWithLocalhostStillWorks() async throws {
        let f = try Fixture()
        let url = f.authorizeURL().replacingOccurrences(of: "127.0.0.1", with: "localhost")
        let location = try await TestBrowser.signIn(authorizeURL: url, email: alice.email, password: alice.password)
        #expect(query(of: location)?["code"] != nil)
    }

    @Test func concurrentSignInsEachGetTheirOwnCode() async throws {
        let f = try Fixture()
        let codes = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let pkce = PKCE()
                    let code = try await f.code(pkce: pkce)
                    let r = try await f.redeem(code, pkce)
                    try #require(r.status == 200)
                    return code
                }
            }
            var all: [String] = []
            for try await c in group { all.append(c) }
            return all
        }
        #expect(Set(codes).count == 16)
    }

    @Test func mintTokensWithoutTheBrowser() throws {
        let emulator = CognitoEmulator(client: EmulatorClient(clientId: "c", redirectURIs: [redirectURI]), users: [alice])
        let (id, access) = try emulator.mintTokens(email: alice.email, nonce: "abc")
        let decoded = try DecodedJWT(try #require(id))
        #expect(decoded.claims["nonce"]?.string == "abc")
        #expect(decoded.claims["aud"]?.string == "c")
        #expect(try DecodedJWT(access).claims["token_use"]?.string == "access")
        #expect(throws: CognitoEmulatorError.self) { _ = try emulator.mintTokens(email: "nobody@example.com") }
    }
}

/// A mutable clock offset the injected clock closure reads.
final class OffsetClock: @unchecked Sendable {
    private let lock = NSLock()
    private var _seconds: TimeInterval = 0
    var seconds: TimeInterval {
        get { lock.withLock { _seconds } }
        set { lock.withLock { _seconds = newValue } }
    }
}

func postForm(_ f: Fixture, _ path: String, _ form: [(String, String)]) async throws -> (status: Int, headers: [String: String], body: String) {
    var request = URLRequest(url: try #require(URL(string: f.emulator.baseURL + path)))
    request.httpMethod = "POST"
    request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
    request.httpBody = Data(FormURLEncoding.encode(form).utf8)
    return try await TestBrowser.fetch(request)
}
