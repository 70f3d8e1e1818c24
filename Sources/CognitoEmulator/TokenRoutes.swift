import CognitoAuthCore
import Crypto
import CryptoExtras
import Foundation

extension CognitoEmulator {
    /// The client authentication of a token or revoke request, or the error to answer with.
    private enum ClientAuth {
        case ok
        case failed(HTTPResponse)
    }

    /// `client_secret_basic` (Authorization: Basic) or `client_secret_post` (body), not both;
    /// a public client sends only `client_id`.
    private func authenticateClient(_ request: HTTPRequest, _ params: [String: String]) -> ClientAuth {
        let invalidClient = ClientAuth.failed(Respond.oauthError(401, "invalid_client"))
        var basicId: String? = nil
        var basicSecret: String? = nil
        if let authorization = request.header("Authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "basic",
                  let raw = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
                  let decoded = String(data: raw, encoding: .utf8),
                  let colon = decoded.firstIndex(of: ":") else {
                return invalidClient
            }
            // RFC 6749 §2.3.1 form-encodes both parts before Basic; accept them encoded or raw.
            let rawId = String(decoded[..<colon]), rawSecret = String(decoded[decoded.index(after: colon)...])
            basicId = sameBytes(rawId, client.clientId) ? rawId : (formDecoded(rawId) ?? rawId)
            basicSecret = client.clientSecret.map { constantTimeEqual($0, rawSecret) } == true
                ? rawSecret : (formDecoded(rawSecret) ?? rawSecret)
        }
        if basicSecret != nil && params["client_secret"] != nil {
            return .failed(Respond.oauthError(400, "invalid_request"))  // two authentication methods
        }
        if let b = basicId, let p = params["client_id"], !sameBytes(b, p) { return invalidClient }
        guard let clientId = basicId ?? params["client_id"], sameBytes(clientId, client.clientId) else { return invalidClient }
        let presented = basicSecret ?? params["client_secret"]
        switch (client.clientSecret, presented) {
        case (nil, nil):
            return .ok
        case (let expected?, let given?) where constantTimeEqual(expected, given):
            return .ok
        default:
            return invalidClient
        }
    }

    /// POST /oauth2/token
    func handleToken(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" else { return Respond.methodNotAllowed("POST") }
        let contentType = request.header("Content-Type")?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
            return Respond.oauthError(400, "invalid_request")
        }
        guard let pairs = FormURLEncoding.decode(Substring(decoding: request.body, as: UTF8.self)),
              let params = uniqueParameters(pairs) else {
            return Respond.oauthError(400, "invalid_request")
        }
        if case .failed(let response) = authenticateClient(request, params) { return response }

