import CognitoAuthCore
import Foundation
import Testing

@Suite("Helper wire protocol")
struct WireTests {
    /// A frame as PROTOCOL.md draws it: 4-byte big-endian length, then NUL-terminated fields.
    static func frame(_ body: [UInt8]) -> [UInt8] {
        let n = UInt32(body.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + body
    }
    static func body(_ fields: String...) -> [UInt8] { fields.flatMap { Array($0.utf8) + [0] } }

    @Test func roundTripKeepsEveryByte() throws {
        let tricky = "a b%c=d\ne\u{e9}\u{1F600}+&~._-\r\t"
        let m = WireMessage("CONV", ["info", tricky, "prompt_echo_on", "Redirect URL: "])
        let bytes = try #require(m.encoded())
        #expect(bytes == Self.frame(Self.body("CONV", "info", tricky, "prompt_echo_on", "Redirect URL: ")))
        let decoded = try #require(try WireMessage.nextFrame(bytes).get())
        #expect(decoded.message == m && decoded.consumed == bytes.count)
    }
    @Test func emptyFieldsAndTheShortestFrame() throws {
        let m = WireMessage("RESULT", ["denied", "", "x"])
        let bytes = try #require(m.encoded())
        #expect(try WireMessage.nextFrame(bytes).get()?.message == m)
        #expect(try WireMessage.nextFrame(Self.frame(Self.body("ANSWER"))).get()?.message == WireMessage("ANSWER"))
    }
    @Test func incompleteFramesWaitForMoreBytes() throws {
        let bytes = try #require(WireMessage("HELLO", ["2", "30"]).encoded())
        for cut in 0..<bytes.count {
            #expect(try WireMessage.nextFrame(Array(bytes[..<cut])).get() == nil, "\(cut)")
        }
        let two = bytes + bytes
        #expect(try WireMessage.nextFrame(two).get()?.consumed == bytes.count)
    }
    @Test(arguments: [
        ([0, 0, 0, 0], "frame length 0"),
        ([0, 0, 0xFF, 0xFD], "frame length 65533"),
        ([0xFF, 0xFF, 0xFF, 0xFF], "frame length 4294967295"),
    ] as [([UInt8], String)])
    func badLengthIsRefusedBeforeTheBody(_ header: [UInt8], _ why: String) {
        guard case .failure(let r) = WireMessage.nextFrame(header) else { Issue.record("accepted \(header)"); return }
        #expect(r.detail.hasPrefix(why), "\(r.detail)")
    }
    @Test(arguments: [
        ("RESULT\0allowed\0alice\0ok", "does not end with a NUL"),     // trailing bytes after the last NUL
        ("\0", "upper-case verb"),
        ("result\0", "upper-case verb"),
        ("CONV\0a\0b\0c\0d\0e\0f\0g\0h\0i\0", "too many fields"),
    ])
    func malformedBodiesAreRejected(_ body: String, _ why: String) {
        guard case .failure(let r) = WireMessage.nextFrame(Self.frame(Array(body.utf8))) else {
            Issue.record("accepted \(body.debugDescription)"); return
        }
        #expect(r.detail.contains(why), "\(r.detail)")
    }
    @Test func encoderRefusesWhatTheModuleWouldRefuse() {
        #expect(WireMessage("CONV", ["info", "a\u{0}b"]).encoded() == nil)                 // NUL in a field
        #expect(WireMessage("CONV", Array(repeating: "x", count: 9)).encoded() == nil)     // 10 fields
        #expect(WireMessage("CONV", ["info", String(repeating: "x", count: 65_536 - 4 - 11)]).encoded()?.count == 65_536)
        #expect(WireMessage("CONV", ["info", String(repeating: "x", count: 65_536 - 4 - 10)]).encoded() == nil)
    }
    @Test func invalidUTF8InAFieldIsReplacedNotFatal() throws {
        let m = try #require(try WireMessage.nextFrame(Self.frame(Array("ANSWER\0".utf8) + [0xFF] + Array("abc\0".utf8))).get())
        #expect(m.message.fields == ["\u{FFFD}abc"])
    }
    @Test func startMessage() throws {
        let s = HelperStart(user: "alice", service: "sshd", rhost: "10.0.0.1", tty: "ssh", configPath: "/etc/c.conf")
        #expect(s.message.fields.first == "2" && s.message.fields.count == 8)
        #expect(try HelperStart.from(s.message).get() == s)
        #expect((try? HelperStart.from(WireMessage("START", ["1", "alice", "s", "", "", "", "/c", "0"])).get()) == nil)
        #expect((try? HelperStart.from(WireMessage("START", ["2", "", "s", "", "", "", "/c", "0"])).get()) == nil)
        #expect((try? HelperStart.from(WireMessage("START", ["2", "alice", "s", "", "", "", "/c"])).get()) == nil)
        #expect((try? HelperStart.from(WireMessage("START", ["2", "alice", "s", "", "", "", "/c", "yes"])).get()) == nil)
    }
}

@Suite("Sign-in request and redirect")
struct SignInTests {
    @Test func secretsHaveEnoughEntropyAndS256Challenge() {
        let s = SignInSecrets()
        #expect(s.codeVerifier.count >= 43)
        #expect(s.state.count >= 22 && s.nonce.count >= 22)
        #expect(s.state != s.nonce)
        // RFC 7636 appendix B test vector.
        #expect(SignInSecrets.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }
    @Test func authorizeURLCarriesEveryParameter() throws {
        let s = SignInSecrets()
        let url = AuthorizeURL.build(endpoint: "https://d.auth.us-east-1.amazoncognito.com/oauth2/authorize", clientId: "cid",
                                     redirectURI: "http://localhost:8400/callback", scopes: ["openid", "email"], secrets: s)
        let c = try #require(URLComponents(string: url))
        let q = Dictionary(uniqueKeysWithValues: (c.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        #expect(q["response_type"] == "code")
        #expect(q["client_id"] == "cid")
        #expect(q["redirect_uri"] == "http://localhost:8400/callback")
        #expect(q["scope"] == "openid+email" || q["scope"] == "openid email")
        #expect(q["state"] == s.state && q["nonce"] == s.nonce)
        #expect(q["code_challenge"] == s.codeChallenge && q["code_challenge_method"] == "S256")
        #expect(!url.contains(s.codeVerifier))
    }
    @Test func pastedRedirectForms() {
        let st = "STATE123"
        #expect(RedirectParser.parse("  http://localhost:8400/callback?code=abc&state=STATE123 \n", expectedState: st) == .success(.code("abc")))
        #expect(RedirectParser.parse("code=abc&state=STATE123", expectedState: st) == .success(.code("abc")))
        #expect(RedirectParser.parse("?state=STATE123&code=abc#frag", expectedState: st) == .success(.code("abc")))
        #expect(RedirectParser.parse("   ", expectedState: st) == .success(.empty))
    }
    @Test func pastedRedirectRefusals() {
        let st = "STATE123"
        #expect(RedirectParser.parse("http://localhost:8400/callback?code=abc&state=OTHER", expectedState: st).failureCode == .stateMismatch)
        #expect(RedirectParser.parse("http://localhost:8400/callback?code=abc", expectedState: st).failureCode == .stateMismatch)
        #expect(RedirectParser.parse("?error=access_denied&state=STATE123", expectedState: st).failureCode == .idpError)
        #expect(RedirectParser.parse("hello", expectedState: st).failureCode == .badRedirect)
        #expect(RedirectParser.parse("code=a&code=b&state=STATE123", expectedState: st).failureCode == .badRedirect)
        #expect(RedirectParser.parse("code=a%zz&state=STATE123", expectedState: st).failureCode == .badRedirect)
        #expect(RedirectParser.parse("code=&state=STATE123", expectedState: st).failureCode == .badRedirect)
        #expect(RedirectParser.parse(String(repeating: "a", count: 9000), expectedState: st).failureCode == .badRedirect)
    }
    /// The loopback listener takes a request as the answer only when this holds (issue 14: a
    /// stray `?state=a&state=b` or `?code=%zz` ended the sign-in as refused).
    @Test func onlyARequestWithExactlyOurStateIsTheAnswer() {
        let st = "STATE123"
        #expect(RedirectParser.carriesState("code=abc&state=STATE123", expectedState: st))
        #expect(RedirectParser.carriesState("error=access_denied&state=STATE123", expectedState: st))
        #expect(!RedirectParser.carriesState("code=abc", expectedState: st))
        #expect(!RedirectParser.carriesState("code=abc&state=OTHER", expectedState: st))
        #expect(!RedirectParser.carriesState("state=STATE123&state=STATE123", expectedState: st))
        #expect(!RedirectParser.carriesState("state=a&state=b", expectedState: st))
        #expect(!RedirectParser.carriesState("code=%zz&state=STATE123", expectedState: st))
        #expect(!RedirectParser.carriesState("code=%zz", expectedState: st))
        #expect(!RedirectParser.carriesState("", expectedState: st))
    }
}

@Suite("Audit event")
struct AuditTests {
    let start = HelperStart(user: "bob", service: "sshd", rhost: "192.0.2.7", tty: "ssh", configPath: "/c")

    @Test func kvLineHasTheFields() {
        let d = Decision(outcome: .policyDenied, reason: .groupNotAllowed, detail: "groups [staff]", localUser: "bob",
                         email: "bob@example.com", sub: "s-1", groups: ["staff"], jti: "j-1")
        let line = AuditEvent(decision: d, start: start, durationMs: 12).render(.kv)
        #expect(line.hasPrefix("event=login result=policy_denied reason=group_not_allowed service=sshd user=bob email=bob@example.com sub=s-1 groups=staff rhost=192.0.2.7 tty=ssh jti=j-1 duration_ms=12 detail="))
    }
    @Test func craftedClaimCannotForgeAField() {
        let d = Decision(outcome: .denied, reason: .badSignature, detail: "x", email: "a\" result=allowed b=\"c@example.com")
        let line = AuditEvent(decision: d, start: start, durationMs: 1).render(.kv)
        // Split the line the way a log parser would: key=value or key="..." with backslash escapes.
        var keys: [String] = []
        var i = line.startIndex
        while i < line.endIndex {
            let eq = line[i...].firstIndex(of: "=") ?? line.endIndex
            keys.append(String(line[i..<eq]))
            var j = line.index(after: eq)
            if j < line.endIndex, line[j] == "\"" {
                j = line.index(after: j)
                while j < line.endIndex, line[j] != "\"" { if line[j] == "\\" { j = line.index(after: j) }; j = line.index(after: j) }
                j = line.index(after: j)
            } else {
                while j < line.endIndex, line[j] != " " { j = line.index(after: j) }
            }
            i = j < line.endIndex ? line.index(after: j) : j
        }
        #expect(keys.filter { $0 == "result" }.count == 1, "\(line)")
    }
    @Test func jsonFormatParses() throws {
        let d = Decision(outcome: .allowed, reason: .ok, detail: "fine \"quoted\"", localUser: "bob")
        let json = AuditEvent(decision: d, start: start, durationMs: 3).render(.json)
        let obj = try #require(JSONValue.parseObject(Data(json.utf8)))
        #expect(obj["result"] == .string("allowed"))
        #expect(obj["detail"] == .string("fine \"quoted\""))
    }
}
