import ArgumentParser
import CognitoAuthCore
import CognitoAuthRuntime
import CognitoAuthAdmin
import CognitoEmulator
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `cognito-auth emulator`: the embedded Cognito emulator as a process, for out-of-process tests
/// (the integration suite) and for trying a config by hand. Loopback only.
struct EmulatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Serve the embedded Cognito user-pool emulator on 127.0.0.1 (for tests and trials).")

    @Option(help: "Port on 127.0.0.1 (0: any free port).") var port: UInt16 = 0
    @Option(help: "User pool id.") var poolId: String = "us-east-1_Example"
    @Option(help: "App client id.") var clientId: String = "cognito-auth-client"
    @Option(help: "App client secret (omit for a public client).") var clientSecret: String?
    @Option(name: .customLong("redirect-uri"), help: "Registered callback URL (repeat for several).")
    var redirectURIs: [String] = ["http://localhost:8400/callback"]
    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("Serve HTTPS only, with this PEM certificate (chain) and PEM private key; the advertised URLs are then https://127.0.0.1:PORT/…, so the certificate must name IP address 127.0.0.1.",
                               valueName: "cert-pem> <key-pem"))
    var tls: [String] = []
    @Flag(help: "Act as a generic OIDC provider with RFC 8628 device authorization (Cognito has none): discovery lists device_authorization_endpoint, /device serves the user-code form.")
    var device = false

    func validate() throws {
        if !tls.isEmpty && tls.count != 2 { throw ValidationError("--tls takes two files: the certificate and the private key (PEM)") }
    }

    func run() throws {
        let emulator = CognitoEmulator(userPoolId: poolId,
                                       client: EmulatorClient(clientId: clientId, clientSecret: clientSecret, redirectURIs: redirectURIs))
        var identity: EmulatorTLS? = nil
        if tls.count == 2 {
            do { identity = try EmulatorTLS(certificateFile: tls[0], keyFile: tls[1]) } catch {
                printError("emulator: \(error)")
                throw ExitCode(2)
            }
        }
        emulator.deviceModeEnabled = device
        let bound = try emulator.start(port: port, tls: identity)
        let ready: JSONValue = .object([
            "port": .number(Double(bound)), "issuer": .string(emulator.issuer), "base_url": .string(emulator.baseURL),
            "discovery_url": .string(emulator.discoveryURL), "admin": .string(emulator.baseURL + "/_emulator/"),
        ])
        FileHandle.standardOutput.write(Data((ready.jsonText + "\n").utf8))
        while true { sleep(3600) }
    }
}

