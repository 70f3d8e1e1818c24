import CognitoAuthCore
import Foundation

/// A validated `/oauth2/authorize` (and `/login`) request.
struct AuthorizeRequest: Sendable {
    var clientId: String
    var redirectURI: String
    var scopes: [String]
    var state: String?
    var nonce: String?
    var codeChallenge: String?
    /// The query string as received, carried into the form's action.
    var query: String
}

enum AuthorizeCheck {
    case ok(AuthorizeRequest)
    /// Not redirectable (no trusted redirect URI): Cognito sends the browser to its own `/error`.
    case errorPage(error: String, clientId: String?)
    /// Redirect to the registered `redirect_uri` with `error` (and `state`).
    case redirectError(uri: String, error: String, state: String?)
}

extension CognitoEmulator {
    /// Checks an authorize query in Cognito's order: client, redirect URI (never redirect to an
    /// unregistered one), then response type, PKCE and scopes (errors go back to the client).
    func checkAuthorize(query rawQuery: String?) -> AuthorizeCheck {
        let query = rawQuery ?? ""
        guard let pairs = FormURLEncoding.decode(query) else {
            return .errorPage(error: "invalid_request", clientId: nil)
        }
        func single(_ name: String) -> (value: String?, repeated: Bool) {
            let values = pairs.filter { $0.0 == name }.map(\.1)
            return (values.first, values.count > 1)
        }
        let clientId = single("client_id")
        guard !clientId.repeated, let cid = clientId.value, sameBytes(cid, client.clientId) else {
            return .errorPage(error: "invalid_request", clientId: clientId.value)
        }
        let redirect = single("redirect_uri")
        guard !redirect.repeated, let uri = redirect.value,
              client.redirectURIs.contains(where: { sameBytes($0, uri) }) else {
            return .errorPage(error: "redirect_mismatch", clientId: cid)
        }
        let state = single("state")
        if state.repeated { return .redirectError(uri: uri, error: "invalid_request", state: nil) }
        guard let params = uniqueParameters(pairs) else {
            return .redirectError(uri: uri, error: "invalid_request", state: state.value)
        }

        switch params["response_type"] {
        case "code": break
        case "token": return .redirectError(uri: uri, error: "unauthorized_client", state: state.value)
        default: return .redirectError(uri: uri, error: "unsupported_response_type", state: state.value)
        }

        let challenge = params["code_challenge"]
        let method = params["code_challenge_method"]
        switch (challenge, method) {
        case (nil, nil):
            break
        case (let c?, "S256"?):
            guard isPKCEString(c), c.utf8.count == 43 else {
                return .redirectError(uri: uri, error: "invalid_request", state: state.value)
            }
        default:
            // `plain` (or a challenge without a method, which means plain), or a method alone.
            return .redirectError(uri: uri, error: "invalid_request", state: state.value)
        }

        var scopes: [String]
        if let requested = params["scope"] {
            scopes = []
            for s in requested.split(whereSeparator: { $0 == " " }).map(String.init)
            where client.allowedScopes.contains(s) && !scopes.contains(s) {
                scopes.append(s)
            }
            if scopes.isEmpty { return .redirectError(uri: uri, error: "invalid_scope", state: state.value) }
        } else {
            scopes = client.allowedScopes
        }
        return .ok(AuthorizeRequest(clientId: cid, redirectURI: uri, scopes: scopes, state: state.value,
                                    nonce: params["nonce"], codeChallenge: challenge, query: query))
    }

    /// Where a failed check sends the browser.
    func response(for failure: AuthorizeCheck) -> HTTPResponse {
        switch failure {
        case .ok:
            return Respond.notFound()
        case .errorPage(let error, let clientId):
            var pairs = [("error", error)]
            if let clientId { pairs.append(("client_id", clientId)) }
            return Respond.redirect(baseURL + "/error?" + FormURLEncoding.encodeQuery(pairs))
        case .redirectError(let uri, let error, let state):
            var pairs = [("error", error)]
            if let state { pairs.append(("state", state)) }
            return Respond.redirect(appendQuery(uri, pairs))
        }
    }

