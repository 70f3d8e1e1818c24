import ArgumentParser
import CognitoAuthCore
import CognitoAuthRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the whole sign-in as EMAIL would, in this terminal, and show every check.")

    @Argument(help: "The Cognito user's email address.")
    var email: String
    @OptionGroup var options: ConfigOption
    @Option(help: "The PAM service whose policy applies (a [service NAME] section).")
    var service: String = "sshd"
    @Flag(help: "Print one JSON document instead of the step list.")
    var json = false

    func run() throws {
        let loaded = try loadConfigOrExit(options.config)
        let report = runInteractiveLogin(loaded: loaded, service: service, expectedEmail: email,
                                         conversation: TerminalConversation(output: json ? STDERR_FILENO : STDOUT_FILENO))
        printReport(report, json: json, configPath: options.config)
        let code = report.decision.outcome.exitCode
        if code != 0 { throw ExitCode(code) }
    }
}

func runInteractiveLogin(loaded: LoadedConfig, service: String, expectedEmail: String?, conversation: Conversation) -> LoginReport {
    let engine = LoginEngine(loaded: loaded)
    var report = engine.run(service: service, requestedUser: nil, rhost: "", expectedEmail: expectedEmail,
                            conversation: conversation,
                            deadline: Deadline.after(seconds: Double(loaded.config.loginTimeout)))
    report.steps.insert(LoginStep(name: "config", passed: true, detail: loaded.config.path, milliseconds: 0), at: 0)
    return report
}

func printReport(_ report: LoginReport, json: Bool, configPath: String) {
    let d = report.decision
    if json {
        var doc: [String: JSONValue] = [
            "result": .string(d.outcome.rawValue),
            "reason": .string(d.reason.rawValue),
            "detail": .string(d.detail),
            "exit_code": .number(Double(d.outcome.exitCode)),
            "steps": .array(report.steps.map {
                .object(["name": .string($0.name), "ok": .bool($0.passed), "detail": .string($0.detail), "ms": .number(Double($0.milliseconds))])
            }),
        ]
        if let u = d.localUser { doc["local_user"] = .string(u) }
        if let e = d.email { doc["email"] = .string(e) }
        if let s = d.sub { doc["sub"] = .string(s) }
        if let g = d.groups { doc["groups"] = .array(g.map { .string($0) }) }
        print(JSONValue.object(doc).jsonText)
        return
    }
    print("")
    for step in report.steps {
        let time = step.milliseconds > 0 ? " (\(step.milliseconds) ms)" : ""
        print("\(step.passed ? "✓" : "✗") \(step.name): \(step.detail)\(time)")
    }
    for note in report.notes { print("! \(note)") }
    let verdict = d.outcome == .allowed ? "ALLOWED" : "REFUSED"
    print("\(d.outcome == .allowed ? "✓" : "✗") verdict: \(verdict) — \(d.outcome.rawValue) (\(d.reason.rawValue)): \(d.detail)")
}

struct VerifyTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-token",
        abstract: "Read an ID token (JWT) on stdin; print its claims and each check's verdict.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let loaded = try loadConfigOrExit(options.config)
        let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let config = loaded.config
        let http = HTTPClient(timeout: config.httpTimeout, caFile: config.caFile)
        let provider = OIDCProvider(config: config, http: http)
        var keys: JWKSet
        do { keys = try provider.keys() } catch {
            printError("✗ JWKS: \(error)")
            throw ExitCode(3)
        }
        let expect = TokenExpectations(issuer: config.issuer, clientId: config.clientId, nonce: nil, clockSkew: config.clockSkew,
                                       requireEmailVerified: config.requireEmailVerified, now: Date())
        var verdict = TokenVerifier.verify(input, keys: keys, expect: expect)
        if verdict.failure?.code == .unknownKid, let fresh = try? provider.keysAfterUnknownKid(verdict.failure?.detail ?? "") {
            keys = fresh
            verdict = TokenVerifier.verify(input, keys: keys, expect: expect)
        }
        if !verdict.unverifiedClaims.isEmpty {
            print("claims (\(verdict.failure == nil ? "verified" : "NOT verified")):")
            for key in verdict.unverifiedClaims.keys.sorted() {
                print("  \(key): \(verdict.unverifiedClaims[key]?.jsonText ?? "")")
            }
        }
        for c in verdict.checks { print("\(c.passed ? "✓" : "✗") \(c.name): \(c.detail)") }
        if let f = verdict.failure {
            print("✗ verdict: refused (\(f.code.rawValue))")
            throw ExitCode(1)
        }
        print("✓ verdict: valid (the nonce is not checked here: it belongs to a sign-in)")
    }
}
