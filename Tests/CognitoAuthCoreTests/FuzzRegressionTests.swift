import CognitoAuthCore
import Testing

/// Every input scripts/fuzz found that broke a property, kept as a test (docs/ARCHITECTURE.md §11).
/// Each test names its target and the property; the input is the fuzzer's, minimized where noted.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// `config`: a key holding control bytes was quoted back raw, so the refusal (syslog's
    /// `detail`, the CLI's error) could hold a carriage return or a terminal escape.
    /// The fuzzer's input: 0x05 bytes around a CR and a `$` before `=`.
    @Test func configRefusalQuotingControlBytesStaysOneLine() {
        let input = [UInt8](repeating: 0x05, count: 32) + [0x0D] + [UInt8](repeating: 0x05, count: 10) + [0x24]
            + [UInt8](repeating: 0x05, count: 12) + [0x3D] + [UInt8](repeating: 0x05, count: 23)
        let text = String(decoding: input, as: UTF8.self)
        #expect(throws: ConfigError.self) { try ConfigParser.parse(text, path: "/etc/cognito-auth/cognito-auth.conf") }
        do {
            _ = try ConfigParser.parse(text, path: "/etc/cognito-auth/cognito-auth.conf")
        } catch {
            #expect(!error.description.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }), "\(error.description)")
            #expect(error.description.hasSuffix(": unknown key"))
            #expect(error.description.contains("\\x0d"))
        }
    }

    @Test func configRefusalOfAnEscapeInAValueStaysOneLine() {
        let text = ConfigParserTests.minimal + "\nlogin_timeout = 1\u{1B}[2J\r5\n"
        do {
            _ = try ConfigParser.parse(text, path: "/etc/c.conf")
            Issue.record("a login_timeout with control bytes loaded")
        } catch {
            #expect(error.description == "/etc/c.conf:6: login_timeout: must be a whole number of seconds in 10...3600, got '1\\x1b[2J\\x0d5'")
        }
    }

    /// `relay-form`: a repeated field name is decoded text (`%0A`, or a raw newline) and went
    /// into the relay's one-line refusal log unchanged. The fuzzer's input: `\n&\n`.
    @Test func relayFormRepeatedNewlineFieldStaysOneLine() {
        #expect(RelayForm.fields("\n&\n") == .failure(RelayForm.Problem("field \\x0a repeated")))
        #expect(RelayForm.fields("a%0D%0Ab=1&a%0D%0Ab=2") == .failure(RelayForm.Problem("field a\\x0d\\x0ab repeated")))
        #expect(RelayForm.fields("name=1&name=2") == .failure(RelayForm.Problem("field name repeated")))
        #expect(RelayForm.query("\n&\n") == nil)
    }

    @Test func visibleLeavesOrdinaryTextAlone() {
        #expect(Syntax.visible("unknown key ünïcode\tx") == "unknown key ünïcode\\x09x")
        #expect(Syntax.visible("plain") == "plain")
        #expect(Syntax.visible("\u{7F}") == "\\x7f")
    }
}
