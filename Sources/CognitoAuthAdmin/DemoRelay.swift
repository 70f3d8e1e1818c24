import CognitoAuthCore
import CognitoAuthRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `cognito-auth demo --flow relay`: the real `cognito-auth-relay` as a child process, on a free
/// loopback port, with its relay.conf and host secret in the demo's private (0700) directory. The
/// CLI never links the relay (ARCHITECTURE.md §8): it finds the program next to its own executable
/// (where `swift build` and the packages put both), then on PATH, then in /usr/sbin.
public final class DemoRelay {
    public let port: UInt16
    public let pid: pid_t
    public let logPath: String
    public var url: String { "http://127.0.0.1:\(port)" }
    private let process: Process

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    static let setpriv = "/usr/bin/setpriv"

    /// The relay program, or nil.
    public static func locate() -> String? {
        var candidates: [String] = []
        if let me = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((me as NSString).deletingLastPathComponent + "/cognito-auth-relay")
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where dir.hasPrefix("/") {
            candidates.append("\(dir)/cognito-auth-relay")
        }
        candidates.append("/usr/sbin/cognito-auth-relay")
        return candidates.first { path in
            var st = stat()
            return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
        }
    }

    /// A port on 127.0.0.1 that was free a moment ago (the emulator must know the relay's callback
    /// before the relay starts).
    public static func freePort() throws(Failure) -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard bound else { throw Failure(description: "no free loopback port: \(String(cString: strerror(errno)))") }
        return UInt16(bigEndian: addr.sin_port)
    }

    /// Writes relay.conf and the host secret into `directory` (owned by this user, 0700), starts the
    /// relay and waits for its `/healthz`. `hostSecret` is the one the demo's host config holds too.
    public static func start(program: String, directory: String, port: UInt16, issuer: String, userPoolId: String,
                             clientId: String, hostSecret: String, write: (String, String) throws -> Void) throws -> DemoRelay {
        let secretFile = "\(directory)/relay-host-secrets"
        let config = "\(directory)/relay.conf"
        try write(secretFile, hostSecret + "\n")
        try write(config, """
            # Written by `cognito-auth demo --flow relay` (cognito-auth-relay(8)).
            listen = 127.0.0.1:\(port)
            public_url = http://127.0.0.1:\(port)
            region = us-east-1
            user_pool_id = \(userPoolId)
            client_id = \(clientId)
            issuer = \(issuer)
            host_secret_file = \(secretFile)
            store = memory

            """)
        let logPath = "\(directory)/relay.log"
        guard FileManager.default.createFile(atPath: logPath, contents: nil, attributes: [.posixPermissions: 0o600]),
              let log = FileHandle(forWritingAtPath: logPath) else {
            throw Failure(description: "cannot create \(logPath)")
        }
        let process = Process()
        // Through util-linux's setpriv (Debian: essential), the relay gets SIGTERM when the demo
        // dies in any way, SIGKILL included (PR_SET_PDEATHSIG survives the exec; setpriv's pid is
        // the relay's). Without setpriv, the paths below and the signal handler still stop it.
        if access(setpriv, X_OK) == 0 {
            process.executableURL = URL(fileURLWithPath: setpriv)
            process.arguments = ["--pdeathsig", "TERM", "--", program, "--config", config]
        } else {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = ["--config", config]
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        do { try process.run() } catch { throw Failure(description: "cannot start \(program): \(error)") }
        let relay = DemoRelay(port: port, pid: process.processIdentifier, logPath: logPath, process: process)
        DemoChildren.watch(relay.pid)
        let http = HTTPClient(timeout: 2, caFile: nil)
        let ready = Deadline.after(seconds: 20)
        while !ready.passed {
            guard process.isRunning else {
                relay.stop()
                throw Failure(description: "cognito-auth-relay exited (status \(process.terminationStatus)): \(relay.logTail())")
            }
            if let r = try? http.get(relay.url + "/healthz", deadline: Deadline.after(seconds: 2)), r.status == 200 { return relay }
            usleep(50_000)
        }
        relay.stop()
        throw Failure(description: "cognito-auth-relay did not answer \(relay.url)/healthz within 20 s: \(relay.logTail())")
    }

    private init(port: UInt16, pid: pid_t, logPath: String, process: Process) {
        self.port = port; self.pid = pid; self.logPath = logPath; self.process = process
    }

    /// The last lines the relay wrote (its refusals, or why it would not start).
    public func logTail(lines: Int = 8) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// SIGTERM, then SIGKILL if it is still there after 5 s; reaped either way.
    public func stop() {
        if process.isRunning {
            process.terminate()
            let until = Deadline.after(seconds: 5)
            while process.isRunning, !until.passed { usleep(20_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        DemoChildren.forget(pid)
    }

    deinit { stop() }
}

/// What the demo leaves behind when it is told to stop (SIGTERM, SIGHUP, SIGINT) instead of
/// returning: its children are sent SIGTERM and its private directory is removed (`rm -rf`, run
/// with fork + execve), then the signal ends the demo as it would have. The handler uses only
/// async-signal-safe calls on values prepared beforehand (pids in fixed slots, rm's argv built when
/// the directory was made). (Ctrl-C reaches the relay anyway: it is in the terminal's process group.)
public enum DemoChildren {
    nonisolated(unsafe) static var slots: (pid_t, pid_t) = (0, 0)
    nonisolated(unsafe) static var removeArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
    nonisolated(unsafe) static var installed = false

    /// The directory to remove if a signal ends the demo.
    public static func removeOnSignal(_ directory: String) {
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 5)
        for (i, a) in ["/bin/rm", "-rf", "--", directory].enumerated() { argv[i] = strdup(a) }
        argv[4] = nil
        removeArgv = argv
        install()
    }

    static func watch(_ pid: pid_t) {
        if slots.0 == 0 { slots.0 = pid } else { slots.1 = pid }
        install()
    }

    static func forget(_ pid: pid_t) {
        if slots.0 == pid { slots.0 = 0 }
        if slots.1 == pid { slots.1 = 0 }
    }

    /// After the demo removed its directory itself.
    public static func directoryRemoved() {
        removeArgv = nil
    }

    /// An empty environment for the handler's rm, made before any handler is installed.
    nonisolated(unsafe) static let noEnvironment: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let envp = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 1)
        envp[0] = nil
        return envp
    }()

    static func install() {
        guard !installed else { return }
        installed = true
        // What the handler reads exists before it can run (Swift initialises globals lazily, and a
        // handler must not allocate). Its fork is the one call that is not async-signal-safe in a
        // threaded process; vfork is unavailable to Swift. Demo only: its secrets are throw-away.
        _ = slots
        _ = noEnvironment
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            signal(sig) { sig in
                if DemoChildren.slots.0 > 0 { kill(DemoChildren.slots.0, SIGTERM) }
                if DemoChildren.slots.1 > 0 { kill(DemoChildren.slots.1, SIGTERM) }
                if let argv = DemoChildren.removeArgv, let rm = argv[0] {
                    let child = fork()
                    if child == 0 {
                        execve(rm, argv, DemoChildren.noEnvironment)
                        _exit(127)
                    }
                    if child > 0 { var status: Int32 = 0; waitpid(child, &status, 0) }
                }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }
}
