import CognitoAuthCore
import FoundationEssentials

/// One step of a login as `cognito-auth test` shows it.
public struct LoginStep: Sendable {
    public var name: String
    public var passed: Bool
    public var detail: String
    public var milliseconds: Int
    public init(name: String, passed: Bool, detail: String, milliseconds: Int) {
        self.name = name; self.passed = passed; self.detail = detail; self.milliseconds = milliseconds
    }
}

public struct LoginReport: Sendable {
    public var decision: Decision
    public var steps: [LoginStep]
    public var notes: [String]
}

/// Runs one login from start to decision: local account, discovery, the sign-in method, token
/// verification (with one JWKS refetch for an unknown kid), mapping and policy.
public final class LoginEngine {
    let loaded: LoadedConfig
    let http: HTTPClient
    let provider: OIDCProvider
    let clock: () -> Date
    let account: (String) -> LocalAccountInfo?
    let pins: PinStore
    let store: AccountStore
    private var steps: [LoginStep] = []
    private var stepStart = Deadline.now()

    public init(loaded: LoadedConfig, clock: @escaping () -> Date = Date.init,
                account: @escaping (String) -> LocalAccountInfo? = LocalAccounts.lookup) {
        self.loaded = loaded
        self.http = HTTPClient(timeout: loaded.config.httpTimeout, caFile: loaded.config.caFile)
        self.provider = OIDCProvider(config: loaded.config, http: http)
        self.clock = clock
        self.pins = PinStore(stateDir: loaded.config.stateDir)
        let store = AccountStore(stateDir: loaded.config.stateDir)
        self.store = store
        // Provisioned accounts count as local accounts even where nsswitch.conf does not list cognito.
        self.account = loaded.config.provision.enabled
            ? { name in account(name) ?? store.lookup(name).map { LocalAccountInfo(uid: $0.uid) } } : account
    }

    /// With provision = on_first_login: the uid a name NSS does not know would get (§12).
    func provisional(_ name: String) -> LocalAccountInfo? {
        store.planned(name, settings: loaded.config.provision).map { LocalAccountInfo(uid: $0.uid) }
    }

    private func record(_ name: String, _ passed: Bool, _ detail: String) {
        let now = Deadline.now()
        steps.append(LoginStep(name: name, passed: passed, detail: detail, milliseconds: Int((now - stepStart) / 1_000_000)))
        stepStart = now
    }

