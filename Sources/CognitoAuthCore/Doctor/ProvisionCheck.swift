import FoundationEssentials

/// `doctor`'s checks of accounts on first sign-in (ARCHITECTURE.md §12): pure, facts in, findings out.
public enum ProvisionCheck {
    /// `passwd:` and `group:` of nsswitch.conf must list `cognito`, or sshd never sees the accounts.
    public static func nsswitch(_ text: String?, path: String = "/etc/nsswitch.conf") -> [DoctorFinding] {
        guard let text else { return [.fail(.config, "nsswitch.conf", "\(path) cannot be read")] }
        return ["passwd", "group"].map { db in
            let line = text.split(separator: "\n").map { $0.trimmed() }.first { $0.hasPrefix(db + ":") }
            let sources = line.map { $0.dropFirst(db.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) } ?? []
            return sources.contains("cognito")
                ? .pass(.config, "nsswitch \(db)", "\(db): \(sources.joined(separator: " "))")
                : .fail(.config, "nsswitch \(db)", "\(path) does not list cognito for \(db): provisioned accounts are invisible to sshd",
                        fix: "\(db): files cognito    (in \(path))")
        }
    }

    /// With provisioning the service's account stack must run pam_cognito.so whatever came before:
    /// sshd's publickey (GSSAPI, hostbased) logins run no PAM auth but hold the NSS module's
    /// provisional entry, and only pam_cognito's acct_mgmt refuses it. PAM_PERM_DENIED must fail
    /// the stack (required, requisite, or a bracket whose perm_denied/default is bad or die).
    public static func accountStack(_ stack: PamStack, path: String) -> DoctorFinding {
        func flatten(_ es: [PamStackEntry]) -> [PamStackEntry] { es.flatMap { [$0] + flatten($0.substack ?? []) } }
        let lines = flatten(stack.entries).filter { $0.line.moduleName == "pam_cognito.so" }
        let fix = "account required pam_cognito.so    (in \(path), before @include common-account)"
        guard let first = lines.first else {
            return .fail(.pam, "account pam_cognito.so", "\(path) has no account line for pam_cognito.so: with provision = on_first_login a publickey login of a never-seen name would get a session under a uid never stored",
                         fix: fix)
        }
        let refuses = lines.contains { e in
            [PamAction.bad, .die].contains(e.line.control.action(for: "perm_denied"))
        }
        return refuses
            ? .pass(.pam, "account pam_cognito.so", first.whereShown + ": " + first.line.text)
            : .fail(.pam, "account pam_cognito.so", "\(first.whereShown): '\(first.line.text)' does not fail the stack on PAM_PERM_DENIED, so a provisional-only entry is not refused",
                    fix: fix)
    }

    /// The store as the helper and the NSS module read it: nil problem, or why it serves nothing.
    public static func store(_ directory: String, problem: String?, accounts: Int) -> DoctorFinding {
        if let problem {
            return .fail(.config, "account store", "\(problem); the NSS module answers nothing from it and sign-ins fail",
                         fix: "the store must be root-owned, mode 0644 and not edited by hand (cognito-auth users remove NAME)")
        }
        return .pass(.config, "account store", "\(directory): \(accounts) provisioned account\(accounts == 1 ? "" : "s")")
    }

    /// The range must not be useradd's (UID_MIN…UID_MAX of login.defs) and should hold no host account.
    public static func uidRange(_ range: ClosedRange<UInt32>, loginDefs: String?, hostPasswd: [(name: String, id: UInt32)]) -> [DoctorFinding] {
        var uidMin: UInt32 = 1000, uidMax: UInt32 = 60000
        for line in (loginDefs ?? "").split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2, let v = UInt32(f[1]) else { continue }
            if f[0] == "UID_MIN" { uidMin = v }
            if f[0] == "UID_MAX" { uidMax = v }
        }
        let text = "provision_uid_range \(range.lowerBound)-\(range.upperBound)"
        var out: [DoctorFinding] = []
        if range.overlaps(uidMin...max(uidMin, uidMax)) {
            out.append(.warn(.config, "provision_uid_range", "\(text) overlaps useradd's UID_MIN-UID_MAX \(uidMin)-\(uidMax) (/etc/login.defs)",
                             fix: "choose a range above UID_MAX, e.g. provision_uid_range = 200000-299999"))
        } else {
            out.append(.pass(.config, "provision_uid_range", "\(text) is outside useradd's \(uidMin)-\(uidMax)"))
        }
        let inside = hostPasswd.filter { range.contains($0.id) }
        if !inside.isEmpty {
            out.append(.warn(.config, "provision_uid_range", "host accounts inside the range (skipped, but the range is shared): "
                             + inside.prefix(5).map { "\($0.name) (\($0.id))" }.joined(separator: ", ")))
        }
        return out
    }
}
