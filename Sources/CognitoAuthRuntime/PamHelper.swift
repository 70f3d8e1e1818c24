import CHelperShims
import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `cognito-auth pam-helper`: the process pam_cognito.so starts for each login. It speaks
/// pam/PROTOCOL.md on fd 3, writes exactly one audit line, and always ends with a RESULT (or, if
/// the module is gone, just the audit line).
public enum PamHelper {
    public static let socketFD: Int32 = 3

    public static func run() -> Int32 {
        Syslog.open()
        // Before anything else: no core dump, no ptrace or /proc/PID/mem for the caller's uid, and
        // no life after the module's host (pam/PROTOCOL.md "The helper process").
        switch cognito_helper_lockdown(socketFD) {
        case Int32(COGNITO_LOCKDOWN_OK): break
        case let rc:
            let why = rc == Int32(COGNITO_LOCKDOWN_PARENT_GONE) ? "the module's process is gone" : "prctl failed: \(String(cString: strerror(errno)))"
            Syslog.log(.error, "event=login result=unavailable reason=protocol_error detail=\(AuditEventValue.escape("helper lockdown: \(why)"))")
            return 1
        }
        let began = Deadline.now()
        let channel = SocketConversation(fd: socketFD)
        let start: HelperStart
        do {
            let message = try channel.receive(deadline: Deadline.after(seconds: 10))
            switch HelperStart.from(message) {
            case .success(let s): start = s
            case .failure(let r): throw ConversationFailure.protocolViolation(r.detail)
            }
        } catch {
            Syslog.log(.error, "event=login result=unavailable reason=protocol_error detail=\(AuditEventValue.escape("no valid START from pam_cognito.so: \(error)"))")
            return 1
        }
        channel.debug = start.debug
        channel.trace("received START v=\(WireMessage.version) user=\(AuditEventValue.escape(start.user)) service=\(AuditEventValue.escape(start.service)) rhost=\(AuditEventValue.escape(start.rhost))")
        func hello(_ seconds: Int) -> Bool {
            channel.trace("sent HELLO timeout=\(seconds)")
            return channel.send(WireMessage("HELLO", [WireMessage.version, String(seconds)]))
        }

        func conclude(_ decision: Decision, format: Config.AuditFormat, extra: [(String, String)] = []) -> Int32 {
            // The audit line first: whatever happens to the conversation below, the decision is on record.
            let ms = Int((Deadline.now() - began) / 1_000_000)
            let event = AuditEvent(decision: decision, start: start, durationMs: ms, extra: extra)
            Syslog.log(decision.outcome == .allowed ? .notice : .warning, event.render(format))
            if decision.outcome != .allowed {
                // Best effort and short: after a timeout the module may still be inside the
                // application's conversation function and never read this.
                _ = try? channel.converse([.error(decision.userMessage)], serving: nil, deadline: Deadline.after(seconds: 2))
            }
            let result = WireMessage("RESULT", [decision.outcome.rawValue, decision.localUser ?? "", decision.reason.rawValue])
            channel.trace("sent RESULT outcome=\(decision.outcome.rawValue) user=\(AuditEventValue.escape(decision.localUser ?? "")) reason=\(decision.reason.rawValue)")
            _ = channel.send(result)
            close(socketFD)
            return 0
        }

        let loaded: LoadedConfig
        do {
            loaded = try LoadedConfig.load(path: start.configPath)
        } catch {
            // No login_timeout without a config: HELLO (always first) with a short one, so the person
            // still gets told.
            _ = hello(30)
            return conclude(Decision(outcome: .configError, reason: .configInvalid, detail: error.description), format: .kv)
        }
        let timeout = loaded.config.loginTimeout
        guard hello(timeout) else { return 1 }
        // A backstop: whatever happens, this process does not outlive the module's deadline.
        alarm(UInt32(timeout + 4))

        // libcurl loads on another thread while discovery comes from the cache and the prompt goes
        // out; the token exchange then finds it ready.
        HTTPClient.preload()
        let engine = LoginEngine(loaded: loaded)
        let report = engine.run(service: start.service, requestedUser: start.user, rhost: start.rhost, tty: start.tty,
                                recordPin: true, unknownUserAtOnce: start.ignoreUnknownUser, conversation: channel, deadline: Deadline.after(seconds: Double(timeout)))
        var decision = report.decision
        // Only an allowed decision for exactly PAM_USER goes back as allowed.
        if decision.outcome == .allowed && decision.localUser != start.user {
            decision.outcome = .denied; decision.reason = .accountMismatch
        }
        let extra = [("flow", loaded.config.flow.name)] + report.notes.map { ("note", $0) }
        return conclude(decision, format: loaded.config.auditFormat, extra: extra)
    }
}

/// Escaping of one audit value outside a full event.
public enum AuditEventValue {
    public static func escape(_ s: String) -> String { AuditEvent.kvValue(s) }
}