        switch params["grant_type"] {
        case nil:
            return Respond.oauthError(400, "invalid_request")
        case "authorization_code":
            return redeemCode(params)
        case "refresh_token":
            return refresh(params)
        case RelayRequests.deviceCodeGrant:
            return redeemDeviceCode(params)
        case "client_credentials":
            return Respond.oauthError(400, "unauthorized_client")  // this app client has no M2M flow
        default:
            return Respond.oauthError(400, "unsupported_grant_type")
        }
    }

    /// The client authentication of the token endpoint, for the device authorization endpoint.
    func clientAuthFailure(_ request: HTTPRequest, _ params: [String: String]) -> HTTPResponse? {
        if case .failed(let response) = authenticateClient(request, params) { return response }
        return nil
    }

    /// Tokens for a device-code grant (no refresh token, no nonce: RFC 8628 has none).
    func issueTokens(user: EmulatorUser, scopes: [String], nonce: String?, authTime: Int, now: Date) -> HTTPResponse {
        issue(user: user, scopes: scopes, nonce: nonce, authTime: authTime, originJti: randomUUID(), refreshToken: nil, now: now)
    }

    private func redeemCode(_ params: [String: String]) -> HTTPResponse {
        guard let code = params["code"], let redirectURI = params["redirect_uri"] else {
            return Respond.oauthError(400, "invalid_request")
        }
        let now = self.now()
        // Single use: the code is gone once presented, whatever the outcome.
        guard let grant = lock.withLock({ codes.removeValue(forKey: code) }) else {
            return Respond.oauthError(400, "invalid_grant")
        }
        guard now.timeIntervalSince(grant.issuedAt) <= Self.codeLifetime,
              sameBytes(grant.clientId, client.clientId),
              sameBytes(grant.redirectURI, redirectURI) else {
            return Respond.oauthError(400, "invalid_grant")
        }
        switch (grant.codeChallenge, params["code_verifier"]) {
        case (nil, nil):
            break
        case (nil, _?):
            return Respond.oauthError(400, "invalid_grant")  // a verifier for a code issued without PKCE
        case (_?, nil):
            return Respond.oauthError(400, "invalid_request")
        case (let challenge?, let verifier?):
            guard (43...128).contains(verifier.utf8.count), isPKCEString(verifier),
                  sameBytes(Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8)))), challenge) else {
                return Respond.oauthError(400, "invalid_grant")
            }
        }
        guard let user = lock.withLock({ users.first { $0.sub == grant.userSub } }) else {
            return Respond.oauthError(400, "invalid_grant")
        }
        let originJti = randomUUID()
        let refreshToken = makeRefreshToken()
        lock.withLock {
            refreshGrants[refreshToken] = RefreshGrant(clientId: grant.clientId, userSub: user.sub, scopes: grant.scopes,
                                                       authTime: grant.authTime, originJti: originJti)
        }
        return issue(user: user, scopes: grant.scopes, nonce: grant.nonce, authTime: grant.authTime,
                     originJti: originJti, refreshToken: refreshToken, now: now)
    }

    private func refresh(_ params: [String: String]) -> HTTPResponse {
        guard let token = params["refresh_token"] else { return Respond.oauthError(400, "invalid_request") }
        guard let grant = lock.withLock({ refreshGrants[token] }), sameBytes(grant.clientId, client.clientId),
              let user = lock.withLock({ users.first { $0.sub == grant.userSub } }) else {
            return Respond.oauthError(400, "invalid_grant")
        }
        // Refreshed tokens keep auth_time and origin_jti; no new refresh token (Cognito's default).
        return issue(user: user, scopes: grant.scopes, nonce: nil, authTime: grant.authTime,
                     originJti: grant.originJti, refreshToken: nil, now: now())
    }

    private func issue(user: EmulatorUser, scopes: [String], nonce: String?, authTime: Int, originJti: String,
                       refreshToken: String?, now: Date) -> HTTPResponse {
        do {
            let ring = try keyRing()
            let f = lock.withLock { fault }
            let context = TokenContext(issuer: issuer, clientId: client.clientId, user: user, scopes: scopes, nonce: nonce,
                                       authTime: authTime, now: Int(now.timeIntervalSince1970),
                                       originJti: originJti, eventId: randomUUID())
            let access = try TokenMinter.accessToken(context, keys: ring)
            var body: [(String, OrderedJSON)] = []
            if scopes.contains("openid") {
                body.append(("id_token", .string(try TokenMinter.idToken(context, accessToken: access, keys: ring, fault: f))))
            }
            body.append(("access_token", .string(access)))
            if let refreshToken { body.append(("refresh_token", .string(refreshToken))) }
            body.append(("expires_in", .int(TokenMinter.lifetime)))
            body.append(("token_type", .string("Bearer")))
            return Respond.json(200, .object(body), extraHeaders: [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
        } catch {
            return Respond.oauthError(500, "server_error")
        }
    }

    /// An opaque refresh token shaped like Cognito's (a five-part JWE).
    private func makeRefreshToken() -> String {
        let header = Base64URL.encode(Array(#"{"cty":"JWT","enc":"A256GCM","alg":"RSA-OAEP"}"#.utf8))
        return [header, Base64URL.encode(randomBytes(256)), Base64URL.encode(randomBytes(12)),
                Base64URL.encode(randomBytes(600)), Base64URL.encode(randomBytes(16))].joined(separator: ".")
    }

    /// POST /oauth2/revoke: revokes a refresh token and the access tokens issued from it.
    func handleRevoke(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" else { return Respond.methodNotAllowed("POST") }
        guard let pairs = FormURLEncoding.decode(Substring(decoding: request.body, as: UTF8.self)),
              let params = uniqueParameters(pairs), let token = params["token"] else {
            return Respond.oauthError(400, "invalid_request")
        }
        if case .failed(let response) = authenticateClient(request, params) { return response }
        lock.withLock {
            if let grant = refreshGrants.removeValue(forKey: token) { revokedOriginJtis.insert(grant.originJti) }
        }
        return HTTPResponse(status: 200, headers: [("Content-Type", "application/json;charset=UTF-8")], body: [])
    }

    /// GET or POST /oauth2/userInfo with `Authorization: Bearer <access token>`.
    func handleUserInfo(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "GET" || request.method == "POST" else { return Respond.methodNotAllowed("GET, POST") }
        let invalid = Respond.json(401, .object([
            ("error", .string("invalid_token")),
            ("error_description", .string("Access token is expired, disabled, or deleted, or the user has globally signed out.")),
        ]), extraHeaders: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
        guard let authorization = request.header("Authorization") else {
            return Respond.json(401, .object([("error", .string("invalid_request"))]),
                                extraHeaders: [("WWW-Authenticate", "Bearer")])
        }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
              let claims = verifyAccessToken(String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let sub = claims["sub"] as? String,
              let user = lock.withLock({ users.first { $0.sub == sub } }) else {
            return invalid
        }
        var body: [(String, OrderedJSON)] = []
        for key in user.custom.keys.sorted() { body.append((key, .string(user.custom[key] ?? ""))) }
        body += [
            ("sub", .string(user.sub)),
            ("email_verified", .string(user.emailVerified ? "true" : "false")),
            ("email", .string(user.email)),
            ("username", .string(user.username)),
        ]
        return Respond.json(200, .object(body))
    }

    /// The claims of an access token this pool issued and that is still good, else nil.
    private func verifyAccessToken(_ token: String) -> [String: Any]? {
        guard let ring = try? keyRing() else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerData = Base64URL.decode(parts[0]), let header = parseJSONObject(headerData),
              header["alg"] as? String == "RS256", header["kid"] as? String == ring.accessKey.kid,
              let payloadData = Base64URL.decode(parts[1]), let claims = parseJSONObject(payloadData),
              let signature = Base64URL.decode(parts[2]) else {
            return nil
        }
        let input = Array((parts[0] + "." + parts[1]).utf8)
        guard ring.accessKey.privateKey.publicKey.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input),
            padding: .insecurePKCS1v1_5) else {
            return nil
        }
        let now = self.now().timeIntervalSince1970
        guard claims["token_use"] as? String == "access",
              claims["iss"] as? String == issuer,
              claims["client_id"] as? String == client.clientId,
              let exp = claims["exp"] as? NSNumber, exp.doubleValue > now,
              let scope = claims["scope"] as? String, scope.split(separator: " ").contains("openid") else {
            return nil
        }
        if let origin = claims["origin_jti"] as? String, lock.withLock({ revokedOriginJtis.contains(origin) }) {
            return nil
        }
        return claims
    }
}

/// A JSON object from bytes, or nil.
func parseJSONObject(_ data: Data) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
}

/// `application/x-www-form-urlencoded` decoding of one component, or nil when malformed.
func formDecoded(_ s: String) -> String? {
    s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
}
