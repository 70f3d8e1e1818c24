import FoundationEssentials

/// Who may use this host (or one PAM service on it): rules on `cognito:groups`, on other claims,
/// and on how recent the sign-in was.
public struct Policy: Sendable, Equatable {
    public struct ClaimRule: Sendable, Equatable {
        public var claim: String
        public var value: String
        public init(claim: String, value: String) { self.claim = claim; self.value = value }
    }
    /// nil: any pool user (`allowed_groups = *`). Otherwise any-of, compared exactly (Cognito group names are case-sensitive).
    public var allowedGroups: [String]?
    /// none-of.
    public var deniedGroups: [String] = []
    /// 0: off. Otherwise now − auth_time must not exceed it.
    public var maxAuthAge: Int = 0
    public var requireClaims: [ClaimRule] = []

    public init(allowedGroups: [String]? = nil, deniedGroups: [String] = [], maxAuthAge: Int = 0, requireClaims: [ClaimRule] = []) {
        self.allowedGroups = allowedGroups; self.deniedGroups = deniedGroups
        self.maxAuthAge = maxAuthAge; self.requireClaims = requireClaims
    }

    /// Every rule's verdict, in order; the first failed one is the refusal.
    public func evaluate(claims: [String: JSONValue], now: Date) -> [CheckResult] {
        evaluate(claims: JSONObjectView(claims), now: now)
    }

    public func evaluate(claims: JSONObjectView, now: Date) -> [CheckResult] {
        let groups = claims["cognito:groups"]?.arrayValue?.compactMap(\.stringValue) ?? []
        var results: [CheckResult] = []
        let shown = groups.isEmpty ? "none" : groups.joined(separator: ",")

        let denied = groups.filter { deniedGroups.contains($0) }
        if denied.isEmpty {
            results.append(.pass("denied_groups", deniedGroups.isEmpty ? "no denied groups set" : "not in \(deniedGroups.joined(separator: ","))"))
        } else {
            results.append(.fail("denied_groups", Refusal(.groupDenied, "member of denied group \(denied.joined(separator: ","))")))
        }

        if let allowed = allowedGroups {
            if let hit = groups.first(where: { allowed.contains($0) }) {
                results.append(.pass("allowed_groups", "member of \(hit)"))
            } else {
                results.append(.fail("allowed_groups", Refusal(.groupNotAllowed, "groups [\(shown)] include none of \(allowed.joined(separator: ","))")))
            }
        } else {
            results.append(.pass("allowed_groups", "any pool user (allowed_groups = *)"))
        }

        for rule in requireClaims {
            let name = "require_claims \(rule.claim)"
            switch claims[rule.claim] {
            case .string(let s)? where s == rule.value:
                results.append(.pass(name, "= \(rule.value)"))
            case .array(let a)? where a.contains(.string(rule.value)):
                results.append(.pass(name, "contains \(rule.value)"))
            case .bool(let b)? where String(b) == rule.value:
                results.append(.pass(name, "= \(rule.value)"))
            case nil:
                results.append(.fail(name, Refusal(.claimMismatch, "claim \(rule.claim) is missing, \(rule.value) required")))
            default:
                results.append(.fail(name, Refusal(.claimMismatch, "claim \(rule.claim) is not \(rule.value)")))
            }
        }

        if maxAuthAge > 0 {
            if let authTime = claims["auth_time"]?.numberValue {
                let age = wholeSeconds(now.timeIntervalSince1970 - authTime)
                if age <= maxAuthAge {
                    results.append(.pass("max_auth_age", "signed in \(age) s ago"))
                } else {
                    results.append(.fail("max_auth_age", Refusal(.authTooOld, "signed in \(age) s ago, max_auth_age is \(maxAuthAge) s; sign in again")))
                }
            } else {
                results.append(.fail("max_auth_age", Refusal(.authTooOld, "token has no auth_time and max_auth_age is set")))
            }
        }
        return results
    }
}
