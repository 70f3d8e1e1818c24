/// What a local account is, as far as the decision needs it.
public struct LocalAccountInfo: Sendable, Equatable {
    public var uid: UInt32
    public init(uid: UInt32) { self.uid = uid }
}

/// The rules an admin gets without asking: no system accounts, no root unless `allow_root`, a
/// domain list for `localpart`, and an explicit group list (or `*`). The parser enforces the last
/// two; these are the checks a login runs and the lines `doctor` and `test` show.
public enum SafeDefaults {
    /// uid 0 only with `allow_root = yes` (and then `min_uid` does not apply to it); any other uid
    /// at or above `min_uid`.
    public static func accountCheck(account: String, uid: UInt32, config: Config) -> CheckResult {
        let name = "min_uid / allow_root"
        if uid == 0 {
            return config.allowRoot
                ? .pass(name, "\(account) is uid 0, admitted because allow_root = yes")
                : .fail(name, Refusal(.systemAccount, "\(account) is uid 0 (root); set allow_root = yes to admit it"))
        }
        guard uid >= config.minUID else {
            return .fail(name, Refusal(.systemAccount,
                "\(account) is uid \(uid), a system account below min_uid \(config.minUID)"))
        }
        return .pass(name, "\(account) is uid \(uid) ≥ min_uid \(config.minUID)")
    }

    /// One finding per rule, for `doctor` and `test`.
    public static func findings(_ config: Config) -> [DoctorFinding] {
        var out: [DoctorFinding] = []
        out.append(.pass(.config, "min_uid", "accounts below uid \(config.minUID) are refused"))
        out.append(config.allowRoot
            ? .warn(.config, "allow_root", "root (uid 0) may sign in with Cognito",
                    fix: "remove 'allow_root = yes' unless root must be reachable this way")
            : .pass(.config, "allow_root", "root is refused (allow_root = no)"))
        switch config.accountMap {
        case .localpart:
            out.append(.pass(.config, "allowed_domains", "localpart maps only \(config.allowedDomains.joined(separator: ", "))"))
        case .exact:
            out.append(.pass(.config, "account_map", "exact: the \(config.usernameClaim) claim must be the login name"))
        case .file(let path):
            out.append(.pass(.config, "account_map", "only the people listed in \(path)"))
        }
        let open = ([("default", config.defaultPolicy)] + config.servicePolicies.sorted { $0.key < $1.key }.map { ("service \($0.key)", $0.value) })
            .filter { $0.1.allowedGroups == nil }
        if open.isEmpty {
            out.append(.pass(.config, "allowed_groups", "only members of \(config.defaultPolicy.allowedGroups?.joined(separator: ", ") ?? "")"
                             + (config.servicePolicies.isEmpty ? "" : " (per-service lists apply)")))
        } else {
            out.append(.warn(.config, "allowed_groups", "allowed_groups = * admits every user of the pool (\(open.map(\.0).joined(separator: ", ")))",
                             fix: "name the groups that may sign in, e.g. allowed_groups = linux-users, linux-admins"))
        }
        return out
    }
}
