import CognitoAuthCore
import Foundation

extension CognitoEmulator {
    /// Serves one request, or a 503 when a test declared that endpoint down; late or padded when
    /// a test asked for that (`setSlow`, `setOversize`).
    func handle(_ request: HTTPRequest) -> HTTPResponse {
        guard let name = endpointName(request.path) else { return route(request) }
        let (down, delay, size) = lock.withLock { (outages.contains(name), slow[name], oversize[name]) }
        if down {
            count(name)
            return Respond.oauthError(503, "server_error")
        }
        var response = route(request)
        if let delay { Thread.sleep(forTimeInterval: TimeInterval(delay)) }
        if let size, response.body.count < size {
            // JSON whitespace: the document stays valid, only too big.
            response.body += [UInt8](repeating: UInt8(ascii: " "), count: size - response.body.count)
        }
        return response
    }

    /// The counter name of an endpoint a test can take down, slow down or pad.
    func endpointName(_ path: String) -> String? {
        let wellKnown = "/" + userPoolId + "/.well-known/"
        let names = [wellKnown + "openid-configuration": "discovery", wellKnown + "jwks.json": "jwks",
                     "/oauth2/authorize": "authorize", "/oauth2/token": "token", "/oauth2/userInfo": "userinfo",
                     "/oauth2/device_authorization": "device_authorization"]
        return names[path]
    }

    /// Routes one request. Never traps: anything malformed gets a 4xx.
    func route(_ request: HTTPRequest) -> HTTPResponse {
        let wellKnown = "/" + userPoolId + "/.well-known/"
        switch request.path {
        case wellKnown + "openid-configuration":
            count("discovery")
            guard request.method == "GET" else { return Respond.methodNotAllowed("GET") }
            return Respond.json(200, discoveryDocument())
        case wellKnown + "jwks.json":
            count("jwks")
            guard request.method == "GET" else { return Respond.methodNotAllowed("GET") }
            guard let ring = try? keyRing(), let jwks = try? ring.jwks() else {
                return Respond.oauthError(500, "server_error")
            }
            return Respond.json(200, jwks)
        case "/oauth2/authorize":
            count("authorize")
            return handleAuthorize(request)
        case "/login":
            count("login")
            return handleLogin(request)
        case "/oauth2/token":
            count("token")
            return handleToken(request)
        case "/oauth2/userInfo":
            count("userinfo")
            return handleUserInfo(request)
        case "/oauth2/revoke":
            count("revoke")
            return handleRevoke(request)
        case "/logout":
            count("logout")
            return handleLogout(request)
        case "/error":
            count("error")
            return handleErrorPage(request)
        case "/oauth2/device_authorization":
            count("device_authorization")
            return handleDeviceAuthorization(request)
        case "/device":
            count("device")
            return handleDevicePage(request)
        default:
            if request.path.hasPrefix("/_emulator/") {
                count("admin")
                return handleAdmin(request)
            }
            count("other")
            return Respond.notFound()
        }
    }

    /// Cognito's OpenID configuration, member for member (no device endpoint); in device mode, a
    /// generic OIDC provider's `device_authorization_endpoint` besides.
    func discoveryDocument() -> OrderedJSON {
        let base = baseURL
        var members: [(String, OrderedJSON)] = [
            ("authorization_endpoint", .string(base + "/oauth2/authorize")),
            ("end_session_endpoint", .string(base + "/logout")),
            ("id_token_signing_alg_values_supported", .array([.string("RS256")])),
            ("issuer", .string(issuer)),
            ("jwks_uri", .string(jwksURL)),
            ("response_types_supported", .array([.string("code"), .string("token")])),
            ("revocation_endpoint", .string(base + "/oauth2/revoke")),
            ("scopes_supported", .array([.string("openid"), .string("email"), .string("phone"), .string("profile")])),
            ("subject_types_supported", .array([.string("public")])),
            ("token_endpoint", .string(base + "/oauth2/token")),
            ("token_endpoint_auth_methods_supported", .array([.string("client_secret_basic"), .string("client_secret_post")])),
            ("userinfo_endpoint", .string(base + "/oauth2/userInfo")),
        ]
        if deviceModeEnabled {
            members.insert(("device_authorization_endpoint", .string(base + "/oauth2/device_authorization")), at: 0)
        }
        return .object(members)
    }
}
