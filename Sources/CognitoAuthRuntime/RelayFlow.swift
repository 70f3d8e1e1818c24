import CognitoAuthCore
import FoundationEssentials

/// `flow = relay`: Amazon Cognito through cognito-auth-relay (DESIGN.md §7). The helper makes the
/// PKCE verifier and the nonce and keeps both, with the client secret: the relay sees only the
/// challenge, hands back the authorization code Cognito sent it, and the helper redeems that code
/// at Cognito's token endpoint itself. Every relay request carries `Authorization: Bearer <host
/// secret>`.
final class RelayBackend: DeviceBackend {
    /// The relay answers `slow_down` only to polls of one device code less than half an interval
    /// apart (and never once the sign-in finished), so Enter's poll need not wait a whole interval.
    let enterPollFraction = 0.5

    let name = "relay"
    let relayURL: String
    let hostSecret: String
    let config: Config
    let token: TokenEndpoint
    let http: HTTPClient
    let secrets = SignInSecrets()

    var expectedNonce: String? { secrets.nonce }

    init(relayURL: String, hostSecret: String, config: Config, clientSecret: String?, tokenEndpoint: String, http: HTTPClient) {
        self.relayURL = relayURL; self.hostSecret = hostSecret; self.config = config; self.http = http
        self.token = TokenEndpoint(config: config, clientSecret: clientSecret, url: tokenEndpoint, http: http)
    }

    private func post(_ path: String, _ form: [(String, String)], deadline: Deadline) -> Result<HTTPResponseData, FlowFailure> {
        let url = RelayRequests.endpoint(relayURL, path)
        do {
            return .success(try http.postForm(url, form: form, basicAuth: nil, bearer: hostSecret, deadline: deadline))
        } catch {
            if error.loginDeadline {
                return .failure(FlowFailure(.timeout, Refusal(.timeout, "relay: \(error.description) (login_timeout \(config.loginTimeout) s)")))
            }
            return .failure(FlowFailure(.unavailable, Refusal(.idpUnavailable, "relay: \(error.description)")))
        }
    }

    func authorize(_ context: SignInContext, deadline: Deadline) -> Result<DeviceAuthorization, FlowFailure> {
        // The relay keeps the sign-in no longer than this host waits for it (whole seconds left of
        // login_timeout, rounded down), so a person who comes back late is told it expired.
        let form = RelayRequests.deviceAuthorizationForm(secrets: secrets, scopes: config.scopes, host: context.host,
                                                         user: context.user ?? "", rhost: context.rhost,
                                                         waitSeconds: Int(deadline.remainingMilliseconds / 1000))
        return post("device_authorization", form, deadline: deadline).flatMap { response in
            if response.status == 401 {
                return .failure(FlowFailure(.configError, Refusal(.configInvalid, "relay refused the host secret (401 invalid_client): check relay_secret_file")))
            }
            return DeviceAuthorization.outcome(response, who: "relay")
        }
    }

    func poll(_ deviceCode: String, deadline: Deadline) -> Result<DevicePollAnswer, FlowFailure> {
        post("token", RelayRequests.tokenForm(deviceCode: deviceCode), deadline: deadline).flatMap { response in
            if response.status == 401 {
                return .failure(FlowFailure(.configError, Refusal(.configInvalid, "relay refused the host secret (401 invalid_client): check relay_secret_file")))
            }
            return .success(DevicePollAnswer.parse(status: response.status, body: response.body))
        }
    }

    func complete(_ body: Data, deadline: Deadline) -> Result<TokenSet, FlowFailure> {
        switch RelayRequests.parseGrant(body) {
        case .failure(let r): return .failure(FlowFailure(.unavailable, r))
        case .success(let grant):
            return token.redeem(code: grant.code, redirectURI: grant.redirectURI, verifier: secrets.codeVerifier, deadline: deadline)
        }
    }
}
