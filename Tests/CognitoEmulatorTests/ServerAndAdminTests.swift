import CognitoAuthCore
@testable import CognitoEmulator
import Foundation
import Testing

@Suite("Cognito emulator: server and admin API", .timeLimit(.minutes(2)))
struct ServerAndAdminTests {
    @Test func stopRefusesConnectionsImmediately() async throws {
        let f = try Fixture()
        let port = f.emulator.port
        #expect(port != 0)
        #expect(f.emulator.baseURL == "http://127.0.0.1:\(port)")
        #expect(rawExchange(port: port, Array("GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)).response
            .hasPrefix("HTTP/1.1 200 OK\r\n"))
        f.emulator.stop()
        #expect(rawExchange(port: port, Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)).connected == false)
        // And it can serve again on the same port, once.
        #expect(try f.emulator.start(port: port) == port)
        #expect(throws: HTTPServerError.alreadyStarted) { try f.emulator.start() }
        let other = CognitoEmulator(client: f.client)
        #expect(throws: HTTPServerError.self) { try other.start(port: port) }
        #expect(rawExchange(port: port, Array("GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)).response
            .hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test func malformedAndOversizedRequestsGet400() throws {
        let f = try Fixture()
        let port = f.emulator.port
        let cases: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\nHost: h\r\nX: \(String(repeating: "a", count: 20_000))\r\n\r\n".utf8),
            Array("POST /oauth2/token HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n".utf8),
            Array("POST /oauth2/token HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8),
            Array("POST /oauth2/token HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".utf8),
            Array("BLAH\r\n\r\n".utf8),
            [0xFF, 0xFE, 0x0D, 0x0A, 0x0D, 0x0A],
        ]
        for bytes in cases {
            let r = rawExchange(port: port, bytes)
            #expect(r.response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(r.response.prefix(80))")
            #expect(r.response.contains("Connection: close\r\n"))
        }
        // Still serving afterwards.
        #expect(rawExchange(port: port, Array("GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)).response
            .hasPrefix("HTTP/1.1 200 OK"))
    }

    @Test func badInputToEveryEndpointIsA4xxNeverACrash() throws {
        let f = try Fixture()
        let port = f.emulator.port
        let pool = f.emulator.userPoolId
        let targets = ["/oauth2/authorize", "/oauth2/authorize?%", "/oauth2/authorize?client_id=%FF", "/login?x=%zz",
                       "/oauth2/token", "/oauth2/userInfo", "/oauth2/revoke", "/logout?%", "/error?error=%3Cscript%3E",
                       "/_emulator/users", "/_emulator/fault", "/_emulator/clock", "/_emulator/nope", "/\(pool)/.well-known/jwks.json",
                       "/nope"]
        let bodies = ["", "%", "{", "grant_type=authorization_code&code=%FF", "username=&password=", "{\"fault\":5}",
                      "{\"email\":1}", "\u{00}\u{01}"]
        for target in targets {
            for method in ["GET", "POST", "PUT"] {
                for body in bodies {
                    let request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                        + "Authorization: Basic !!!\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                    let r = rawExchange(port: port, Array(request.utf8))
                    let status = Int(r.response.dropFirst(9).prefix(3)) ?? 0
                    #expect((200..<500).contains(status), "\(method) \(target) \(body.debugDescription) → \(r.response.prefix(60))")
                }
            }
        }
        let errorPage = rawExchange(port: port, Array("GET /error?error=%3Cscript%3E HTTP/1.1\r\nHost: h\r\n\r\n".utf8)).response
        #expect(errorPage.hasPrefix("HTTP/1.1 400"))
        #expect(!errorPage.contains("<script>"))
        #expect(errorPage.contains("&lt;script&gt;"))
    }

    @Test func slowClientIsCutOff() throws {
        let f = try Fixture()
        let start = Date()
        // Half a request, then silence: the server answers 408 after its read timeout.
        let r = rawExchange(port: f.emulator.port, Array("GET / HTTP/1.1\r\nHost: h\r\n".utf8), readTimeout: 20)
        #expect(r.response.hasPrefix("HTTP/1.1 408"))
        #expect(Date().timeIntervalSince(start) < 12)
    }

    @Test func adminAPI() async throws {
        let f = try Fixture(users: [])
        let health = try await f.get("/_emulator/health")
        #expect(health.status == 200)
        #expect(try J.parse(health.body)["status"]?.string == "ok")
        #expect(try J.parse(health.body)["issuer"]?.string == f.emulator.issuer)

        let add = try await f.post("/_emulator/users", json: """
            {"email":"carol@example.com","password":"Carol-pw-3","groups":["ops","linux-admins"],"email_verified":false,
             "username":"carol","custom":{"team":"blue"}}
            """)
        #expect(add.status == 201)
        let added = try J.parse(add.body)
        #expect(added["username"]?.string == "carol")
        let sub = try #require(added["sub"]?.string)
        let carol = try #require(f.emulator.user(email: "carol@example.com"))
        #expect(carol.sub == sub && carol.groups == ["ops", "linux-admins"] && !carol.emailVerified)
        #expect(carol.custom == ["custom:team": "blue"])

        let minimal = try await f.post("/_emulator/users", json: #"{"email":"dan@example.com","password":"p","sub":"fixed-sub"}"#)
        #expect(minimal.status == 201)
        #expect(try J.parse(minimal.body)["sub"]?.string == "fixed-sub")
        #expect(f.emulator.user(email: "dan@example.com")?.emailVerified == true)

        for bad in ["{}", #"{"email":"x@y","password":"p","email_verified":1}"#, #"{"email":"x@y","password":"p","groups":"admins"}"#,
                    #"{"email":"x@y","password":"p","custom":{"a":1}}"#, "[]", "nope"] {
            #expect(try await f.post("/_emulator/users", json: bad).status == 400, "\(bad)")
        }

        let fault = try await f.post("/_emulator/fault", json: #"{"fault":"bad_signature"}"#)
        #expect(fault.status == 200)
        #expect(f.emulator.currentFault == .badSignature)
        let unknown = try await f.post("/_emulator/fault", json: #"{"fault":"nope"}"#)
        #expect(unknown.status == 400)
        #expect(try J.parse(unknown.body)["known"]?.array?.count == TokenFault.allCases.count)
        #expect(try await f.post("/_emulator/fault", json: "{}").status == 400)
        #expect(try await f.post("/_emulator/fault", json: #"{"fault":null}"#).status == 200)
        #expect(f.emulator.currentFault == nil)

        let oldKid = try #require(f.emulator.keyIDs?.idToken)
        let rotate = try await f.post("/_emulator/rotate", json: "")
        #expect(rotate.status == 200)
        let rotated = try J.parse(rotate.body)
        #expect(rotated["removed_kid"]?.string == oldKid)
        #expect(rotated["kid"]?.string == f.emulator.keyIDs?.idToken)

        let before = f.emulator.now()
        let clock = try await f.post("/_emulator/clock", json: #"{"advance_seconds":600}"#)
        #expect(clock.status == 200)
        #expect(f.emulator.now().timeIntervalSince(before) >= 600)

        _ = try await f.get("/us-east-1_Example/.well-known/openid-configuration")
        let stats = try J.parse(try await f.get("/_emulator/stats").body)
        #expect(stats["discovery"] == .number(1))
        #expect(stats["token"] == .number(0))
        #expect(stats["admin"]?.number ?? 0 >= 10)

        // Only for loopback Host names.
        let rebound = try await f.get("/_emulator/health", headers: ["Host": "attacker.example"])
        #expect(rebound.status == 403)
    }

    @Test func addUserReplacesSameEmail() async throws {
        let f = try Fixture()
        f.emulator.addUser(EmulatorUser(email: "ALICE@example.com", password: "new-pw", groups: ["x"]))
        await #expect(throws: TestBrowserError.self) {
            _ = try await TestBrowser.signIn(authorizeURL: f.authorizeURL(), email: alice.email, password: alice.password)
        }
        let location = try await TestBrowser.signIn(authorizeURL: f.authorizeURL(), email: alice.email, password: "new-pw")
        #expect(query(of: location)?["code"] != nil)
    }

    @Test func followReturnsStatusAndBody() async throws {
        let f = try Fixture()
        let r = try await TestBrowser.follow(f.emulator.baseURL + "/error?error=redirect_mismatch")
        #expect(r.status == 400)
        #expect(r.body.contains("redirect_mismatch"))
    }
}
