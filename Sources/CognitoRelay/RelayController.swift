import CognitoAuthCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The request context: Hummingbird's core storage plus the TCP peer, which the lockout needs.
public struct RelayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// What the relay's routes need besides the store: fixed at start.
public struct RelaySettings: Sendable {
    public var config: RelayConfig
    /// The accepted host secrets (several while rotating).
    public var hostSecrets: [String]
    /// Cognito's authorize endpoint, from discovery.
    public var authorizeEndpoint: String
    /// Milliseconds since the epoch; tests move it by hand.
    public var now: @Sendable () -> Int64

    /// `slow_down` is answered to polls of one device code less than half an `interval` apart.
    public static let interval = 1
    /// Wrong user codes are counted per client address over this window.
    public static let attemptWindowMs: Int64 = 600_000
    /// Device authorizations per host secret per minute (a fleet shares one secret).
    public static let deviceAuthorizationsPerMinute = 600
    /// Request bodies: forms of a few short fields.
    public static let maxBodyBytes = 8192
    /// A request, head and body, must arrive within this many seconds of the connection opening or
    /// of the previous answer on it (`RequestDeadlineHandler`).
    public static let requestSeconds: Int64 = 10

    public init(config: RelayConfig, hostSecrets: [String], authorizeEndpoint: String,
                now: @escaping @Sendable () -> Int64) {
        self.config = config; self.hostSecrets = hostSecrets; self.authorizeEndpoint = authorizeEndpoint; self.now = now
    }
}

/// The routes of ARCHITECTURE.md §7. Every refusal is one log line with a reason and the client
/// address, never a secret, a device code, a user code, a state or a Cognito code.
struct RelayController<Store: RelayStore>: Sendable {
    let settings: RelaySettings
    let store: Store
    let purger: Purger
    let csp: String

    var config: RelayConfig { settings.config }
    var csrfCookie: String { config.publicURLIsHTTPS ? "__Host-relay_csrf" : "relay_csrf" }
    var stateCookie: String { config.publicURLIsHTTPS ? "__Secure-relay_state" : "relay_state" }

    init(settings: RelaySettings, store: Store) {
        self.settings = settings
        self.store = store
        self.purger = Purger()
        // Forms may post to the relay, and the Continue form's redirect may go to Cognito.
        self.csp = "default-src 'none'; form-action 'self' \(Self.origin(settings.authorizeEndpoint)); "
            + "frame-ancestors 'none'; base-uri 'none'"
    }

    static func origin(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return String(url[..<schemeEnd.upperBound]) + host
    }

    func register(on router: Router<RelayRequestContext>) {
        router.get("/healthz") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain", .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.post("/device_authorization") { req, ctx in await self.guarded(req, ctx, json: true) { try await self.deviceAuthorization(req, ctx) } }
        router.post("/token") { req, ctx in await self.guarded(req, ctx, json: true) { try await self.token(req, ctx) } }
        router.get("/d") { req, ctx in await self.guarded(req, ctx, json: false) { try await self.codePage(req, ctx) } }
        router.post("/d") { req, ctx in await self.guarded(req, ctx, json: false) { try await self.codeSubmitted(req, ctx) } }
        router.post("/d/confirm") { req, ctx in await self.guarded(req, ctx, json: false) { try await self.confirmed(req, ctx) } }
        router.get("/callback") { req, ctx in await self.guarded(req, ctx, json: false) { try await self.callback(req, ctx) } }
    }

    // MARK: - helpers

    struct Refused: Error { var response: Response }

    /// Runs a route; a store failure is 503 and a log line, never a sign-in.
    func guarded(_ req: Request, _ ctx: RelayRequestContext, json: Bool, _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let r as Refused {
            return r.response
        } catch {
            ctx.logger.error("relay: \(req.method) \(req.uri.path) failed: store unavailable: \(String(describing: error).prefix(200)) addr=\(clientAddress(req, ctx))")
            return json ? jsonResponse(.serviceUnavailable, ["error": .string("temporarily_unavailable")])
                        : htmlResponse(.serviceUnavailable, Pages.message("Try again shortly", "The sign-in service is unavailable right now."))
        }
    }

    func refuse(_ req: Request, _ ctx: RelayRequestContext, _ reason: String, _ response: Response) -> Refused {
        ctx.logger.notice("relay: refused \(req.method) \(req.uri.path): \(reason) addr=\(clientAddress(req, ctx))")
        return Refused(response: response)
    }

