import CognitoAuthCore
import FoundationEssentials

/// `flow = device`: RFC 8628 against the IdP's `device_authorization_endpoint`. The ID token is
/// verified as always; RFC 8628 has no nonce parameter, so a nonce is checked only if one is echoed
/// (`expectedNonce` nil: the verifier then checks the token on its own).
final class IdPDeviceBackend: DeviceBackend {
    let name = "device authorization (RFC 8628)"
    let expectedNonce: String? = nil
    let endpoint: String
    let config: Config
    let token: TokenEndpoint
    let http: HTTPClient

    init(endpoint: String, config: Config, clientSecret: String?, tokenEndpoint: String, http: HTTPClient) {
        self.endpoint = endpoint; self.config = config; self.http = http
        self.token = TokenEndpoint(config: config, clientSecret: clientSecret, url: tokenEndpoint, http: http)
    }

    func authorize(_ context: SignInContext, deadline: Deadline) -> Result<DeviceAuthorization, FlowFailure> {
        let device = TokenEndpoint(config: config, clientSecret: token.clientSecret, url: endpoint, http: http)
        return device.post([("scope", config.scopes.joined(separator: " "))], deadline: deadline, what: "device authorization endpoint")
            .flatMap { DeviceAuthorization.outcome($0, who: "device authorization endpoint") }
    }

    func poll(_ deviceCode: String, deadline: Deadline) -> Result<DevicePollAnswer, FlowFailure> {
        token.post(RelayRequests.tokenForm(deviceCode: deviceCode), deadline: deadline)
            .map { DevicePollAnswer.parse(status: $0.status, body: $0.body) }
    }

    func complete(_ body: Data, deadline: Deadline) -> Result<TokenSet, FlowFailure> {
        token.tokens(HTTPResponseData(status: 200, headers: [:], body: body))
    }
}

extension DeviceSignIn {
    /// The method `flow` names, or why it cannot run here (a configuration error).
    public static func make(config: Config, loaded: LoadedConfig, metadata: ProviderMetadata, http: HTTPClient,
                            qr: Bool) -> Result<DeviceSignIn, FlowFailure> {
        switch config.flow {
        case .code:
            return .failure(FlowFailure(.configError, Refusal(.configInvalid, "flow = code is not a device flow")))
        case .device:
            guard let endpoint = metadata.deviceAuthorizationEndpoint else {
                return .failure(FlowFailure(.configError, Refusal(.configInvalid,
                    "flow = device, but discovery (\(config.discoveryURL)) lists no device_authorization_endpoint; "
                    + "Amazon Cognito has none: use flow = relay")))
            }
            return .success(DeviceSignIn(backend: IdPDeviceBackend(endpoint: endpoint, config: config, clientSecret: loaded.clientSecret,
                                                                   tokenEndpoint: metadata.tokenEndpoint, http: http),
                                         config: config, qr: qr))
        case .relay(let url, _):
            guard let secret = loaded.relaySecret else {
                return .failure(FlowFailure(.configError, Refusal(.configInvalid, "flow = relay without a host secret")))
            }
            return .success(DeviceSignIn(backend: RelayBackend(relayURL: url, hostSecret: secret, config: config,
                                                               clientSecret: loaded.clientSecret,
                                                               tokenEndpoint: metadata.tokenEndpoint, http: http),
                                         config: config, qr: qr))
        }
    }
}
