/// One result of `cognito-auth doctor`: what was checked, how it went, and — when it did not pass —
/// the exact line or command that fixes it. Pure values: the checks that produce them take facts
/// (file modes, `sshd -T` output, pam.d text, an HTTP `Date`) and never touch the system themselves.
public struct DoctorFinding: Sendable, Equatable, CustomStringConvertible {
    public enum Status: String, Sendable, Equatable, Comparable {
        case pass, warn, fail
        /// ✓ all good, ! works but deserves a look, ✗ logins will fail or are not protected.
        public var symbol: String {
            switch self {
            case .pass: return "✓"
            case .warn: return "!"
            case .fail: return "✗"
            }
        }
        private var rank: Int { self == .pass ? 0 : self == .warn ? 1 : 2 }
        public static func < (a: Status, b: Status) -> Bool { a.rank < b.rank }
    }

    /// Which part of the setup a finding is about; decides the exit code when it fails.
    public enum Area: String, Sendable, Equatable {
        case config, idp, clock, ports, sshd, pam
    }

    public var status: Status
    public var area: Area
    /// Short name of the check, e.g. `sshd KbdInteractiveAuthentication` or `/etc/pam.d/sshd`.
    public var check: String
    public var message: String
    /// The line to add or change, or the command to run. Nil when there is nothing to do.
    public var fix: String?

    public init(_ status: Status, _ area: Area, _ check: String, _ message: String, fix: String? = nil) {
        self.status = status; self.area = area; self.check = check; self.message = message; self.fix = fix
    }

    public static func pass(_ area: Area, _ check: String, _ message: String) -> DoctorFinding {
        DoctorFinding(.pass, area, check, message)
    }
    public static func warn(_ area: Area, _ check: String, _ message: String, fix: String? = nil) -> DoctorFinding {
        DoctorFinding(.warn, area, check, message, fix: fix)
    }
    public static func fail(_ area: Area, _ check: String, _ message: String, fix: String? = nil) -> DoctorFinding {
        DoctorFinding(.fail, area, check, message, fix: fix)
    }

    public var description: String {
        var s = "\(status.symbol) \(check): \(message)"
        if let fix {
            for (i, line) in fix.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                s += (i == 0 ? "\n    fix: " : "\n         ") + line
            }
        }
        return s
    }
}

public enum DoctorVerdict {
    /// ARCHITECTURE.md §5: 0 when every check passed (warnings allowed); 2 when the configuration or one of
    /// its files is wrong; 3 when the identity provider could not be reached or answered nonsense;
    /// 1 for any other failed check (sshd, PAM stack, clock, ports).
    public static func exitCode(_ findings: [DoctorFinding]) -> Int32 {
        let failed = findings.filter { $0.status == .fail }
        if failed.isEmpty { return 0 }
        if failed.contains(where: { $0.area == .config }) { return 2 }
        if failed.contains(where: { $0.area == .idp }) { return 3 }
        return 1
    }

    public static func summary(_ findings: [DoctorFinding]) -> String {
        let f = findings.filter { $0.status == .fail }.count
        let w = findings.filter { $0.status == .warn }.count
        let p = findings.filter { $0.status == .pass }.count
        if f == 0 {
            return w == 0 ? "all \(p) checks passed" : "\(p) passed, \(w) warning\(w == 1 ? "" : "s") (no failures)"
        }
        return "\(f) failed, \(w) warning\(w == 1 ? "" : "s"), \(p) passed"
    }
}
