import CognitoAuthCore
import CognitoAuthRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `cognito-auth doctor`'s I/O: gathers facts (file modes, the IdP's answers and `Date`, port binds,
/// `sshd -T`, pam.d files) and hands them to the pure checks in `CognitoAuthCore/Doctor`.
public enum Doctor {
    public struct Options: Sendable {
        public var configPath: String
        public var sshd: String
        /// `sshd -T -f PATH`; nil: sshd's own default.
        public var sshdConfig: String?
        /// Extra `-o KEY=VALUE` for `sshd -T` (e.g. `HostKey=…` on a machine without host keys).
        public var sshdOptions: [String]
        public var pamDir: String

        public init(configPath: String, sshd: String = "/usr/sbin/sshd", sshdConfig: String? = nil,
                    sshdOptions: [String] = [], pamDir: String = "/etc/pam.d") {
            self.configPath = configPath; self.sshd = sshd; self.sshdConfig = sshdConfig
            self.sshdOptions = sshdOptions; self.pamDir = pamDir
        }
    }

    /// Runs every check; `report` sees each finding as soon as it is known (the network checks take
    /// a moment). Returns them all.
    public static func run(_ options: Options, report: (DoctorFinding) -> Void = { _ in }) -> [DoctorFinding] {
        var options = options
        // pam_cognito.so wants an absolute config= path; compare and suggest in that form.
        if !options.configPath.hasPrefix("/") {
            options.configPath = FileManager.default.currentDirectoryPath + "/" + options.configPath
        }
        var all: [DoctorFinding] = []
        func emit(_ f: DoctorFinding) { all.append(f); report(f) }
        func emit(_ fs: [DoctorFinding]) { fs.forEach(emit) }

        let config = checkConfig(options.configPath, emit: emit)
        if let config {
            emit(checkProvider(config))
            // The loopback redirect ports matter to the code flow only.
            if config.flow == .code { emit(PortCheck.judge(config.redirectURIs.map { probePort($0) })) }
            if config.provision.enabled {
                emit(checkProvisioning(config))
                emit(checkAccountStack(options))
            }
        } else {
            emit(.warn(.idp, "identity provider", "not checked: the configuration did not load"))
        }
        let loginTimeout = config?.loginTimeout ?? 110
        emit(checkSshd(options, loginTimeout: loginTimeout, defaulted: config == nil, provisioning: config?.provision.enabled ?? false))
        for (service, required) in [("sshd", true), ("sudo", false)] {
            emit(checkPam(service: service, required: required, options: options))
        }
        return all
    }

    // MARK: - accounts on first sign-in (§12)

    static func checkProvisioning(_ config: Config) -> [DoctorFinding] {
        let store = AccountStore(stateDir: config.stateDir)
        var out = ProvisionCheck.nsswitch(try? String(contentsOfFile: "/etc/nsswitch.conf", encoding: .utf8))
        switch store.snapshot() {
        case .success(let snap): out.append(ProvisionCheck.store(store.directory, problem: nil, accounts: snap.passwd.count))
        case .failure(let why): out.append(ProvisionCheck.store(store.directory, problem: why.message, accounts: 0))
        }
        let passwd = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
        out += ProvisionCheck.uidRange(config.provision.uidRange, loginDefs: try? String(contentsOfFile: "/etc/login.defs", encoding: .utf8),
                                       hostPasswd: StoreText.hostIDs(passwd))
        return out
    }

    /// /etc/pam.d/sshd's account stack (includes followed) must run pam_cognito.so (§12).
    static func checkAccountStack(_ options: Options) -> DoctorFinding {
        let dir = options.pamDir.hasSuffix("/") ? String(options.pamDir.dropLast()) : options.pamDir
        let path = "\(dir)/sshd"
        guard let text = readSmall(path).text else { return .fail(.pam, "account pam_cognito.so", "\(path) cannot be read") }
        let stack = PamStack.build(type: "account", file: PamFile.parse(text, file: path)) { name in
            let p = name.hasPrefix("/") ? name : "\(dir)/\(name)"
            guard let t = readSmall(p).text else { return nil }
            return (p, t)
        }
        return ProvisionCheck.accountStack(stack, path: path)
    }

