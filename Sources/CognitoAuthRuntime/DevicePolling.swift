import CognitoAuthCore
import FoundationEssentials

/// Where a device-style sign-in gets its code and its answer: the IdP's RFC 8628 endpoints
/// (`flow = device`, `IdPDeviceBackend`) or cognito-auth-relay (`flow = relay`, `RelayBackend`).
protocol DeviceBackend: AnyObject {
    var name: String { get }
    var expectedNonce: String? { get }
    /// The device authorization request.
    func authorize(_ context: SignInContext, deadline: Deadline) -> Result<DeviceAuthorization, FlowFailure>
    /// One poll for `deviceCode`.
    func poll(_ deviceCode: String, deadline: Deadline) -> Result<DevicePollAnswer, FlowFailure>
    /// A poll's 200 body → tokens (the IdP's tokens, or the relay's code redeemed here).
    func complete(_ body: Data, deadline: Deadline) -> Result<TokenSet, FlowFailure>
    /// How much of an interval must separate a poll asked for by Enter from the last one.
    var enterPollFraction: Double { get }
}

extension DeviceBackend {
    var enterPollFraction: Double { 1 }
}

/// The one polling client of `flow = device` and `flow = relay` (RFC 8628 §3.5). Served by the
/// conversation while the prompt is shown (`WaitService`), so a sign-in finished in the browser is
/// already known when the person presses Enter. The schedule (`DevicePollSchedule`) is pure; this
/// class only keeps time and does the HTTP.
final class DevicePoller: WaitService {
    let backend: DeviceBackend
    let deviceCode: String
    let loginDeadline: Deadline
    let loginTimeout: Int
    private var schedule: DevicePollSchedule
    private let started = Deadline.now()
    /// Set once the polling is over: the tokens, or why there are none.
    private(set) var outcome: Result<TokenSet, FlowFailure>?

    var finished: Bool { outcome != nil }
    var polls: Int { schedule.polls }

    init(backend: DeviceBackend, authorization: DeviceAuthorization, loginDeadline: Deadline, loginTimeout: Int) {
        self.backend = backend
        self.deviceCode = authorization.deviceCode
        self.loginDeadline = loginDeadline
        self.loginTimeout = loginTimeout
        self.schedule = DevicePollSchedule(interval: authorization.interval, expiresIn: authorization.expiresIn)
    }

    private func seconds() -> Double { Double(Deadline.now() - started) / 1e9 }
    private var nextPollDeadline: Deadline { Deadline(at: started + UInt64(max(0, schedule.nextPoll) * 1e9)) }

    func pollServing(_ others: [Int32], until deadline: Deadline) -> [Int32] {
        if outcome == nil, seconds() >= schedule.nextPoll { pollOnce() }
        let wake = outcome == nil ? deadline.earlier(nextPollDeadline) : deadline
        return pollReadable(others, until: wake)
    }

    /// After Enter: the sign-in may have finished since the last poll, so poll once more as soon
    /// as the schedule and the backend allow (at most one interval), unless that is past `deadline`.
    func pollWhenDue(upTo deadline: Deadline) {
        guard outcome == nil else { return }
        let due = Deadline(at: started + UInt64(max(0, schedule.enterPollAt(fraction: backend.enterPollFraction)) * 1e9))
        guard due.at <= deadline.at else { return }
        _ = pollReadable([], until: due)
        pollOnce()
    }

    private func pollOnce() {
        guard !loginDeadline.passed else { return }
        schedule.polled(at: seconds())
        let answer: DevicePollAnswer
        switch backend.poll(deviceCode, deadline: loginDeadline) {
        case .failure(let f): outcome = .failure(f); return
        case .success(let a): answer = a
        }
        switch schedule.next(after: answer, at: seconds()) {
        case .pollAt:
            break
        case .granted:
            guard case .granted(let body) = answer else { return }
            outcome = backend.complete(body, deadline: loginDeadline)
        case .denied:
            outcome = .failure(FlowFailure(.denied, Refusal(.accessDenied, "\(backend.name) answered access_denied: the sign-in was refused")))
        case .expired:
            let why = answer == .expired ? "answered expired_token" : "device code expired (expires_in) before the sign-in"
            outcome = .failure(FlowFailure(.timeout, Refusal(.timeout, "\(backend.name) \(why)")))
        case .failed(let why):
            outcome = .failure(FlowFailure(.unavailable, Refusal(.deviceAuthorizationFailed, "\(backend.name) poll: \(why)")))
        }
    }
}

/// `flow = device | relay` as a `SignInMethod`: one prompt with the short URL and the code (and a
/// QR code on local terminals), the poller served while it is shown, Enter to finish, a second
/// prompt repeating the code if Enter came too early.
public final class DeviceSignIn: SignInMethod {
    let backend: DeviceBackend
    let config: Config
    let qr: Bool
    public private(set) var polls = 0

    public var name: String { backend.name }
    public var expectedNonce: String? { backend.expectedNonce }

    init(backend: DeviceBackend, config: Config, qr: Bool) {
        self.backend = backend; self.config = config; self.qr = qr
    }