/// `cognito-auth demo`: a sample pool on the embedded emulator and a real sign-in against it,
/// through the same engine the PAM helper runs. `--flow device` makes the emulator a generic OIDC
/// provider with RFC 8628; `--flow relay` starts the real cognito-auth-relay process in front of
/// it (the CLI does not link the relay; DemoRelay finds and runs the program).
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a real sign-in against the embedded Cognito emulator with a sample pool.")

    @Flag(help: "Play the browser too (sign in as alice automatically).") var auto = false
    @Option(help: "Sign in as this sample user in --auto mode (alice@example.com or bob@example.com).")
    var user: String = "alice@example.com"
    @Option(help: ArgumentHelp("How the person signs in: code (the authorize link), device (a short code; the emulator plays an RFC 8628 IdP) or relay (a short code through cognito-auth-relay, which the demo starts).",
                               valueName: "code|device|relay"))
    var flow: String = "code"

    func validate() throws {
        guard ["code", "device", "relay"].contains(flow) else { throw ValidationError("--flow must be code, device or relay, got '\(flow)'") }
    }

    static let users = [
        EmulatorUser(email: "alice@example.com", password: "Alice-demo-pw1", groups: ["linux-admins"]),
        EmulatorUser(email: "bob@example.com", password: "Bob-demo-pw1", groups: ["staff"]),
    ]

    func run() throws {
        let redirectURIs = (8400...8403).map { "http://localhost:\($0)/callback" }
        // The relay's callback is registered in the app client, as README's relay install says.
        var relayPort: UInt16 = 0
        var relayProgram = ""
        if flow == "relay" {
            guard let program = DemoRelay.locate() else {
                printError("demo --flow relay: cognito-auth-relay not found next to this program, on PATH or in /usr/sbin (build it: swift build --product cognito-auth-relay)")
                throw ExitCode(2)
            }
            relayProgram = program
            do { relayPort = try DemoRelay.freePort() } catch {
                printError("demo: \(error)")
                throw ExitCode(2)
            }
        }
        let callbacks = redirectURIs + (flow == "relay" ? ["http://127.0.0.1:\(relayPort)/callback"] : [])
        let emulator = CognitoEmulator(client: EmulatorClient(clientId: "demo-client", clientSecret: "demo-secret",
                                                              redirectURIs: callbacks),
                                       users: Self.users)
        emulator.deviceModeEnabled = flow == "device"
        try emulator.start()
        defer { emulator.stop() }

        // The demo maps both sample people to the account running it, so the local-account check
        // is real; the group policy then admits alice and refuses bob.
        let me = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "root"
        let dir = try makePrivateDirectory()
        DemoChildren.removeOnSignal(dir)
        defer {
            _ = try? FileManager.default.removeItem(atPath: dir)
            DemoChildren.directoryRemoved()
        }
        try writePrivate("\(dir)/client-secret", "demo-secret\n")
        try writePrivate("\(dir)/accounts", Self.users.map { "\($0.email) \(me)" }.joined(separator: "\n") + "\n")
        var flowLines = flow == "device" ? "flow = device\n" : ""
        var relay: DemoRelay?
        defer { relay?.stop() }
        if flow == "relay" {
            let hostSecret = SignInSecrets().codeVerifier   // 256 random bits, base64url
            do {
                relay = try DemoRelay.start(program: relayProgram, directory: dir, port: relayPort, issuer: emulator.issuer,
                                            userPoolId: "us-east-1_Example", clientId: "demo-client", hostSecret: hostSecret,
                                            write: writePrivate)
            } catch {
                printError("demo: \(error)")
                throw ExitCode(3)
            }
            try writePrivate("\(dir)/relay-secret", hostSecret + "\n")
            flowLines = "flow = relay\nrelay_url = http://127.0.0.1:\(relayPort)\nrelay_secret_file = \(dir)/relay-secret\n"
        }
        let configPath = "\(dir)/cognito-auth.conf"
        try writePrivate(configPath, """
            # Written by `cognito-auth demo` for the embedded emulator.
            region = us-east-1
            user_pool_id = us-east-1_Example
            client_id = demo-client
            client_secret_file = \(dir)/client-secret
            issuer = \(emulator.issuer)
            redirect_uris = \(redirectURIs.joined(separator: ", "))
            account_map = file:\(dir)/accounts
            allowed_groups = linux-admins
            \(geteuid() == 0 ? "# the demo maps both people to root, who runs it\nallow_root = yes" : geteuid() < 1000 ? "min_uid = \(geteuid())" : "")
            login_timeout = 300
            cache_dir = \(dir)/cache
            state_dir = \(dir)/state
            \(flowLines)
            """)
        print("Embedded Cognito emulator on \(emulator.baseURL) (issuer \(emulator.issuer))")
        print("Sample pool: alice@example.com / Alice-demo-pw1 (group linux-admins), bob@example.com / Bob-demo-pw1 (group staff)")
        print("Policy: allowed_groups = linux-admins; both people map to the local account '\(me)'.")
        if let relay {
            print("cognito-auth-relay (pid \(relay.pid)) on \(relay.url), its config \(dir)/relay.conf, its log \(relay.logPath)")
        } else if flow == "device" {
            print("The emulator plays a generic OIDC provider with RFC 8628 device authorization (Cognito has none).")
        }
        print("Config used: \(configPath)\n")

        let loaded = try loadConfigOrExit(configPath, requiredOwner: geteuid())
        let conversation: Conversation
        if auto {
            guard let person = Self.users.first(where: { $0.email == user }) else {
                printError("unknown sample user \(user)")
                throw ExitCode(2)
            }
            conversation = BrowserConversation(email: person.email, password: person.password, flow: flow)
        } else {
            conversation = TerminalConversation()
        }
        // On a terminal the QR code of the device and relay flows is drawn (qr = auto).
        let tty = !auto && isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
            ? ttyname(STDIN_FILENO).map { String(cString: $0) } ?? "" : ""
        // What was printed goes out before the prompt, which is written unbuffered (also into a pipe).
        fflush(nil)
        let report = runInteractiveLogin(loaded: loaded, service: "sshd", expectedEmail: nil, conversation: conversation, tty: tty)
        printReport(report, json: false, configPath: configPath)
        let code = report.decision.outcome.exitCode
        if code != 0 { throw ExitCode(code) }
    }

    /// The helper refuses files below a group- or world-writable directory (such as /tmp), so the
    /// demo's files go where only their owner can write: /run for root, else the user's runtime
    /// directory or home.
    func makePrivateDirectory() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let base = geteuid() == 0 ? "/run" : env["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? env["HOME"] ?? "/run"
        var template = Array("\(base)/cognito-auth-demo-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw ExitCode(2) }
        return String(cString: p)
    }

    func writePrivate(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ExitCode(2) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ raw in raw.baseAddress.map { write(fd, $0, raw.count) } ?? -1 }) == bytes.count else { throw ExitCode(2) }
    }
}

