import FoundationEssentials

/// From a verified (or refused) ID token to a decision: identity claim → local account → same as
/// the account asked for → policy. Pure: account lookups come in as a function.
public enum LoginDecider {
    public struct Input {
        public var verdict: TokenVerdict
        public var config: Config
        public var service: String
        /// The account PAM asked for; nil for `cognito-auth test`, which reports where the person maps.
        public var requestedUser: String?
        public var mapFile: AccountMapFile?
        /// The local account of that name through NSS, or nil when there is none.
        public var account: (String) -> LocalAccountInfo?
        /// The sticky-identity pin of a local account.
        public var pin: (String) -> IdentityPin.Lookup
        /// With `provision = on_first_login`: the entry a name NSS does not know would get. Such a
        /// name counts as an account only through this, and is written only if the sign-in is allowed.
        public var provisional: ((String) -> LocalAccountInfo?)?
        public var now: Date

        public init(verdict: TokenVerdict, config: Config, service: String, requestedUser: String?,
                    mapFile: AccountMapFile?, account: @escaping (String) -> LocalAccountInfo?,
                    pin: @escaping (String) -> IdentityPin.Lookup = { _ in .none },
                    provisional: ((String) -> LocalAccountInfo?)? = nil, now: Date) {
            self.verdict = verdict; self.config = config; self.service = service; self.requestedUser = requestedUser
            self.mapFile = mapFile; self.account = account; self.pin = pin; self.provisional = provisional; self.now = now
        }
    }

    public static func decide(_ input: Input) -> (Decision, [CheckResult]) {
        let claims = input.verdict.unverifiedClaims
        var decision = Decision(outcome: .denied, reason: .internalError, detail: "",
                                localUser: nil, email: claims["email"]?.stringValue, sub: claims["sub"]?.stringValue,
                                groups: claims["cognito:groups"]?.arrayValue?.compactMap(\.stringValue),
                                jti: claims["jti"]?.stringValue)
        var checks: [CheckResult] = []

        if let failed = input.verdict.failure {
            decision.reason = failed.code
            decision.detail = "\(failed.name): \(failed.detail)"
            return (decision, checks)
        }

        let claimName = input.config.usernameClaim
        guard let identity = claims[claimName]?.stringValue, !identity.isEmpty else {
            let r = Refusal(.missingClaim, "token has no string claim \(claimName) (username_claim)")
            checks.append(.fail("identity", r))
            decision.reason = r.code; decision.detail = r.detail
            return (decision, checks)
        }
        switch AccountMapping.map(identity: identity, mode: input.config.accountMap,
                                  allowedDomains: input.config.allowedDomains, mapFile: input.mapFile) {
        case .failure(let r):
            checks.append(.fail("account mapping", r))
            decision.reason = r.code; decision.detail = r.detail
            return (decision, checks)
        case .success(let local):
            decision.localUser = local
            checks.append(.pass("account mapping", "\(identity) → \(local)"))
        }
        let local = decision.localUser ?? ""
        if let wanted = input.requestedUser {
            guard local == wanted else {
                let r = Refusal(.accountMismatch, "\(identity) maps to \(local), not to the requested account \(wanted)")
                checks.append(.fail("requested account", r))
                decision.reason = r.code; decision.detail = r.detail
                return (decision, checks)
            }
            checks.append(.pass("requested account", "is \(wanted)"))
        }
        let info: LocalAccountInfo
        if let existing = input.account(local) {
            info = existing
            checks.append(.pass("local account", "\(local) exists"))
        } else if let planned = input.provisional?(local) {
            info = planned
            decision.willProvision = true
            checks.append(.pass("local account", "\(local) will be provisioned as uid \(planned.uid) (provision = on_first_login)"))
        } else {
            let r = Refusal(.noLocalAccount, "local account \(local) does not exist")
            checks.append(.fail("local account", r))
            decision.outcome = .unknownUser; decision.reason = r.code; decision.detail = r.detail
            return (decision, checks)
        }
        let uidCheck = SafeDefaults.accountCheck(account: local, uid: info.uid, config: input.config)
        checks.append(uidCheck)
        if !uidCheck.passed {
            decision.outcome = .policyDenied; decision.reason = uidCheck.code; decision.detail = uidCheck.detail
            return (decision, checks)
        }

        let pinCheck = IdentityPin.check(input.pin(local), account: local, issuer: input.config.issuer, sub: decision.sub)
        checks.append(pinCheck)
        if !pinCheck.passed {
            decision.reason = pinCheck.code
            decision.detail = pinCheck.detail
            return (decision, checks)
        }

        let policyChecks = input.config.policy(forService: input.service).evaluate(claims: claims, now: input.now)
        checks += policyChecks
        if let failed = policyChecks.first(where: { !$0.passed }) {
            decision.outcome = .policyDenied; decision.reason = failed.code
            decision.detail = "\(failed.name) (service \(input.service)): \(failed.detail)"
            return (decision, checks)
        }
        decision.outcome = .allowed
        decision.reason = .ok
        decision.detail = "\(identity) signed in as \(local)"
        return (decision, checks)
    }
}