    public func signIn(_ context: SignInContext, conversation: Conversation, deadline: Deadline) -> Result<TokenSet, FlowFailure> {
        let authorization: DeviceAuthorization
        switch backend.authorize(context, deadline: deadline) {
        case .failure(let f): return .failure(f)
        case .success(let a): authorization = a
        }
        let poller = DevicePoller(backend: backend, authorization: authorization, loginDeadline: deadline,
                                  loginTimeout: config.loginTimeout)
        defer { polls = poller.polls }
        var text = DevicePrompt.instructions(host: context.host, user: context.user, rhost: context.rhost, authorization: authorization)
        if qr {
            switch QRCode.text(authorization.verificationURIComplete ?? authorization.verificationURI) {
            case .success(let picture): text += "\n" + picture
            case .failure(let f): Syslog.log(.warning, "no QR code drawn: \(f.reason)")
            }
        }
        var messages: [ConversationMessage] = [.info(text), .promptEchoOn(DevicePrompt.prompt)]
        let timedOut = FlowFailure(.timeout, Refusal(.timeout, "no sign-in within login_timeout (\(config.loginTimeout) s)"))
        while true {
            do {
                _ = try conversation.converse(messages, serving: poller, deadline: deadline)
            } catch .timedOut {
                // A poll may have ended it meanwhile (access_denied, expired_token): that is the reason.
                if case .failure(let f)? = poller.outcome { return .failure(f) }
                return .failure(timedOut)
            } catch {
                return .failure(FlowFailure(.convError, Refusal(.conversationFailed, error.description)))
            }
            if deadline.passed {
                return .failure(FlowFailure(.timeout, Refusal(.timeout, "answer came after login_timeout (\(config.loginTimeout) s)")))
            }
            // Whatever was typed: the answer is only "I am done"; the sign-in itself comes from the poll.
            poller.pollWhenDue(upTo: deadline)
            if let outcome = poller.outcome { return outcome }
            messages = [.promptEchoOn(DevicePrompt.notYet(authorization))]
        }
    }
}

/// The token endpoint of the IdP: one POST with the client's authentication, and its answer read
/// as tokens. Shared by the code flow, the device flow and the relay flow (which redeems the code
/// the relay received).
struct TokenEndpoint {
    let config: Config
    let clientSecret: String?
    let url: String
    let http: HTTPClient

    /// Client authentication as the code flow does it: Basic with a secret, `client_id` always in the form.
    func post(_ form: [(String, String)], deadline: Deadline, what: String = "token endpoint") -> Result<HTTPResponseData, FlowFailure> {
        var form = form + [("client_id", config.clientId)]
        defer { for i in form.indices { form[i].1 = "" } }
        do {
            return .success(try http.postForm(url, form: form, basicAuth: clientSecret.map { (config.clientId, $0) }, deadline: deadline))
        } catch {
            if error.loginDeadline {
                return .failure(FlowFailure(.timeout, Refusal(.timeout, "\(what): \(error.description) (login_timeout \(config.loginTimeout) s)")))
            }
            return .failure(FlowFailure(.unavailable, Refusal(.idpUnavailable, "\(what): \(error.description)")))
        }
    }

    /// A token response: 200 with an `id_token`, or the refusal it carries.
    func tokens(_ response: HTTPResponseData) -> Result<TokenSet, FlowFailure> {
        let body = JSONValue.parseObject(response.body)
        guard response.status == 200 else {
            if response.status >= 500 {
                return .failure(FlowFailure(.unavailable, Refusal(.idpUnavailable, "token endpoint answered HTTP \(response.status)")))
            }
            let error = body?["error"]?.stringValue.map(DeviceAuthorization.safeText) ?? "HTTP \(response.status)"
            let outcome: Outcome = error == "invalid_client" || error == "unauthorized_client" ? .configError : .denied
            return .failure(FlowFailure(outcome, Refusal(.tokenExchangeFailed, "the IdP refused the code exchange: \(error)")))
        }
        guard let idToken = body?["id_token"]?.stringValue else {
            return .failure(FlowFailure(.denied, Refusal(.tokenExchangeFailed, "token response has no id_token (is openid in scopes?)")))
        }
        return .success(TokenSet(idToken: idToken, accessToken: body?["access_token"]?.stringValue))
    }

    /// The authorization code grant (RFC 6749 §4.1.3 + RFC 7636 §4.5).
    func redeem(code: String, redirectURI: String, verifier: String, deadline: Deadline) -> Result<TokenSet, FlowFailure> {
        post([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("code_verifier", verifier)],
             deadline: deadline).flatMap(tokens)
    }
}

extension DeviceAuthorization {
    /// A device authorization request's answer as the flow's outcome. `who` names the endpoint.
    static func outcome(_ response: HTTPResponseData, who: String) -> Result<DeviceAuthorization, FlowFailure> {
        DeviceAuthorization.parse(status: response.status, body: response.body, who: who).mapError { r in
            let error = JSONValue.parseObject(response.body)?["error"]?.stringValue
            // Our credentials or this client's grants are wrong: the admin's to fix.
            let isConfig = error == "invalid_client" || error == "unauthorized_client" || response.status == 401
            return FlowFailure(isConfig ? .configError : .unavailable, r)
        }
    }
}
