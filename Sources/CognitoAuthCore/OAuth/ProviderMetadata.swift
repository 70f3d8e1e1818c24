import FoundationEssentials

/// The endpoints from the discovery document that a sign-in needs.
public struct ProviderMetadata: Sendable, Equatable {
    public var issuer: String
    public var authorizationEndpoint: String
    public var tokenEndpoint: String
    public var jwksURI: String
    /// RFC 8628's endpoint, when the provider lists one (Cognito does not; `flow = device` needs it).
    public var deviceAuthorizationEndpoint: String? = nil

    /// Validates a discovery document against the configured issuer (OIDC Discovery §4.3: the
    /// `issuer` member must equal the issuer the document was fetched for).
    public static func parse(_ data: Data, expectedIssuer: String) -> Result<ProviderMetadata, Refusal> {
        guard let doc = JSONValue.parseObject(data) else {
            return .failure(Refusal(.discoveryInvalid, "discovery document is not a JSON object"))
        }
        func endpoint(_ key: String) -> Result<String, Refusal> {
            guard let v = doc[key]?.stringValue else { return .failure(Refusal(.discoveryInvalid, "discovery document lacks \(key)")) }
            guard EndpointRule.isAcceptable(v) else { return .failure(Refusal(.discoveryInvalid, "\(key) \(v) is not https (or loopback http)")) }
            return .success(v)
        }
        guard let issuer = doc["issuer"]?.stringValue else { return .failure(Refusal(.discoveryInvalid, "discovery document lacks issuer")) }
        guard issuer == expectedIssuer else {
            return .failure(Refusal(.discoveryInvalid, "discovery issuer \(issuer) is not the configured issuer \(expectedIssuer)"))
        }
        if let algs = doc["id_token_signing_alg_values_supported"]?.arrayValue, !algs.contains(.string("RS256")) {
            return .failure(Refusal(.discoveryInvalid, "provider does not sign ID tokens with RS256"))
        }
        do {
            var m = ProviderMetadata(issuer: issuer,
                                     authorizationEndpoint: try endpoint("authorization_endpoint").get(),
                                     tokenEndpoint: try endpoint("token_endpoint").get(),
                                     jwksURI: try endpoint("jwks_uri").get())
            if doc["device_authorization_endpoint"] != nil {
                m.deviceAuthorizationEndpoint = try endpoint("device_authorization_endpoint").get()
            }
            return .success(m)
        } catch {
            return .failure(error)
        }
    }
}
