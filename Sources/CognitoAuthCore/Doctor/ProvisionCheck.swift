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
