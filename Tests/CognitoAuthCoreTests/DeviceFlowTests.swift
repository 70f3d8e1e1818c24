import CognitoAuthCore
import FoundationEssentials
import Testing

@Suite("Device and relay flows: the pure parts")
struct DeviceFlowTests {
    static let rfcExample = """
        {"device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS","user_code":"WDJB-MJHT",
         "verification_uri":"https://example.com/device","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT",
         "expires_in":1800,"interval":5}
        """

    func parse(_ json: String, status: Int = 200) -> Result<DeviceAuthorization, Refusal> {
        DeviceAuthorization.parse(status: status, body: Data(json.utf8), who: "device authorization endpoint")
    }

    @Test func parsesRFC8628Example() throws {
        let a = try parse(Self.rfcExample).get()
        #expect(a.userCode == "WDJB-MJHT" && a.verificationURI == "https://example.com/device")
        #expect(a.verificationURIComplete == "https://example.com/device?user_code=WDJB-MJHT")
        #expect(a.expiresIn == 1800 && a.interval == 5)
    }

    @Test func intervalDefaultsToFiveSeconds() throws {
        let a = try parse(#"{"device_code":"d","user_code":"BCDFGHJK","verification_uri":"https://x.example/d","expires_in":600}"#).get()
        #expect(a.interval == 5 && a.verificationURIComplete == nil)
    }

    @Test(arguments: [
        (#"{"user_code":"A","verification_uri":"https://x.example/d","expires_in":1}"#, "device_code"),
        (#"{"device_code":"d","user_code":"AB\u001b[2J","verification_uri":"https://x.example/d","expires_in":1}"#, "user_code"),
        (#"{"device_code":"d","user_code":"AB","verification_uri":"http://evil.example/d","expires_in":1}"#, "verification_uri"),
        (#"{"device_code":"d","user_code":"AB","verification_uri":"https://x.example/d","verification_uri_complete":"javascript:x","expires_in":1}"#, "verification_uri_complete"),
        (#"{"device_code":"d","user_code":"AB","verification_uri":"https://x.example/d","expires_in":0}"#, "expires_in"),
        (#"{"device_code":"d","user_code":"AB","verification_uri":"https://x.example/d","expires_in":9,"interval":"5"}"#, "interval"),
        ("not json", "not a JSON object"),
    ])
    func refusesWhatCannotBeShownOrUsed(json: String, names: String) {
        guard case .failure(let r) = parse(json) else { Issue.record("accepted \(json)"); return }
        #expect(r.code == .deviceAuthorizationFailed)
        #expect(r.detail.contains(names), "\(r.detail)")
    }

    @Test func anErrorAnswerNamesTheError() {
        guard case .failure(let r) = parse(#"{"error":"unauthorized_client"}"#, status: 400) else { Issue.record("accepted"); return }
        #expect(r.detail == "device authorization endpoint refused the request: unauthorized_client")
    }

    @Test func userCodeDisplay() {
        #expect(UserCode.display("WDJBMJHT") == "WDJB-MJHT")
        #expect(UserCode.display("wdjb-mjht") == "WDJB-MJHT")
        #expect(UserCode.display("ABC-123-XYZ") == "ABC-123-XYZ")    // an IdP's own format, verbatim
        var rng = SystemRandomNumberGenerator()
        let code = UserCode.display(UserCode.generate(using: &rng))
        #expect(code.count == 9 && Array(code)[4] == "-")
        #expect(code.utf8.filter { $0 != UInt8(ascii: "-") }.allSatisfy { UserCode.alphabet.contains($0) })
    }

    @Test func promptAsDesignShowsIt() throws {
        let a = try parse(#"{"device_code":"d","user_code":"WDJBMJHT","verification_uri":"https://login.example.com/d","verification_uri_complete":"https://login.example.com/d?code=WDJB-MJHT","expires_in":600}"#).get()
        #expect(DevicePrompt.instructions(host: "HOST", user: "USER", rhost: "RHOST", authorization: a) == """
            Sign in to HOST as USER (request from RHOST) with your Cognito account:
              open https://login.example.com/d and enter WDJB-MJHT
              or go straight to https://login.example.com/d?code=WDJB-MJHT
            """)
        #expect(DevicePrompt.prompt == "Press Enter after you have signed in: ")
        #expect(DevicePrompt.notYet(a).contains("enter WDJB-MJHT"))
    }

    @Test(arguments: [
        ("authorization_pending", DevicePollAnswer.pending), ("slow_down", .slowDown), ("access_denied", .denied),
        ("expired_token", .expired), ("invalid_grant", .failed("error invalid_grant")),
    ])
    func pollAnswers(error: String, expected: DevicePollAnswer) {
        #expect(DevicePollAnswer.parse(status: 400, body: Data(#"{"error":"\#(error)"}"#.utf8)) == expected)
    }

    @Test func pollAnswersBeyondOAuthErrors() {
        #expect(DevicePollAnswer.parse(status: 200, body: Data("{}".utf8)) == .granted(Data("{}".utf8)))
        #expect(DevicePollAnswer.parse(status: 503, body: Data()) == .failed("HTTP 503"))
        #expect(DevicePollAnswer.parse(status: 400, body: Data("<html>".utf8)) == .failed("HTTP 400 without an OAuth error"))
    }

    @Test func scheduleHonoursIntervalAndSlowDown() {
        var s = DevicePollSchedule(interval: 1, expiresIn: 600)
        #expect(s.nextPoll == 1)
        s.polled(at: 1)
        #expect(s.next(after: .pending, at: 1.1) == .pollAt(2))
        s.polled(at: 2)
        #expect(s.next(after: .slowDown, at: 2.1) == .pollAt(8))       // 1 s + 5 s after the poll
        #expect(s.interval == 6)
        s.polled(at: 8)
        #expect(s.next(after: .pending, at: 8.1) == .pollAt(14))       // for good
        #expect(s.next(after: .denied, at: 9) == .denied)
        #expect(s.next(after: .expired, at: 9) == .expired)
        #expect(s.polls == 3)
    }

    @Test func scheduleStopsAtExpiresIn() {
        var s = DevicePollSchedule(interval: 5, expiresIn: 12)
        s.polled(at: 5)
        #expect(s.next(after: .pending, at: 5) == .pollAt(10))
        s.polled(at: 10)
        #expect(s.next(after: .pending, at: 10) == .expired)
    }

    @Test func relayRequestsFollowTheContract() {
        #expect(RelayRequests.endpoint("https://relay.example/", "token") == "https://relay.example/token")
        #expect(RelayRequests.endpoint("https://relay.example/base", "device_authorization") == "https://relay.example/base/device_authorization")
        let secrets = SignInSecrets()
        let form = RelayRequests.deviceAuthorizationForm(secrets: secrets, scopes: ["openid", "email"], host: "h1", user: "alice",
                                                         rhost: "198.51.100.1", waitSeconds: 109)
        #expect(form.map(\.0) == ["code_challenge", "code_challenge_method", "nonce", "scope", "host", "user", "rhost", "expires_in"])
        func wait(_ seconds: Int) -> String? {
            RelayRequests.deviceAuthorizationForm(secrets: secrets, scopes: ["openid"], host: "h", user: "u", rhost: "", waitSeconds: seconds)
                .first { $0.0 == "expires_in" }?.1
        }
        #expect(wait(109) == "109" && wait(0) == "1" && wait(9000) == "3600")   // whole seconds, within the relay's bounds
        // `cognito-auth test` names no account; the relay's confirmation page says so.
        #expect(RelayRequests.deviceAuthorizationForm(secrets: secrets, scopes: ["openid"], host: "h", user: "", rhost: "", waitSeconds: 60)
            .first { $0.0 == "user" }?.1 == "(cognito-auth-test)")
        #expect(form.contains { $0 == ("code_challenge", secrets.codeChallenge) } && form.contains { $0 == ("scope", "openid email") })
        #expect(!form.contains { $0.1 == secrets.codeVerifier })     // the verifier never leaves the host
        #expect(RelayRequests.tokenForm(deviceCode: "dc").map { "\($0.0)=\($0.1)" }
            == ["grant_type=urn:ietf:params:oauth:grant-type:device_code", "device_code=dc"])
    }

    @Test func relayLifetimeIsTheShorterOfCodeLifetimeAndTheHostsWait() throws {
        #expect(try RelayRequests.requestedLifetime(nil).get() == nil)
        #expect(try RelayRequests.requestedLifetime("110").get() == 110)
        #expect(try RelayRequests.requestedLifetime("3600").get() == 3600)
        for bad in ["", "0", "0000", "3601", "-1", "+5", "1.5", "1e3", " 9", "٣"] {
            #expect(throws: Refusal.self) { try RelayRequests.requestedLifetime(bad).get() }
        }
        #expect(RelayRequests.lifetime(codeLifetime: 600, requested: nil) == 600)
        #expect(RelayRequests.lifetime(codeLifetime: 600, requested: 110) == 110)
        #expect(RelayRequests.lifetime(codeLifetime: 600, requested: 3600) == 600)
    }

    @Test func relayGrantParsing() throws {
        let g = try RelayRequests.parseGrant(Data(#"{"code":"abc","redirect_uri":"https://relay.example/callback"}"#.utf8)).get()
        #expect(g.code == "abc" && g.redirectURI == "https://relay.example/callback")
        for bad in [#"{"redirect_uri":"https://relay.example/callback"}"#, #"{"code":"abc","redirect_uri":"http://relay.example/cb"}"#,
                    #"{"code":"a b","redirect_uri":"https://relay.example/callback"}"#, "[]"] {
            #expect(throws: Refusal.self) { try RelayRequests.parseGrant(Data(bad.utf8)).get() }
        }
    }

    @Test func qrAutoDrawsOnLocalTerminalsOnly() {
        #expect(!QRMode.auto.draws(tty: "ssh", rhost: "198.51.100.7", localHost: "h"))
        #expect(!QRMode.auto.draws(tty: "ssh", rhost: "", localHost: "h"))
        #expect(QRMode.auto.draws(tty: "/dev/tty1", rhost: "", localHost: "h"))
        #expect(QRMode.auto.draws(tty: "pts/3", rhost: "h", localHost: "h"))
        #expect(!QRMode.auto.draws(tty: "/dev/pts/3", rhost: "203.0.113.9", localHost: "h"))
        #expect(!QRMode.auto.draws(tty: "", rhost: "", localHost: "h"))
        #expect(QRMode.always.draws(tty: "ssh", rhost: "x", localHost: "h") && !QRMode.never.draws(tty: "/dev/tty1", rhost: "", localHost: "h"))
    }

    @Test func halfBlocksPairRows() {
        // A 2×2 code, no margin: dark modules blank, light ones drawn.
        #expect(QRText.halfBlocks([[true, false], [false, false]], margin: 0) == " \u{2588}".replacingOccurrences(of: " ", with: "\u{2584}"))
        #expect(QRText.halfBlocks([[true, true], [true, true]], margin: 1).split(separator: "\n").count == 2)
    }
}

@Suite("Config: flow, qr, relay")
struct FlowConfigTests {
    let base = ConfigParserTests.minimal + "\n"
    func parse(_ text: String) throws(ConfigError) -> Config { try ConfigParser.parse(text, path: "/c") }

    @Test func defaultsAreCodeAndAuto() throws {
        let c = try parse(base)
        #expect(c.flow == .code && c.qr == .auto)
    }

    @Test func relayNeedsItsTwoKeys() throws {
        let c = try parse(base + "flow = relay\nrelay_url = https://relay.example\nrelay_secret_file = /etc/cognito-auth/relay-secret\nqr = never\n")
        #expect(c.flow == .relay(url: "https://relay.example", secretFile: "/etc/cognito-auth/relay-secret") && c.qr == .never)
        #expect(throws: ConfigError.self) { try parse(base + "flow = relay\nrelay_secret_file = /s\n") }
        #expect(throws: ConfigError.self) { try parse(base + "flow = relay\nrelay_url = https://relay.example\n") }
        #expect(throws: ConfigError.self) { try parse(base + "flow = relay\nrelay_url = http://relay.example\nrelay_secret_file = /s\n") }
        #expect(throws: ConfigError.self) { try parse(base + "flow = relay\nrelay_url = https://relay.example\nrelay_secret_file = s\n") }
    }

    @Test func relayKeysWithoutRelayAreAnError() {
        do { _ = try parse(base + "flow = device\nrelay_url = https://relay.example\n"); Issue.record("accepted") } catch {
            #expect(error.key == "relay_url" && error.message.contains("flow = relay"))
        }
    }

    @Test func badValuesNameTheKey() {
        for (text, key) in [("flow = magic\n", "flow"), ("qr = sometimes\n", "qr")] {
            do { _ = try parse(base + text); Issue.record("accepted \(text)") } catch { #expect(error.key == key) }
        }
    }

    @Test func enterPollWaitsTheFractionTheServerAllows() {
        var s = DevicePollSchedule(interval: 1, expiresIn: 600)
        s.polled(at: 3.0)
        #expect(s.enterPollAt(fraction: 1) == 4.0)       // an RFC 8628 IdP: the whole interval
        #expect(s.enterPollAt(fraction: 0.5) == 3.5)     // the relay: half of it
        _ = s.next(after: .slowDown, at: 3.1)
        #expect(s.enterPollAt(fraction: 0.5) == 6.0)     // interval 6 s now: half is 3 s after the last poll
        #expect(s.enterPollAt(fraction: 1) == 9.0)
    }
}
