import CognitoAuthCore
import Foundation

extension CognitoEmulator {
    /// Serves one request, or a 503 when a test declared that endpoint down.
    func handle(_ request: HTTPRequest) -> HTTPResponse {
        if let name = endpointDown(request.path) {
            count(name)
            return Respond.oauthError(503, "server_error")
        }
        return route(request)
    }

    /// The endpoint's counter name if `setOutage` took it down.
    func endpointDown(_ path: String) -> String? {
        let down = lock.withLock { outages }
        guard !down.isEmpty else { return nil }
        let wellKnown = "/" + userPoolId + "/.well-known/"
        let names = [wellKnown + "openid-configuration": "discovery", wellKnown + "jwks.json": "jwks",
                     "/oauth2/authorize": "authorize", "/oauth2/token": "token", "/oauth2/userInfo": "userinfo"]
        guard let name = names[path], down.contains(name) else { return nil }
        return name
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
        default:
            if request.path.hasPrefix("/_emulator/") {
                count("admin")
                return handleAdmin(request)
            }
            count("other")
            return Respond.notFound()
        }
    }

    /// Cognito's OpenID configuration, member for member (no device endpoint).
    func discoveryDocument() -> OrderedJSON {
        let base = baseURL
        return .object([
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
        ])
    }
}
