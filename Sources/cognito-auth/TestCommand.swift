import ArgumentParser
import CognitoAuthCore
import CognitoAuthRuntime
import CognitoAuthAdmin
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
        let began = Deadline.now()
        let loaded: LoadedConfig
        do {
            loaded = try LoadedConfig.load(path: options.config)
        } catch {
            // Exit 2 naming file, line and key; in --json mode still one JSON document on stdout.
            let step = LoginStep(name: "config", passed: false, detail: error.description, milliseconds: millisecondsSince(began))
            let decision = Decision(outcome: .configError, reason: .configInvalid, detail: "config: \(error.description)")
            printOutcome(decision, steps: [step], notes: [], json: json)
            throw ExitCode(decision.outcome.exitCode)
        }
        let configStep = LoginStep(name: "config", passed: true, detail: describeFiles(loaded.config),
                                   milliseconds: millisecondsSince(began))
        // In --json mode stdout carries only the document: the link and the prompt go to stderr.
        // On a terminal the prompt gets a live countdown to login_timeout.
        let conversation = TerminalConversation(output: json ? STDERR_FILENO : STDOUT_FILENO,
                                                countdown: !json && isatty(STDOUT_FILENO) == 1)
        // The terminal this runs on stands for PAM_TTY, so `qr = auto` draws the device/relay
        // flow's QR code here as on a console login (never when stdin or the output is no terminal).
        let output = json ? STDERR_FILENO : STDOUT_FILENO
        let tty = isatty(STDIN_FILENO) == 1 && isatty(output) == 1 ? ttyname(STDIN_FILENO).map { String(cString: $0) } ?? "" : ""
        var report = runInteractiveLogin(loaded: loaded, service: service, expectedEmail: email, conversation: conversation, tty: tty)
        if let first = report.steps.first, first.name == "config" { report.steps[0] = configStep }
        // The safe-default rules, one step each, right after the config (a `!` rule is a warning).
        let rules = SafeDefaults.findings(loaded.config).map {
            LoginStep(name: "rule: \($0.check)", passed: $0.status != .fail,
                      detail: ($0.status == .warn ? "warning: " : "") + $0.message, milliseconds: 0)
        }
        report.steps.insert(contentsOf: rules, at: min(1, report.steps.count))
        printReport(report, json: json, configPath: options.config)
        let code = report.decision.outcome.exitCode
        if code != 0 { throw ExitCode(code) }
    }

    /// The config and the files it names, with owner and mode (the helper's rules already held:
    /// loading refuses anything else).
    func describeFiles(_ config: Config) -> String {
        var parts: [String] = []
        func add(_ path: String) {
            let (facts, _) = Doctor.facts(path)
            guard let f = facts else { return }
            parts.append("\(path) (uid \(f.uid), mode \(String(format: "%04o", f.mode)))")
        }
        add(config.path)
        if let s = config.clientSecretFile { add(s) }
        if case .relay(_, let s) = config.flow { add(s) }
        if case .file(let m) = config.accountMap { add(m) }
        return parts.joined(separator: ", ")
    }
}

func millisecondsSince(_ start: UInt64) -> Int { Int((Deadline.now() - start) / 1_000_000) }

func runInteractiveLogin(loaded: LoadedConfig, service: String, expectedEmail: String?, conversation: Conversation,
                         tty: String = "") -> LoginReport {
    let engine = LoginEngine(loaded: loaded)
    var report = engine.run(service: service, requestedUser: nil, rhost: "", tty: tty, expectedEmail: expectedEmail,
                            conversation: conversation,
                            deadline: Deadline.after(seconds: Double(loaded.config.loginTimeout)))
    report.steps.insert(LoginStep(name: "config", passed: true, detail: loaded.config.path, milliseconds: 0), at: 0)
    return report
}

func printReport(_ report: LoginReport, json: Bool, configPath: String) {
    printOutcome(report.decision, steps: report.steps, notes: report.notes, json: json)
}

/// The step list with ✓/✗ and each step's time, then the verdict; or, with `json`, one JSON document
/// with the same content (and nothing else on stdout).
func printOutcome(_ d: Decision, steps: [LoginStep], notes: [String], json: Bool) {
    if json {
        var doc: [String: JSONValue] = [
            "result": .string(d.outcome.rawValue),
            "reason": .string(d.reason.rawValue),
            "detail": .string(d.detail),
            "verdict": .string(d.outcome == .allowed ? "allowed" : "refused"),
            "exit_code": .number(Double(d.outcome.exitCode)),
            "steps": .array(steps.map {
                .object(["name": .string($0.name), "ok": .bool($0.passed), "detail": .string($0.detail), "ms": .number(Double($0.milliseconds))])
            }),
            "notes": .array(notes.map { .string($0) }),
        ]
        if let u = d.localUser { doc["local_user"] = .string(u) }
        if let e = d.email { doc["email"] = .string(e) }
        if let s = d.sub { doc["sub"] = .string(s) }
        if let g = d.groups { doc["groups"] = .array(g.map { .string($0) }) }
        print(JSONValue.object(doc).jsonText)
        return
    }
    print("")
    for step in steps {
        print("\(step.passed ? "✓" : "✗") \(step.name): \(step.detail) (\(step.milliseconds) ms)")
    }
    for note in notes { print("! \(note)") }
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
        let deadline = Deadline.after(seconds: Double(config.loginTimeout))
        var keys: JWKSet
        do { keys = try provider.keys(deadline: deadline) } catch {
            printError("✗ JWKS: \(error)")
            throw ExitCode(3)
        }
        let expect = TokenExpectations(issuer: config.issuer, clientId: config.clientId, nonce: nil, clockSkew: config.clockSkew,
                                       requireEmailVerified: config.requireEmailVerified, now: Date())
        var verdict = TokenVerifier.verify(input, keys: keys, expect: expect)
        if verdict.failure?.code == .unknownKid, let fresh = try? provider.keysAfterUnknownKid(verdict.failure?.detail ?? "", deadline: deadline) {
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