    /// GET /oauth2/authorize → 302 to the hosted UI's /login with the same parameters.
    func handleAuthorize(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "GET" else { return Respond.methodNotAllowed("GET") }
        let check = checkAuthorize(query: request.query)
        guard case .ok(let auth) = check else { return response(for: check) }
        return Respond.redirect(baseURL + "/login?" + auth.query)
    }

    /// GET /login → the sign-in form; POST /login → check the password, then 302 to the client
    /// with `code` and `state` (or the form again with an error).
    func handleLogin(_ request: HTTPRequest) -> HTTPResponse {
        let check = checkAuthorize(query: request.query)
        guard case .ok(let auth) = check else { return response(for: check) }
        switch request.method {
        case "GET":
            return Respond.html(200, HostedUI.signInPage(query: auth.query, poolId: userPoolId, error: nil))
        case "POST":
            break
        default:
            return Respond.methodNotAllowed("GET, POST")
        }
        guard let form = FormURLEncoding.decode(Substring(decoding: request.body, as: UTF8.self)),
              let fields = uniqueParameters(form),
              let username = fields["username"], let password = fields["password"],
              !username.isEmpty, !password.isEmpty else {
            return Respond.html(200, HostedUI.signInPage(query: auth.query, poolId: userPoolId,
                                                         error: "Please enter your username and password."))
        }
        let match = lock.withLock {
            users.first { $0.email.lowercased() == username.lowercased() || sameBytes($0.username, username) }
        }
        guard let user = match, constantTimeEqual(user.password, password) else {
            return Respond.html(200, HostedUI.signInPage(query: auth.query, poolId: userPoolId,
                                                         error: "Incorrect username or password."))
        }
        let now = self.now()
        let code = randomUUID()
        lock.withLock {
            codes = codes.filter { now.timeIntervalSince($0.value.issuedAt) <= Self.codeLifetime }
            codes[code] = AuthorizationCode(clientId: auth.clientId, redirectURI: auth.redirectURI, userSub: user.sub,
                                            scopes: auth.scopes, nonce: auth.nonce, codeChallenge: auth.codeChallenge,
                                            authTime: Int(now.timeIntervalSince1970), issuedAt: now)
        }
        var pairs = [("code", code)]
        if let state = auth.state { pairs.append(("state", state)) }
        return Respond.redirect(appendQuery(auth.redirectURI, pairs))
    }

    /// GET /error → Cognito's error page, status 400.
    func handleErrorPage(_ request: HTTPRequest) -> HTTPResponse {
        let params = request.query.flatMap { FormURLEncoding.decode($0) } ?? []
        let error = params.first { $0.0 == "error" }?.1 ?? "unknown_error"
        let description = params.first { $0.0 == "error_description" }?.1
        return Respond.html(400, HostedUI.errorPage(error: error, description: description))
    }

    /// GET /logout: with a registered `logout_uri` (here: any registered redirect URI) → 302 there;
    /// otherwise the error page.
    func handleLogout(_ request: HTTPRequest) -> HTTPResponse {
        let params = request.query.flatMap { FormURLEncoding.decode($0) }.flatMap(uniqueParameters) ?? [:]
        if let target = params["logout_uri"] ?? params["redirect_uri"],
           sameBytes(params["client_id"] ?? "", client.clientId),
           client.redirectURIs.contains(where: { sameBytes($0, target) }) {
            return Respond.redirect(target)
        }
        return Respond.redirect(baseURL + "/error?" + FormURLEncoding.encodeQuery([("error", "redirect_mismatch")]))
    }
}

/// RFC 7636 §4.1 unreserved characters (code verifiers and S256 challenges).
func isPKCEString(_ s: String) -> Bool {
    s.utf8.allSatisfy { b in
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
