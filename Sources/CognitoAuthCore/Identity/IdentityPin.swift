import FoundationEssentials

/// Sticky identity: the Cognito person (issuer + `sub`) first admitted to a local account. A later
/// sign-in that maps to the same account from another `sub` — a user deleted and re-created, an
/// email address handed to someone else — is refused until an admin runs `cognito-auth unpin USER`.
public struct IdentityPin: Sendable, Equatable {
    public var issuer: String
    public var sub: String
    public var email: String
    public var pinnedAt: Double

    public init(issuer: String, sub: String, email: String, pinnedAt: Double) {
        self.issuer = issuer; self.sub = sub; self.email = email; self.pinnedAt = pinnedAt
    }

    public var encoded: String {
        JSONValue.object(["issuer": .string(issuer), "sub": .string(sub), "email": .string(email),
                          "pinned_at": .number(pinnedAt)]).jsonText + "\n"
    }

    public static func decode<D: DataProtocol>(_ data: D) -> IdentityPin? {
        guard let o = JSONValue.parseObject(data), let issuer = o["issuer"]?.stringValue, let sub = o["sub"]?.stringValue,
              !sub.isEmpty, let email = o["email"]?.stringValue, let at = o["pinned_at"]?.numberValue else { return nil }
        return IdentityPin(issuer: issuer, sub: sub, email: email, pinnedAt: at)
    }

    /// What is known about a local account's pin.
    public enum Lookup: Sendable, Equatable {
        case none
        case pinned(IdentityPin)
        /// The pin file exists but cannot be trusted (bad owner/mode, corrupt): fail closed.
        case unreadable(String)
    }

    public static func check(_ lookup: Lookup, account: String, issuer: String, sub: String?) -> CheckResult {
        switch lookup {
        case .none:
            return .pass("sticky identity", "first sign-in to \(account): will be pinned to this person")
        case .unreadable(let why):
            return .fail("sticky identity", Refusal(.pinUnreadable, "pin of \(account) cannot be trusted (\(why)); fix it or run: cognito-auth unpin \(account)"))
        case .pinned(let pin):
            guard let sub, !sub.isEmpty else {
                return .fail("sticky identity", Refusal(.identityChanged, "token has no sub; \(account) is pinned to sub \(pin.sub)"))
            }
            if pin.issuer == issuer && pin.sub == sub {
                return .pass("sticky identity", "same person as first admitted (sub \(sub))")
            }
            let since = Date(timeIntervalSince1970: pin.pinnedAt).formatted(.iso8601)
            return .fail("sticky identity", Refusal(.identityChanged,
                "\(account) is pinned to Cognito sub \(pin.sub) (\(pin.email), since \(since)) but this sign-in is sub \(sub); "
                + "if the person was re-created in the pool, run: cognito-auth unpin \(account)"))
        }
    }
}
