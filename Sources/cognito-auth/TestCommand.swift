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
        let conversation: Conversation
        if json {
            conversation = TerminalConversation(output: STDERR_FILENO)
        } else if isatty(STDOUT_FILENO) == 1 {
            conversation = CountdownConversation(loginTimeout: loaded.config.loginTimeout)
        } else {
            conversation = TerminalConversation(output: STDOUT_FILENO)
        }
        var report = runInteractiveLogin(loaded: loaded, service: service, expectedEmail: email, conversation: conversation)
        if let first = report.steps.first, first.name == "config" { report.steps[0] = configStep }
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
        if case .file(let m) = config.accountMap { add(m) }
        return parts.joined(separator: ", ")
    }
}

func millisecondsSince(_ start: UInt64) -> Int { Int((Deadline.now() - start) / 1_000_000) }

func runInteractiveLogin(loaded: LoadedConfig, service: String, expectedEmail: String?, conversation: Conversation) -> LoginReport {
    let engine = LoginEngine(loaded: loaded)
    var report = engine.run(service: service, requestedUser: nil, rhost: "", expectedEmail: expectedEmail,
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

/// A terminal conversation with a countdown: above the prompt, a status line shows the seconds left
/// until login_timeout, redrawn in place once a second (save cursor, up one line, \r, text, erase to
/// end of line, restore cursor), so what the person types at the prompt is not disturbed. Used only
/// when stdout is a terminal and not in --json mode.
final class CountdownConversation: Conversation {
    let input: Int32 = STDIN_FILENO
    let output: Int32 = STDOUT_FILENO
    let loginTimeout: Int
    private var buffer: [UInt8] = []
    private var eof = false
    static let maxLine = RedirectParser.maxInputBytes + 1

    init(loginTimeout: Int) { self.loginTimeout = loginTimeout }

    deinit { wipe() }

    private func wipe() { for i in buffer.indices { buffer[i] = 0 }; buffer.removeAll() }

    private func write(_ s: String) {
        let bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return Glibc.write(output, base + off, raw.count - off)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            off += n
        }
    }

    static func status(_ deadline: Deadline) -> String {
        let left = (Int(deadline.remainingMilliseconds) + 999) / 1000
        return "  waiting for the sign-in: \(left) s left"
    }

    /// Rows between the status line and the cursor: the prompt may wrap on a narrow terminal.
    /// (Text the person has typed but not yet entered is not visible to us in canonical mode; a
    /// long paste that wraps can be overdrawn on screen until Enter, never in what is read.)
    private func rowsUp(_ prompt: String) -> Int {
        var ws = winsize()
        let cols = ioctl(output, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 ? Int(ws.ws_col) : 80
        let width = prompt.unicodeScalars.count
        return 1 + (width > 0 ? (width - 1) / cols : 0)
    }

    private func redraw(_ deadline: Deadline, prompt: String) {
        write("\u{1B}7\u{1B}[\(rowsUp(prompt))A\r" + Self.status(deadline) + "\u{1B}[K\u{1B}8")
    }

    /// A complete line from the buffer, or nil; an over-long line becomes an over-long answer that
    /// the redirect parser refuses with its own reason.
    private func takeLine() -> String? {
        if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            let line = nl < Self.maxLine ? String(decoding: buffer[..<nl], as: UTF8.self) : String(repeating: "x", count: Self.maxLine)
            for i in buffer.indices where i <= nl { buffer[i] = 0 }
            buffer.removeSubrange(...nl)
            return line
        }
        if buffer.count >= Self.maxLine {
            wipe()
            return String(repeating: "x", count: Self.maxLine)
        }
        return nil
    }

    func converse(_ messages: [ConversationMessage], listener: LoopbackListener?, deadline: Deadline) throws(ConversationFailure) -> ConversationReply {
        var answers: [String] = []
        for m in messages {
            guard m.isPrompt else { write(m.text + "\n"); continue }
            write(Self.status(deadline) + "\n" + m.text)
            while true {
                if let listener, listener.result != nil {
                    write("\n(the browser's redirect reached this host)\n")
                    return .callbackArrived
                }
                if let line = takeLine() { answers.append(line); break }
                if eof { throw .failed("end of input") }
                if deadline.passed { write("\n"); throw .timedOut }
                // Wake at the next whole second to redraw, or earlier for input or the browser.
                let untilTick = Int32(max(1, min(Int(deadline.remainingMilliseconds), 1000 - Int(Deadline.now() / 1_000_000 % 1000))))
                var fds = [pollfd(fd: input, events: Int16(POLLIN), revents: 0)]
                if let listener { fds.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)) }
                let rc = poll(&fds, nfds_t(fds.count), untilTick)
                if rc < 0 && errno != EINTR { throw .failed("poll: \(String(cString: strerror(errno)))") }
                if rc > 0 {
                    if fds.count > 1, fds[1].revents != 0, let listener { listener.handleReadable() }
                    if fds[0].revents != 0 {
                        var chunk = [UInt8](repeating: 0, count: 4096)
                        let n = chunk.withUnsafeMutableBytes { raw -> Int in
                            guard let base = raw.baseAddress else { return -1 }
                            return read(input, base, raw.count)
                        }
                        if n > 0 { buffer += chunk[0..<n] }
                        else if n == 0 { eof = true; if !buffer.isEmpty { buffer.append(UInt8(ascii: "\n")) } }
                        else if errno != EINTR && errno != EAGAIN { eof = true }
                        for i in chunk.indices { chunk[i] = 0 }
                    }
                }
                if buffer.firstIndex(of: UInt8(ascii: "\n")) == nil && !eof { redraw(deadline, prompt: m.text) }
            }
        }
        return .answers(answers)
    }
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
