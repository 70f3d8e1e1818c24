import FoundationEssentials

/// The parsed, validated configuration (ARCHITECTURE.md §4). Built only by `ConfigParser`.
public struct Config: Sendable, Equatable {
    public enum AccountMap: Sendable, Equatable {
        case localpart
        case exact
        case file(String)
    }
    public enum AuditFormat: String, Sendable, Equatable { case kv, json }
    /// How the person signs in (DESIGN.md §7).
    public enum Flow: Sendable, Equatable {
        case code
        /// RFC 8628 against the IdP's `device_authorization_endpoint`.
        case device
        /// Through cognito-auth-relay: `relay_url` and the root-only `relay_secret_file`.
        case relay(url: String, secretFile: String)

        /// As in the config file and the audit line's `flow=`.
        public var name: String {
            switch self {
            case .code: return "code"
            case .device: return "device"
            case .relay: return "relay"
            }
        }
    }

    public var path: String
    public var region: String
    public var userPoolId: String
    public var clientId: String
    public var clientSecret: String?
    public var clientSecretFile: String?
    public var issuer: String
    public var discoveryURL: String
    public var caFile: String?
    public var redirectURIs: [RedirectURI]
    public var scopes: [String]
    public var loginTimeout: Int
    public var httpTimeout: Int
    public var usernameClaim: String
    public var accountMap: AccountMap
    public var allowedDomains: [String]
    public var requireEmailVerified: Bool
    public var clockSkew: Int
    public var cacheDir: String
    /// Where sticky identities (the Cognito `sub` first seen for each local account) are kept.
    public var stateDir: String
    public var auditFormat: AuditFormat
    public var flow: Flow = .code
    /// Whether device/relay prompts carry a QR code of `verification_uri_complete`.
    public var qr: QRMode = .auto
    /// Mapped accounts with a lower uid are system accounts and refused (`reason=system_account`).
    public var minUID: UInt32
    /// uid 0 is refused unless this is set; when set, `minUID` does not apply to uid 0.
    public var allowRoot: Bool
    /// Policy for services without a `[service NAME]` section.
    public var defaultPolicy: Policy
    /// Per-service overrides, already merged over `defaultPolicy`.
    public var servicePolicies: [String: Policy]
    /// Accounts on first sign-in (ARCHITECTURE.md §12): `provision`, `provision_*`, `group_map`.
    public var provision: ProvisionSettings = ProvisionSettings()

    public func policy(forService service: String) -> Policy {
        servicePolicies[service] ?? defaultPolicy
    }

    public var isPublicClient: Bool { clientSecret == nil && clientSecretFile == nil }
}

/// A redirect URI the app client registered. Only loopback `http` URIs can be served by the
/// helper's listener; Cognito accepts plain http only for localhost.
public struct RedirectURI: Sendable, Equatable, CustomStringConvertible {
    public var string: String
    public var host: String
    public var port: UInt16
    public var path: String
    public var description: String { string }

    public static func parse(_ s: String) -> RedirectURI? {
        guard let c = URLComponents(string: s), c.scheme == "http",
              let host = c.host, ["localhost", "127.0.0.1"].contains(host),
              let port = c.port, port > 0, port < 65536,
              c.query == nil, c.fragment == nil, c.user == nil, c.password == nil
        else { return nil }
        let path = c.path.isEmpty ? "/" : c.path
        return RedirectURI(string: s, host: host, port: UInt16(port), path: path)
    }
}

/// `http://` is acceptable only towards the loopback interface (tests, the emulator).
public enum EndpointRule {
    public static func isAcceptable(_ urlString: String) -> Bool {
        guard let c = URLComponents(string: urlString), let scheme = c.scheme?.lowercased(),
              let host = c.host, !host.isEmpty, c.user == nil, c.password == nil else { return false }
        if scheme == "https" { return true }
        if scheme == "http" { return isLoopback(host) }
        return false
    }

    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "[::1]" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