    /// The client's address for the lockout. The TCP peer, except that a peer on loopback (the TLS
    /// terminator on this machine, as `listen` defaults to) is trusted for `X-Forwarded-For`, of
    /// which only the last entry counts: the one the terminator itself appended.
    func clientAddress(_ req: Request, _ ctx: RelayRequestContext) -> String {
        RelayForm.clientAddress(peer: ctx.remoteAddress?.ipAddress, forwardedFor: req.headers[values: .xForwardedFor])
    }

    func jsonResponse(_ status: HTTPResponse.Status, _ object: [String: JSONValue], extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(object).jsonText)))
    }

    func htmlResponse(_ status: HTTPResponse.Status, _ html: String, cookies: [String] = [], location: String? = nil) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .cacheControl: "no-store",
            .contentSecurityPolicy: csp,
            .xContentTypeOptions: "nosniff",
            .xFrameOptions: "DENY",
            .referrerPolicy: "no-referrer",
        ]
        for c in cookies { headers.append(HTTPField(name: .setCookie, value: c)) }
        if let location { headers[.location] = location }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func cookie(_ req: Request, _ name: String) -> String? {
        RelayForm.cookie(req.headers[values: .cookie], name)   // two cookies of one name: neither counts
    }

    func setCookie(_ name: String, _ value: String, path: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (config.publicURLIsHTTPS ? "; Secure" : "")
    }

    /// A form body, capped, strictly decoded; a repeated field makes the whole form invalid.
    func form(_ req: Request, _ ctx: RelayRequestContext, json: Bool) async throws -> [String: String] {
        func bad(_ reason: String, _ status: HTTPResponse.Status = .badRequest) -> Refused {
            refuse(req, ctx, reason, json ? jsonResponse(status, ["error": .string("invalid_request")])
                                          : htmlResponse(status, Pages.message("Something went wrong", "Start again from the link in your terminal.")))
        }
        let type = req.headers[.contentType] ?? ""
        guard type.lowercased().hasPrefix("application/x-www-form-urlencoded") else { throw bad("body is not a form") }
        // A body announced over the cap is refused at once, not waited for.
        if let announced = req.headers[.contentLength], announced.utf8.count > 9 || (Int(announced) ?? 0) > RelaySettings.maxBodyBytes {
            throw bad("body over \(RelaySettings.maxBodyBytes) bytes", .contentTooLarge)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await req.body.collect(upTo: RelaySettings.maxBodyBytes)
        } catch {
            throw bad("body over \(RelaySettings.maxBodyBytes) bytes", .contentTooLarge)
        }
        switch RelayForm.fields(Substring(String(buffer: buffer))) {
        case .success(let fields): return fields
        case .failure(let problem): throw bad(problem.reason)
        }
    }

    func query(_ req: Request) -> [String: String]? {
        RelayForm.query(req.uri.query)
    }

    /// The host secret from `Authorization: Bearer …`, as the key its rate limit is counted under.
    func hostKey(_ req: Request, _ ctx: RelayRequestContext) throws -> String {
        let values = req.headers[values: .authorization]
        let unauthorized = jsonResponse(.unauthorized, ["error": .string("invalid_client")], extra: [.wwwAuthenticate: "Bearer"])
        guard values.count == 1, let value = values.first, value.hasPrefix("Bearer ") else {
            throw refuse(req, ctx, "no bearer host secret", unauthorized)
        }
        let presented = String(value.dropFirst(7)).trimmed()
        var match: String?
        for secret in settings.hostSecrets where Secrets.equal(secret, presented) { match = secret }
        guard let match else { throw refuse(req, ctx, "host secret not accepted", unauthorized) }
        return String(Secrets.digest(match).prefix(16))
    }

    // MARK: - the helper's endpoints

    func deviceAuthorization(_ req: Request, _ ctx: RelayRequestContext) async throws -> Response {
        let key = try hostKey(req, ctx)
        let f = try await form(req, ctx, json: true)
        func invalid(_ reason: String) -> Refused {
            refuse(req, ctx, reason, jsonResponse(.badRequest, ["error": .string("invalid_request")]))
        }
        let fields: RelayForm.DeviceAuthorizationRequest
        switch RelayForm.deviceAuthorization(f) {
        case .success(let checked): fields = checked
        case .failure(let problem): throw invalid(problem.reason)
        }
        let (challenge, nonce, scope) = (fields.codeChallenge, fields.nonce, fields.scope)
        let (host, user, rhost) = (fields.host, fields.user, fields.rhost)
        // How long the host will wait (optional): the sign-in ends when the host gives up.
        let lifetime: Int
        switch RelayRequests.requestedLifetime(f["expires_in"]) {
        case .success(let requested): lifetime = RelayRequests.lifetime(codeLifetime: config.codeLifetime, requested: requested)
        case .failure: throw invalid("expires_in is not whole seconds 1-\(RelayRequests.maxRequestedLifetime)")
        }

        let now = settings.now()
        purger.maybePurge(store: store, now: now, logger: ctx.logger)
        guard try await store.admit(event: "device_authorization", key: key, at: now, since: now - 60_000,
                                    limit: RelaySettings.deviceAuthorizationsPerMinute) != nil else {
            throw refuse(req, ctx, "over \(RelaySettings.deviceAuthorizationsPerMinute) device authorizations a minute for host secret \(key)",
                         jsonResponse(.tooManyRequests, ["error": .string("slow_down")], extra: [.retryAfter: "60"]))
        }

        var rng = SystemRandomNumberGenerator()
        let deviceCode = Secrets.random(bytes: 32)
        for _ in 0..<5 {
            let userCode = UserCode.generate(using: &rng)
            let record = SignInRecord(
                deviceHash: Secrets.digest(deviceCode), userCode: userCode, hostKey: key, codeChallenge: challenge,
                nonce: nonce, scope: scope, host: host, user: user, rhost: rhost, createdAt: now,
                expiresAt: now + Int64(lifetime) * 1000)
            guard try await store.insert(record) else { continue }
            let shown = UserCode.display(userCode)
            ctx.logger.info("relay: device authorization for host=\(JSONValue.quote(host)) user=\(JSONValue.quote(user)) addr=\(clientAddress(req, ctx))")
            return jsonResponse(.ok, [
                "device_code": .string(deviceCode),
                "user_code": .string(shown),
                "verification_uri": .string(config.verificationURI),
                "verification_uri_complete": .string(config.verificationURI + "?code=" + shown),
                "expires_in": .number(Double(lifetime)),
                "interval": .number(Double(RelaySettings.interval)),
            ])
        }
        throw refuse(req, ctx, "no free user code after 5 draws", jsonResponse(.serviceUnavailable, ["error": .string("temporarily_unavailable")]))
    }

    func token(_ req: Request, _ ctx: RelayRequestContext) async throws -> Response {
        let key = try hostKey(req, ctx)
        let f = try await form(req, ctx, json: true)
        let deviceCode: String
        switch RelayForm.tokenRequest(f) {
        case .success(let code): deviceCode = code
        case .failure(.unsupportedGrant):
            throw refuse(req, ctx, "grant_type is not the device code grant", jsonResponse(.badRequest, ["error": .string("unsupported_grant_type")]))
        case .failure(.noDeviceCode):
            throw refuse(req, ctx, "device_code missing", jsonResponse(.badRequest, ["error": .string("invalid_request")]))
        }
        let now = settings.now()
        purger.maybePurge(store: store, now: now, logger: ctx.logger)
        let answer = try await store.poll(deviceHash: Secrets.digest(deviceCode), hostKey: key, now: now,
                                          minGap: Int64(RelaySettings.interval) * 500)
        switch answer {
        case .code(let code):
            ctx.logger.info("relay: code handed to the host addr=\(clientAddress(req, ctx))")
            return jsonResponse(.ok, ["code": .string(code), "redirect_uri": .string(config.callbackURI)])
        case .pending: return jsonResponse(.badRequest, ["error": .string("authorization_pending")])
        case .slowDown: return jsonResponse(.badRequest, ["error": .string("slow_down")])
        case .denied:
            ctx.logger.notice("relay: sign-in denied, told the host addr=\(clientAddress(req, ctx))")
            return jsonResponse(.badRequest, ["error": .string("access_denied")])
        case .expired: return jsonResponse(.badRequest, ["error": .string("expired_token")])
        }
    }

    // MARK: - the person's pages

    /// The CSRF token of this browser: the cookie's, or a new one to set.
    func csrf(_ req: Request) -> (token: String, setCookie: [String]) {
        if let c = cookie(req, csrfCookie), c.utf8.count == 43, Syntax.isURLSafeToken(c) { return (c, []) }
        let t = Secrets.random(bytes: 32)
        return (t, [setCookie(csrfCookie, t, path: "/", maxAge: 3600)])
    }

    func checkedForm(_ req: Request, _ ctx: RelayRequestContext) async throws -> [String: String] {
        let f = try await form(req, ctx, json: false)
        guard let sent = f["csrf"], let held = cookie(req, csrfCookie), Secrets.equal(sent, held) else {
            throw refuse(req, ctx, "CSRF token missing or not this browser's",
                         htmlResponse(.forbidden, Pages.message("Start again", "This form was not sent from this browser's sign-in page. Open the link from your terminal again.")))
        }
        return f
    }

    /// Wrong codes are counted per IPv4 address and per IPv6 /64 (ClientAddress.lockoutKey).
    func lockoutKey(_ req: Request, _ ctx: RelayRequestContext) -> String {
        ClientAddress.lockoutKey(clientAddress(req, ctx))
    }

    /// One code submission: when, and which of the address's max_code_attempts places it took.
    struct CodeAttempt {
        let now: Int64
        let place: Int
    }

    var tooMany: Response {
        var r = htmlResponse(.tooManyRequests, Pages.message("Too many wrong codes", "Wait ten minutes, then try again with the code from your terminal."))
        r.headers[.retryAfter] = "600"
        return r
    }

    func codePage(_ req: Request, _ ctx: RelayRequestContext) async throws -> Response {
        let (token, cookies) = csrf(req)
        let typed = query(req)?["code"].flatMap(UserCode.normalize).map(UserCode.display) ?? ""
        return htmlResponse(.ok, Pages.codeForm(csrf: token, prefill: typed, message: nil), cookies: cookies)
    }

    /// A wrong, used or expired code (already counted against the address by `submittedCode`):
    /// the form again, or 429 when it took the last place.
    func wrongCode(_ req: Request, _ ctx: RelayRequestContext, _ attempt: CodeAttempt, reason: String,
                   message: String = "That code is not valid. Check the code in your terminal; it expires after a few minutes.") -> Refused {
        if attempt.place >= config.maxCodeAttempts {
            return refuse(req, ctx, "\(reason); \(config.maxCodeAttempts) wrong codes, locked out for 10 minutes", tooMany)
        }
        let (token, cookies) = csrf(req)
        return refuse(req, ctx, reason, htmlResponse(.badRequest, Pages.codeForm(csrf: token, prefill: "", message: message), cookies: cookies))
    }

    /// A code the store no longer offers: expired (its host gave up, or code_lifetime passed) gets
    /// words of its own while the row is still there; unknown and used codes the general ones.
    func unusableCode(_ req: Request, _ ctx: RelayRequestContext, code: String, _ attempt: CodeAttempt) async throws -> Refused {
        if try await store.expired(userCode: code, now: attempt.now) {
            return wrongCode(req, ctx, attempt, reason: "user code expired (its host stopped waiting, or code_lifetime passed)",
                             message: "This sign-in has expired; start again at your terminal.")
        }
        return wrongCode(req, ctx, attempt, reason: "user code unknown, used or expired")
    }

    /// What both code forms start with: the CSRF-checked form, the lockout, a well-formed user code.
    func submittedCode(_ req: Request, _ ctx: RelayRequestContext) async throws -> (form: [String: String], code: String, attempt: CodeAttempt) {
        let f = try await checkedForm(req, ctx)
        let now = settings.now()
        // Every submission takes one of the address's max_code_attempts places before its code is
        // looked at, in one step with the count, so guesses sent at once cannot overrun the limit;
        // a code that turns out usable gives its place back (`usable`).
        guard let place = try await store.admit(event: "wrong_code", key: lockoutKey(req, ctx), at: now,
                                                since: now - RelaySettings.attemptWindowMs, limit: config.maxCodeAttempts) else {
            throw refuse(req, ctx, "address locked out after wrong codes", tooMany)
        }
        let attempt = CodeAttempt(now: now, place: place)
        guard let code = f["code"].flatMap(UserCode.normalize) else {
            throw wrongCode(req, ctx, attempt, reason: "user code malformed")
        }
        return (f, code, attempt)
    }

    /// The submitted code was usable: its place among the wrong codes is given back.
    func usable(_ req: Request, _ ctx: RelayRequestContext, _ attempt: CodeAttempt) async throws {
        try await store.release(event: "wrong_code", key: lockoutKey(req, ctx), at: attempt.now)
    }

    func codeSubmitted(_ req: Request, _ ctx: RelayRequestContext) async throws -> Response {
        let (_, code, attempt) = try await submittedCode(req, ctx)
        guard let record = try await store.pending(userCode: code, now: attempt.now) else {
            throw try await unusableCode(req, ctx, code: code, attempt)
        }
        try await usable(req, ctx, attempt)
        let (token, cookies) = csrf(req)
        return htmlResponse(.ok, Pages.confirm(csrf: token, record: record), cookies: cookies)
    }

    func confirmed(_ req: Request, _ ctx: RelayRequestContext) async throws -> Response {
        let (f, code, attempt) = try await submittedCode(req, ctx)
        let now = attempt.now
        switch f["action"] {
        case "deny":
            guard try await store.deny(userCode: code, now: now) else {
                throw try await unusableCode(req, ctx, code: code, attempt)
            }
            try await usable(req, ctx, attempt)
            ctx.logger.notice("relay: the person refused the sign-in addr=\(clientAddress(req, ctx))")
            return htmlResponse(.ok, Pages.message("Sign-in refused", "Nobody is signed in with this code. You can close this page."))
        case "continue":
            let state = Secrets.random(bytes: 16)
            guard let record = try await store.confirm(userCode: code, stateHash: Secrets.digest(state), now: now) else {
                throw try await unusableCode(req, ctx, code: code, attempt)
            }
            try await usable(req, ctx, attempt)
            let url = AuthorizeURL.build(endpoint: settings.authorizeEndpoint, clientId: config.provider.clientId,
                                         redirectURI: config.callbackURI, scope: record.scope, state: state,
                                         nonce: record.nonce, codeChallenge: record.codeChallenge)
            let left = max(1, Int((record.expiresAt - now) / 1000))
            return htmlResponse(.found, Pages.message("Continue to sign in", "Your browser is taken to the sign-in page."),
                                cookies: [setCookie(stateCookie, state, path: "/callback", maxAge: left)], location: url)
        default:
            throw refuse(req, ctx, "action is neither continue nor deny",
                         htmlResponse(.badRequest, Pages.message("Something went wrong", "Start again from the link in your terminal.")))
        }
    }

    func callback(_ req: Request, _ ctx: RelayRequestContext) async throws -> Response {
        let clear = setCookie(stateCookie, "", path: "/callback", maxAge: 0)
        func refused(_ reason: String, _ text: String) -> Refused {
            refuse(req, ctx, reason, htmlResponse(.badRequest, Pages.message("Sign-in not completed", text), cookies: [clear]))
        }
        guard let q = query(req) else { throw refused("callback query malformed or repeated", "This address is not a sign-in answer.") }
        guard let state = q["state"], !state.isEmpty else { throw refused("callback without state", "This address is not a sign-in answer.") }
        guard let held = cookie(req, stateCookie), Secrets.equal(held, state) else {
            throw refused("callback state is not this browser's", "This sign-in was not started in this browser. Start again from the link in your terminal.")
        }
        let now = settings.now()
        if let error = q["error"] {
            guard try await store.finish(stateHash: Secrets.digest(state), code: nil, now: now) else {
                throw refused("callback for an unknown or expired sign-in", "This sign-in has expired. Start again from your terminal.")
            }
            ctx.logger.notice("relay: Cognito answered error=\(JSONValue.quote(String(error.prefix(64)))) addr=\(clientAddress(req, ctx))")
            return htmlResponse(.ok, Pages.message("Sign-in cancelled", "Nobody was signed in. You can close this page."), cookies: [clear])
        }
        guard let code = q["code"], RelayForm.isWellFormedCode(code) else {
            throw refused("callback without a well-formed code", "This address is not a sign-in answer.")
        }
        guard try await store.finish(stateHash: Secrets.digest(state), code: code, now: now) else {
            throw refused("callback for an unknown, finished or expired sign-in", "This sign-in has expired or is already complete. Start again from your terminal.")
        }
        ctx.logger.info("relay: signed in, code waiting for the host addr=\(clientAddress(req, ctx))")
        return htmlResponse(.ok, Pages.signedIn, cookies: [clear])
    }
}

/// Deletes expired rows at most every 30 s, off the request's path.
final class Purger: Sendable {
    private let last = Mutex<Int64>(0)

    func maybePurge<S: RelayStore>(store: S, now: Int64, logger: Logger) {
        let due = last.withLock { last -> Bool in
            guard now - last >= 30_000 else { return false }
            last = now
            return true
        }
        guard due else { return }
        Task {
            do { try await store.purge(now: now, eventsBefore: now - RelaySettings.attemptWindowMs) }
            catch { logger.error("relay: purge failed: \(String(describing: error).prefix(200))") }
        }
    }
}

extension HTTPField.Name {
    // Names HTTPTypes does not list; each literal is a valid token, the fallback never taken.
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For") ?? .via
    static let pragma = HTTPField.Name("Pragma") ?? .cacheControl
    static let xFrameOptions = HTTPField.Name("X-Frame-Options") ?? .contentSecurityPolicy
    static let referrerPolicy = HTTPField.Name("Referrer-Policy") ?? .contentSecurityPolicy
}
