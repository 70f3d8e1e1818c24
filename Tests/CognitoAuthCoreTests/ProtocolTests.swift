import CognitoAuthCore
import Foundation
import Testing

@Suite("Helper wire protocol")
struct WireTests {
    @Test func roundTripKeepsEveryByte() throws {
        let tricky = "a b%c=d\ne\u{e9}\u{1F600}+&~._-"
        let m = WireMessage("CONV", [("info", tricky), ("prompt_echo_on", "Redirect URL: "), ("r", "")])
        var line = m.encoded()
        #expect(line.last == UInt8(ascii: "\n"))
        line.removeLast()
        #expect(!line.contains(UInt8(ascii: "\n")))
        #expect(try WireMessage.decode(line).get() == m)
    }
    @Test(arguments: ["", "conv x=1", "CONV x", "CONV =1", "CONV X=1", "CONV a=%zz", "CONV a=%0", "CONV a=%00",
                      "CONV a=b c", "CONV  a=1", "CONV a=\u{e9}"])
    func malformedLinesAreRejected(_ s: String) {
        #expect((try? WireMessage.decode(Array(s.utf8)).get()) == nil, "\(s)")
    }
    @Test func invalidUTF8InAValueIsReplacedNotFatal() throws {
        let m = try WireMessage.decode(Array("ANSWER r=%FFabc".utf8)).get()
        #expect(m.value("r") == "\u{FFFD}abc")
    }
    @Test func overlongLineIsRejected() {
        let s = "CONV a=" + String(repeating: "x", count: WireMessage.maxLineBytes)
        #expect((try? WireMessage.decode(Array(s.utf8)).get()) == nil)
    }
    @Test func startMessage() throws {
        let s = HelperStart(user: "alice", service: "sshd", rhost: "10.0.0.1", tty: "ssh", configPath: "/etc/c.conf")
        #expect(try HelperStart.from(s.message).get() == s)
        #expect((try? HelperStart.from(WireMessage("START", [("v", "2")])).get()) == nil)
        #expect((try? HelperStart.from(WireMessage("START", [("v", "1"), ("user", ""), ("service", "s"), ("config", "/c")])).get()) == nil)
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