/// The `--auto` browser: reads the sign-in URL from the prompt, fills the emulator's sign-in form
/// over HTTP, and follows the redirect to this host's loopback listener, as a browser would.
final class BrowserConversation: Conversation {
    let email: String
    let password: String
    let flow: String
    private var signedIn = false
    init(email: String, password: String, flow: String = "code") { self.email = email; self.password = password; self.flow = flow }

    func converse(_ messages: [ConversationMessage], serving: (any WaitService)?, deadline: Deadline) throws(ConversationFailure) -> ConversationReply {
        for m in messages { print(m.text) }
        if flow != "code" { return try deviceStyle(messages, deadline: deadline) }
        let listener = serving as? LoopbackListener
        guard let url = messages.flatMap({ $0.text.split(separator: "\n") })
            .map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { $0.hasPrefix("http") }) else {
            return .answers(messages.filter(\.isPrompt).map { _ in "" })
        }
        print("[browser] opening the sign-in page and signing in as \(email)")
        let outcome = BrowserOutcome()
        let (email, password) = (self.email, self.password)
        let browserDone = DispatchSemaphore(value: 0)
        let followRedirect = listener != nil
        Task.detached {
            do {
                let redirect = try await TestBrowser.signIn(authorizeURL: url, email: email, password: password)
                outcome.set(redirect: redirect)
                if followRedirect { _ = try await TestBrowser.follow(redirect) }
            } catch {
                outcome.set(error: "\(error)")
            }
            browserDone.signal()
        }
        if let listener {
            // Serve the loopback listener while the browser follows the redirect to it.
            while listener.result == nil, !deadline.passed, outcome.error == nil {
                _ = listener.pollServing([], until: Deadline.after(seconds: 0.2).earlier(deadline))
            }
            if listener.result != nil {
                print("[browser] redirected to this host's listener on port \(listener.redirectURI.port)")
                return .callbackArrived
            }
        }
        _ = browserDone.wait(timeout: .now() + .milliseconds(Int(deadline.remainingMilliseconds)))
        if let error = outcome.error { throw .failed("browser: \(error)") }
        print("[browser] pasting the redirect address")
        return .answers([outcome.redirect ?? ""])
    }
}

extension BrowserConversation {
    /// device / relay: open `verification_uri_complete` ("or go straight to …"), walk the pages
    /// (the emulator's /device, or the relay's code form, confirmation and Cognito's sign-in),
    /// then press Enter, as the person at the terminal does. A second prompt (Enter too early) is
    /// answered with Enter again, without signing in twice.
    func deviceStyle(_ messages: [ConversationMessage], deadline: Deadline) throws(ConversationFailure) -> ConversationReply {
        let enter = ConversationReply.answers(messages.filter(\.isPrompt).map { _ in "" })
        if signedIn { return enter }
        let marker = "or go straight to "
        guard let line = messages.flatMap({ $0.text.split(separator: "\n") }).first(where: { $0.contains(marker) }),
              let range = line.range(of: marker) else { return enter }
        let url = String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        print("[browser] opening \(url) and signing in as \(email)")
        let outcome = BrowserOutcome()
        let (email, password, relay) = (self.email, self.password, flow == "relay")
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                let page = relay ? try await TestBrowser.relaySignIn(verificationURIComplete: url, email: email, password: password)
                                 : try await TestBrowser.deviceSignIn(verificationURIComplete: url, email: email, password: password)
                outcome.set(redirect: page)
            } catch {
                outcome.set(error: "\(error)")
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + .milliseconds(Int(max(0, deadline.remainingMilliseconds)))) == .success else {
            throw .failed("browser: no answer before login_timeout")
        }
        if let error = outcome.error { throw .failed("browser: \(error)") }
        signedIn = true
        print(relay ? "[browser] the relay says: signed in, return to your terminal" : "[browser] the IdP says: signed in")
        print("[browser] pressing Enter")
        return enter
    }
}

private final class BrowserOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var _redirect: String?
    private var _error: String?
    var redirect: String? { lock.withLock { _redirect } }
    var error: String? { lock.withLock { _error } }
    func set(redirect: String) { lock.withLock { _redirect = redirect } }
    func set(error: String) { lock.withLock { _error = error } }
}
