import CognitoAuthCore
import Testing

/// Issue 10: a claim that reaches an audit line cannot carry terminal or bidi controls into it.
@Suite("Audit escaping")
struct AuditEscapingTests {
    let start = HelperStart(user: "alice", service: "sshd", rhost: "192.0.2.7", tty: "ssh", configPath: "/c")

    func kv(_ email: String) -> String {
        AuditEvent(decision: Decision(outcome: .denied, reason: .badSignature, detail: "x", email: email),
                   start: start, durationMs: 1).render(.kv)
    }

    @Test(arguments: [
        ("\u{85}", "\\x85"),            // NEL, a C1 control some terminals and log viewers treat as a newline
        ("\u{9B}", "\\x9b"),            // CSI, the C1 form of ESC [
        ("\u{202E}", "\\u{202e}"),      // RIGHT-TO-LEFT OVERRIDE
        ("\u{2066}", "\\u{2066}"),      // LEFT-TO-RIGHT ISOLATE
        ("\u{200F}", "\\u{200f}"),      // RIGHT-TO-LEFT MARK
        ("\u{61C}", "\\u{61c}"),        // ARABIC LETTER MARK
        ("\u{2028}", "\\u{2028}"),      // LINE SEPARATOR
        ("\u{1B}", "\\x1b"),            // ESC
    ])
    func controlsAreEscapedInKeyValueLines(_ raw: String, _ shown: String) {
        let line = kv("a\(raw)b@example.com")
        #expect(line.contains("email=\"a\(shown)b@example.com\""), "\(line)")
        #expect(!line.unicodeScalars.contains { JSONValue.mustEscape($0) }, "no raw control left")
    }

    @Test func controlsAreEscapedInJSONLines() {
        let line = AuditEvent(decision: Decision(outcome: .denied, reason: .badSignature, detail: "x",
                                                 email: "a\u{85}\u{202E}\u{2069}b"),
                              start: start, durationMs: 1).render(.json)
        #expect(line.contains(#""email":"a\u0085\u202e\u2069b""#), "\(line)")
        #expect(!line.unicodeScalars.contains { JSONValue.mustEscape($0) })
    }

    @Test func ordinaryTextIsLeftAlone() {
        #expect(kv("alice@example.com").contains("email=alice@example.com "))
        // Printable non-ASCII is quoted but kept as it is.
        #expect(kv("zoë@example.com").contains("email=\"zoë@example.com\""))
    }
}