    // MARK: - configuration and its files

    /// The facts `lstat` gives, or nil (with errno's text) when the path cannot be examined.
    public static func facts(_ path: String) -> (FileFacts?, String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return (nil, String(cString: strerror(errno))) }
        let kind: FileFacts.Kind
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: kind = .other
        }
        return (FileFacts(kind: kind, uid: st.st_uid, mode: UInt32(st.st_mode & 0o7777)), "")
    }

    static func parentExists(_ path: String) -> Bool {
        let parent = (path as NSString).deletingLastPathComponent
        var st = stat()
        return stat(parent.isEmpty ? "/" : parent, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func judgeFile(_ path: String, _ role: FileRole, owner: UInt32 = 0) -> DoctorFinding {
        let (f, why) = facts(path)
        return FileCheck.judge(path, role: role, facts: f, missing: why.isEmpty ? "does not exist" : why,
                               parentExists: parentExists(path), owner: owner)
    }

    static func checkConfig(_ path: String, emit: (DoctorFinding) -> Void) -> Config? {
        let first = judgeFile(path, .config(inlineSecret: false))
        guard first.status != .fail else { emit(first); return nil }
        let config: Config
        do {
            let text = try ProtectedFile.read(path, kind: .config)
            config = try ConfigParser.parse(text, path: path)
        } catch {
            emit(first)
            emit(.fail(.config, "config", error.description, fix: configFix(error)))
            return nil
        }
        emit(judgeFile(path, .config(inlineSecret: config.clientSecret != nil)))
        emit(.pass(.config, "config", "valid: pool \(config.userPoolId), client \(config.clientId), issuer \(config.issuer), login_timeout \(config.loginTimeout) s"))
        SafeDefaults.findings(config).forEach(emit)

        var fileFailed = false
        func file(_ p: String, _ role: FileRole) {
            let f = judgeFile(p, role, owner: role == .cacheDir || role == .stateDir ? geteuid() : 0)
            if f.status == .fail { fileFailed = true }
            emit(f)
        }
        if let secret = config.clientSecretFile { file(secret, .clientSecret) }
        if case .relay(_, let relaySecret) = config.flow { file(relaySecret, .relaySecret) }
        if case .file(let map) = config.accountMap { file(map, .accountMap) }
        if let ca = config.caFile { file(ca, .caFile) }
        file(config.cacheDir, .cacheDir)
        file(config.stateDir, .stateDir)

        // What the helper itself does with all of it (secret on one line, account map syntax).
        if !fileFailed {
            do {
                _ = try LoadedConfig.load(path: path)
            } catch {
                emit(.fail(.config, "config files", error.description, fix: configFix(error)))
            }
        }
        return config
    }

    static func configFix(_ error: ConfigError) -> String? {
        if let line = error.line { return "edit \(error.file) line \(line)" + (error.key.map { " (\($0))" } ?? "") }
        if let key = error.key { return "set \(key) in \(error.file)" }
        return nil
    }

    // MARK: - identity provider and clock

    static func checkProvider(_ config: Config) -> [DoctorFinding] {
        var out: [DoctorFinding] = []
        // A private, empty cache so discovery and JWKS are really fetched (the helper's cache is
        // neither read nor written).
        var template = Array("/tmp/cognito-auth-doctor.XXXXXX".utf8CString)
        let tmp: String? = template.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }
        defer { if let tmp { try? FileManager.default.removeItem(atPath: tmp) } }
        var fresh = config
        fresh.cacheDir = tmp ?? "/nonexistent/cognito-auth-doctor"

        let http = HTTPClient(timeout: config.httpTimeout, caFile: config.caFile)
        let provider = OIDCProvider(config: fresh, http: http)
        // As long as a login would wait for the IdP.
        let deadline = Deadline.after(seconds: Double(config.loginTimeout))
        let reachFix = "check DNS, proxy, firewall and ca_file from this host: curl -sS \(config.discoveryURL)"
        do {
            let meta = try provider.metadata(deadline: deadline)
            out.append(.pass(.idp, "discovery", "\(config.discoveryURL): issuer \(meta.issuer), endpoints https (or loopback)"))
            switch config.flow {
            case .code: break
            case .device: out.append(FlowCheck.deviceEndpoint(meta.deviceAuthorizationEndpoint, discoveryURL: config.discoveryURL))
            case .relay(let url, _): out.append(checkRelay(url, http: http, deadline: deadline))
            }
        } catch {
            switch error {
            case .unreachable(let m), .timedOut(let m): out.append(.fail(.idp, "discovery", "unreachable: \(m)", fix: reachFix))
            case .invalid(let r): out.append(.fail(.idp, "discovery", r.description, fix: "check issuer / discovery_url in \(config.path)"))
            }
            return out
        }
        do {
            let keys = try provider.keys(deadline: deadline)
            let usable = keys.keys.values.filter { $0.publicKey != nil }.map(\.kid).sorted()
            let refused = keys.keys.values.filter { $0.publicKey == nil }.map { "\($0.kid): \($0.rejection ?? "unusable")" }.sorted()
            if usable.isEmpty {
                out.append(.fail(.idp, "JWKS", "no usable RS256 signing key (\(refused.joined(separator: "; ")))"))
            } else {
                out.append(.pass(.idp, "JWKS", "\(usable.count) usable RS256 key\(usable.count == 1 ? "" : "s") (kid \(usable.joined(separator: ", ")))"
                                 + (refused.isEmpty ? "" : "; ignored: \(refused.joined(separator: "; "))")))
            }
        } catch {
            switch error {
            case .unreachable(let m), .timedOut(let m): out.append(.fail(.idp, "JWKS", "unreachable: \(m)", fix: reachFix))
            case .invalid(let r): out.append(.fail(.idp, "JWKS", r.description))
            }
        }
        out.append(checkClock(config, http: http))
        return out
    }

    /// The relay's `/healthz`, over the helper's own HTTP client (so `ca_file` and the loopback-only
    /// `http://` rule apply as at a login).
    static func checkRelay(_ relayURL: String, http: HTTPClient, deadline: Deadline) -> DoctorFinding {
        let url = RelayRequests.endpoint(relayURL, "healthz")
        do {
            let response = try http.get(url, deadline: deadline)
            return FlowCheck.relayHealth(url, status: response.status, error: nil)
        } catch {
            return FlowCheck.relayHealth(url, status: nil, error: error.description)
        }
    }

    static func checkClock(_ config: Config, http: HTTPClient) -> DoctorFinding {
        let before = Date().timeIntervalSince1970
        let response: HTTPResponseData
        do { response = try http.get(config.discoveryURL, deadline: Deadline.after(seconds: Double(config.loginTimeout))) } catch {
            return .warn(.clock, "clock", "not compared: \(error.description)")
        }
        let after = Date().timeIntervalSince1970
        guard let header = response.header("Date") else {
            return .warn(.clock, "clock", "not compared: \(config.discoveryURL) sent no Date header")
        }
        guard let idp = HTTPDate.parse(header) else {
            return .warn(.clock, "clock", "not compared: cannot read the Date header '\(header)'")
        }
        // The server stamped its Date somewhere between our send and receive: compare with the middle.
        return ClockCheck.judge(offset: (before + after) / 2 - idp, clockSkew: config.clockSkew, source: "the IdP's Date header")
    }

    // MARK: - redirect ports

    /// Binds the port on 127.0.0.1 and [::1] with the helper's own listener code, and lets it go at once.
    public static func probePort(_ uri: RedirectURI) -> PortCheck.Probe {
        switch LoopbackListener.bind(port: uri.port) {
        case .success(let fds):
            fds.forEach { close($0) }
            return PortCheck.Probe(uri: uri.string, port: uri.port, error: nil)
        case .failure(let why):
            return PortCheck.Probe(uri: uri.string, port: uri.port, error: why.detail)
        }
    }

    // MARK: - sshd

    static func checkSshd(_ options: Options, loginTimeout: Int, defaulted: Bool, provisioning: Bool) -> [DoctorFinding] {
        var args = ["-T"]
        if let f = options.sshdConfig { args += ["-f", f] }
        for o in options.sshdOptions { args += ["-o", o] }
        let shown = ([options.sshd] + args).joined(separator: " ")
        guard access(options.sshd, X_OK) == 0 else {
            return [.warn(.sshd, "sshd", "\(options.sshd) is not an executable here; sshd settings not checked")]
        }
        guard let run = Subprocess.run([options.sshd] + args, timeout: 10) else {
            return [.fail(.sshd, "sshd", "could not run \(shown)")]
        }
        func message(_ text: String) -> String {
            text.split(whereSeparator: \.isNewline).prefix(3).joined(separator: " / ")
        }
        var output = run.stdout
        var refusal: String?
        if run.status != 0 {
            let why = message(run.stderr)
            // sshd -T refuses a config whose AuthenticationMethods needs a disabled method (e.g.
            // keyboard-interactive with KbdInteractiveAuthentication no). Read the rest of the
            // settings anyway, with that one overridden, so every finding is reported.
            if why.contains("AuthenticationMethods"),
               let again = Subprocess.run([options.sshd] + args + ["-o", "AuthenticationMethods=any"], timeout: 10),
               again.status == 0 {
                output = again.stdout
                refusal = why
            } else {
                var fix = "run `\(shown)` to see the problem"
                if why.contains("privilege separation directory") {
                    fix = "mkdir -m 0755 /run/sshd   (sshd's runtime directory; systemd makes it while sshd runs)"
                } else if why.contains("host key") || why.contains("hostkeys") {
                    fix = "ssh-keygen -A   (creates the missing host keys)"
                }
                return [.fail(.sshd, "sshd", "\(shown) failed (exit \(run.status)): \(why.isEmpty ? "no message" : why)", fix: fix)]
            }
        }
        let settings = SshdSettings.parse(output)
        guard !settings.isEmpty else { return [.fail(.sshd, "sshd", "\(shown) printed nothing")] }
        var out = SshdCheck.judge(settings, loginTimeout: loginTimeout, where: options.sshdConfig ?? "/etc/ssh/sshd_config",
                                  authMethodsRefusal: refusal, provisioning: provisioning)
        if defaulted {
            out = out.map { f in
                var f = f
                if f.check == "sshd LoginGraceTime" { f.message += " (login_timeout assumed 110: the config did not load)" }
                return f
            }
        }
        return out
    }

    // MARK: - PAM

    static func readSmall(_ path: String) -> (text: String?, error: String?) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return (nil, String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return (nil, "is not a regular file") }
        guard st.st_size <= 1_048_576 else { return (nil, "is larger than 1 MiB") }
        let data = FileHandle(fileDescriptor: fd, closeOnDealloc: false).readDataToEndOfFile()
        return (String(decoding: data, as: UTF8.self), nil)
    }

    static func checkPam(service: String, required: Bool, options: Options) -> [DoctorFinding] {
        let dir = options.pamDir.hasSuffix("/") ? String(options.pamDir.dropLast()) : options.pamDir
        let path = "\(dir)/\(service)"
        let (text, error) = readSmall(path)
        let target = PamStackCheck.Target(service: service, path: path, required: required, expectedConfig: options.configPath)
        return PamStackCheck.judge(target, text: text, readError: error) { name in
            let p = name.hasPrefix("/") ? name : "\(dir)/\(name)"
            guard let t = readSmall(p).text else { return nil }
            return (p, t)
        }
    }
}

/// Runs a program with no shell, capturing stdout and stderr, killed after `timeout` seconds.
enum Subprocess {
    struct Output { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ argv: [String], timeout: Double) -> Output? {
        guard let exe = argv.first else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = Array(argv.dropFirst())
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let errBox = DataBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.set(err.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        group.wait()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: errBox.get(), as: UTF8.self))
    }
}

private final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}