    /// - Parameters:
    ///   - requestedUser: PAM_USER; nil for `cognito-auth test`.
    ///   - expectedEmail: for `cognito-auth test EMAIL`: the person who must sign in.
    ///   - recordPin: pin the account to this person on its first admitted sign-in (PAM logins; not
    ///     the diagnostic `test`).
    ///   - unknownUserAtOnce: the module's `ignore_unknown_user`: an account this host does not have
    ///     is not ours to decide, so answer at once and let the stack go on. Without it an unknown
    ///     account gets the same prompt and flow as any other and is refused at the end, so the
    ///     prompt does not tell a client which accounts exist.
    ///   - tty: PAM_TTY, for `qr = auto` (a QR code only on a local terminal).
    public func run(service: String, requestedUser: String?, rhost: String, tty: String = "", expectedEmail: String? = nil,
                    recordPin: Bool = false, unknownUserAtOnce: Bool = false,
                    conversation: Conversation, deadline: Deadline) -> LoginReport {
        let config = loaded.config
        stepStart = Deadline.now()
        func finish(_ d: Decision) -> LoginReport { LoginReport(decision: d, steps: steps, notes: provider.notes) }
        func fail(_ outcome: Outcome, _ r: Refusal, step: String) -> LoginReport {
            record(step, false, r.detail)
            return finish(Decision(outcome: outcome, reason: r.code, detail: "\(step): \(r.detail)", localUser: requestedUser))
        }

        if unknownUserAtOnce, let user = requestedUser, account(user) == nil, provisional(user) == nil {
            return fail(.unknownUser, Refusal(.noLocalAccount, "no local account \(user) (ignore_unknown_user)"), step: "local account")
        }

        let metadata: ProviderMetadata
        do {
            metadata = try provider.metadata(deadline: deadline)
            record("discovery", true, metadata.issuer)
        } catch {
            return fail(error.outcome, providerRefusal(error), step: "discovery")
        }

        let context = SignInContext(host: LocalAccounts.hostname(), user: requestedUser, rhost: rhost)
        let method: any SignInMethod
        switch config.flow {
        case .code:
            let prompt = config.policy(forService: service).maxAuthAge > 0 ? "login" : nil
            method = CodeFlow(config: config, clientSecret: loaded.clientSecret, metadata: metadata, http: http, prompt: prompt)
        case .device, .relay:
            switch DeviceSignIn.make(config: config, loaded: loaded, metadata: metadata, http: http,
                                     qr: config.qr.draws(tty: tty, rhost: rhost, localHost: context.host)) {
            case .failure(let f): return fail(f.outcome, f.refusal, step: "sign-in")
            case .success(let m): method = m
            }
        }
        let tokens: TokenSet
        switch method.signIn(context, conversation: conversation, deadline: deadline) {
        case .failure(let f): return fail(f.outcome, f.refusal, step: "sign-in")
        case .success(let t):
            tokens = t
            record("sign-in", true, Self.describe(method, flow: config.flow))
        }

        var keys: JWKSet
        do { keys = try provider.keys(deadline: deadline) } catch { return fail(error.outcome, providerRefusal(error), step: "JWKS") }
        let expect = TokenExpectations(issuer: config.issuer, clientId: config.clientId, nonce: method.expectedNonce,
                                       accessToken: tokens.accessToken, clockSkew: config.clockSkew,
                                       requireEmailVerified: config.requireEmailVerified, now: clock())
        var verdict = TokenVerifier.verify(tokens.idToken, keys: keys, expect: expect)
        if verdict.failure?.code == .unknownKid {
            // Keys rotate: fetch once more before calling the kid unknown.
            let kid = verdict.failure?.detail ?? ""
            do { keys = try provider.keysAfterUnknownKid(kid, deadline: deadline) } catch {
                return fail(error.outcome, providerRefusal(error), step: "JWKS")
            }
            verdict = TokenVerifier.verify(tokens.idToken, keys: keys, expect: expect)
        }
        record("JWKS", true, "\(keys.keys.count) keys")
        for check in verdict.checks { steps.append(LoginStep(name: "token: \(check.name)", passed: check.passed, detail: check.detail, milliseconds: 0)) }

        if let expectedEmail, verdict.failure == nil {
            let email = verdict.unverifiedClaims["email"]?.stringValue ?? ""
            let same = Syntax.asciiLowercased(email).utf8.elementsEqual(Syntax.asciiLowercased(expectedEmail).utf8)
            record("email is \(expectedEmail)", same, same ? email : "signed in as \(email.isEmpty ? "(no email)" : email)")
            if !same {
                var d = LoginDecider.decide(.init(verdict: verdict, config: config, service: service, requestedUser: nil,
                                                  mapFile: loaded.accountMap, account: account, now: clock())).0
                d.outcome = .denied; d.reason = .accountMismatch
                d.detail = "signed in as \(email), not \(expectedEmail)"
                return finish(d)
            }
        }

        let (decided, checks) = LoginDecider.decide(.init(verdict: verdict, config: config, service: service,
                                                           requestedUser: requestedUser, mapFile: loaded.accountMap,
                                                           account: account, pin: pins.lookup,
                                                           provisional: config.provision.enabled ? provisional : nil, now: clock()))
        for check in checks { steps.append(LoginStep(name: check.name, passed: check.passed, detail: check.detail, milliseconds: 0)) }
        var decision = decided
        var notes: [String] = []
        if recordPin, decision.outcome == .allowed, let account = decision.localUser, let sub = decision.sub,
           case .none = pins.lookup(account) {
            let pin = IdentityPin(issuer: config.issuer, sub: sub, email: decision.email ?? "", pinnedAt: clock().timeIntervalSince1970)
            switch pins.pin(account, pin) {
            case .recorded: notes.append("pinned: \(account) to sub \(sub)")
            case .alreadyPinned: notes.append("pinned: \(account) to sub \(sub) by a concurrent sign-in")
            case .notRecorded(let why): notes.append("pin_not_recorded: \(why)")
            case .refused(let r):
                // Another sign-in pinned the account to someone else between our lookup and now.
                decision.outcome = .denied; decision.reason = r.code; decision.detail = "sticky identity: \(r.detail)"
            }
        }
        if recordPin, config.provision.enabled, decision.outcome == .allowed, let account = decision.localUser {
            switch store.admit(account, create: decision.willProvision, cognitoGroups: decision.groups ?? [],
                               settings: config.provision, loginTimeout: config.loginTimeout, now: clock().timeIntervalSince1970) {
            case .success(.provisioned(let e)): notes.append("provisioned: \(e.name) uid \(e.uid) gid \(e.gid)")
            case .success(.refreshed(let groups)): notes.append("groups: \(account) in \(([config.provision.group] + groups).joined(separator: ","))")
            case .success(.notManaged): break
            case .failure(let r):
                decision.outcome = r.code == .accountLocked ? .policyDenied : .denied
                decision.reason = r.code; decision.detail = "provisioning: \(r.detail)"
            }
        }
        var report = finish(decision)
        report.notes += notes
        return report
    }

    /// The sign-in step as `cognito-auth test` shows it.
    static func describe(_ method: any SignInMethod, flow: Config.Flow) -> String {
        if let code = method as? CodeFlow {
            return code.listenerPort.map { "\(code.name), listener on port \($0)" } ?? "\(code.name), paste-back only"
        }
        let polls = (method as? DeviceSignIn)?.polls ?? 0
        return "flow=\(flow.name): \(method.name), \(polls) poll\(polls == 1 ? "" : "s")"
    }

    func providerRefusal(_ error: ProviderError) -> Refusal {
        switch error {
        case .unreachable(let m): return Refusal(.idpUnavailable, m)
        case .timedOut(let m): return Refusal(.timeout, "\(m) (login_timeout \(loaded.config.loginTimeout) s)")
        case .invalid(let r): return r
        }
    }
}
