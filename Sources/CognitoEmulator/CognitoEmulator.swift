import CognitoAuthCore
import Foundation

public enum CognitoEmulatorError: Error, Equatable, CustomStringConvertible {
    case unknownUser(String)
    case keyGeneration(String)

    public var description: String {
        switch self {
        case .unknownUser(let who): return "no user \(who) in the emulated pool"
        case .keyGeneration(let why): return "RSA key generation failed: \(why)"
        }
    }
}

/// A Cognito user pool with one app client and its hosted UI, served on 127.0.0.1.
///
/// Endpoints (as Cognito lays them out, on one origin):
/// `/<pool>/.well-known/openid-configuration`, `/<pool>/.well-known/jwks.json`,
/// `/oauth2/authorize` (302 to `/login`), `/login` (sign-in form), `/oauth2/token`,
/// `/oauth2/userInfo`, `/oauth2/revoke`, `/logout`, `/error`, and the admin API under `/_emulator/`.
///
/// Thread-safe: every member may be used from any thread; state sits behind one lock.
public final class CognitoEmulator: @unchecked Sendable {
    public let region: String
    public let userPoolId: String
    public let client: EmulatorClient

    let lock = NSLock()
    var users: [EmulatorUser]
    var keys: KeyRing? = nil
    var fault: TokenFault? = nil
    var codes: [String: AuthorizationCode] = [:]
    var refreshGrants: [String: RefreshGrant] = [:]
    var revokedOriginJtis: Set<String> = []
    var counts: [String: Int] = [:]
    var outages: Set<String> = []
    var slow: [String: Int] = [:]
    var oversize: [String: Int] = [:]
    var clockOffset: TimeInterval = 0
    var _clock: @Sendable () -> Date = { Date() }
    var server: HTTPServer? = nil
    var boundPort: UInt16 = 0
    var servesTLS = false
    var device = DeviceSettings()
    var deviceGrants: [String: DeviceGrant] = [:]
    var deviceOrder: [String] = []

    static let codeLifetime: TimeInterval = 300

    /// The pool's signing keys (three 2048-bit RSA keys: ID, access, and one never published, for
    /// faults) are generated once, by the first `start()` (or `mintTokens`/`rotateSigningKey`).
    public init(region: String = "us-east-1", userPoolId: String = "us-east-1_Example",
                client: EmulatorClient, users: [EmulatorUser] = []) {
        self.region = region
        self.userPoolId = userPoolId
        self.client = client
        self.users = users
    }

    /// The key ring, generated on first use.
    func keyRing() throws -> KeyRing {
        if let ring = lock.withLock({ keys }) { return ring }
        let fresh: KeyRing
        do {
            fresh = KeyRing(idKey: try SigningKey.generate(), accessKey: try SigningKey.generate(),
                            unpublishedKey: try SigningKey.generate())
        } catch {
            throw CognitoEmulatorError.keyGeneration(String(describing: error))
        }
        return lock.withLock {
            if let ring = keys { return ring }  // another thread won the race
            keys = fresh
            return fresh
        }
    }

    deinit {
        server?.stop()
    }

    // MARK: - Server

    /// Serves on 127.0.0.1:`port` (0 = an ephemeral port) and returns the port; with `tls`, HTTPS
    /// only, and every URL the pool advertises is then `https://127.0.0.1:PORT/…` (so the
    /// certificate must name IP address 127.0.0.1). Throws `HTTPServerError` when the port cannot
    /// be bound or the emulator is already serving.
    @discardableResult
    public func start(port: UInt16 = 0, tls: EmulatorTLS? = nil) throws -> UInt16 {
        if lock.withLock({ self.server != nil }) { throw HTTPServerError.alreadyStarted }
        _ = try keyRing()
        let server = HTTPServer(tls: tls) { [weak self] request in
            guard let self else { return HTTPResponse(status: 503, text: "emulator stopped\n") }
            return self.handle(request)
        }
        let bound = try server.start(port: port)
        let won = lock.withLock { () -> Bool in
            guard self.server == nil else { return false }  // a concurrent start() got there first
            self.server = server
            self.boundPort = bound
            self.servesTLS = tls != nil
            return true
        }
        guard won else {
            server.stop()
            throw HTTPServerError.alreadyStarted
        }
        return bound
    }

    /// Stops serving; the port refuses connections when this returns. State (users, keys, codes)
    /// is kept, so `start` may be called again.
    public func stop() {
        let s = lock.withLock { () -> HTTPServer? in
            let s = server
            server = nil
            return s
        }
        s?.stop()
    }

    public var port: UInt16 { lock.withLock { boundPort } }

    /// `http://127.0.0.1:PORT`, or `https://…` when serving TLS.
    public var baseURL: String {
        let (tls, port) = lock.withLock { (servesTLS, boundPort) }
        return "\(tls ? "https" : "http")://127.0.0.1:\(port)"
    }

    /// `<baseURL>/<userPoolId>`: stands in for
    /// `https://cognito-idp.<region>.amazonaws.com/<userPoolId>`.
    public var issuer: String { baseURL + "/" + userPoolId }

    public var discoveryURL: String { issuer + "/.well-known/openid-configuration" }
    public var jwksURL: String { issuer + "/.well-known/jwks.json" }
    public var authorizeEndpoint: String { baseURL + "/oauth2/authorize" }
    public var tokenEndpoint: String { baseURL + "/oauth2/token" }
    public var userInfoEndpoint: String { baseURL + "/oauth2/userInfo" }

    // MARK: - Test controls

    public func addUser(_ u: EmulatorUser) {
        lock.withLock {
            users.removeAll { $0.email.lowercased() == u.email.lowercased() || $0.sub == u.sub }
            users.append(u)
        }
    }

    public func user(email: String) -> EmulatorUser? {
        lock.withLock { users.first { $0.email.lowercased() == email.lowercased() } }
    }

    /// Every ID token issued from now on carries `f` (nil clears).
    public func setFault(_ f: TokenFault?) {
        lock.withLock { fault = f }
    }

    public var currentFault: TokenFault? { lock.withLock { fault } }

    /// A new ID-token key under a new `kid`; the old one leaves the JWKS (and stays available to
    /// the `removed_key` fault). Returns the new kid.
    @discardableResult
    public func rotateSigningKey() throws -> String {
        let fresh: SigningKey
        do { fresh = try SigningKey.generate() } catch {
            throw CognitoEmulatorError.keyGeneration(String(describing: error))
        }
        var ring = try keyRing()
        lock.withLock {
            ring = keys ?? ring
            ring.retiredIDKeys.append(ring.idKey)
            ring.idKey = fresh
            keys = ring
        }
        return fresh.kid
    }

    /// The `kid`s the JWKS publishes now: (ID-token key, access-token key); nil before the keys exist.
    public var keyIDs: (idToken: String, accessToken: String)? {
        lock.withLock { keys.map { ($0.idKey.kid, $0.accessKey.kid) } }
    }

    /// The JWKS document as served.
    public func jwksJSON() throws -> String {
        try keyRing().jwks().text
    }

    /// Requests served per endpoint: "discovery", "jwks", "authorize", "login", "token",
    /// "userinfo", "revoke", "logout", "error", "admin", "other".
    public func requestCount(_ endpoint: String) -> Int {
        lock.withLock { counts[endpoint] ?? 0 }
    }

    /// Endpoints ("discovery", "jwks", "authorize", "token", "userinfo") that answer 503 until
    /// cleared with an empty set.
    public func setOutage(_ endpoints: Set<String>) {
        lock.withLock { outages = endpoints }
    }

    /// Endpoints that answer only after that many seconds (at most 600) until cleared with `[:]`.
    public func setSlow(_ endpoints: [String: Int]) {
        lock.withLock { slow = endpoints.mapValues { min(max($0, 0), 600) } }
    }

    /// Endpoints whose response bodies are padded with JSON whitespace to that many bytes (at most
    /// 64 MiB) until cleared with `[:]`.
    public func setOversize(_ endpoints: [String: Int]) {
        lock.withLock { oversize = endpoints.mapValues { min(max($0, 0), 64 << 20) } }
    }

    public func resetRequestCounts() {
        lock.withLock { counts = [:] }
    }

    /// The emulator's clock (default `Date()`); codes and tokens are timed by it.
    public var clock: @Sendable () -> Date {
        get { lock.withLock { _clock } }
        set { lock.withLock { _clock = newValue } }
    }

    /// Moves the emulator's clock by `seconds` on top of `clock` (the admin API's `/_emulator/clock`).
    public func advanceClock(by seconds: TimeInterval) {
        lock.withLock { clockOffset += seconds }
    }

    /// Now by the emulator's clock. Call without the lock held.
    func now() -> Date {
        let (c, offset) = lock.withLock { (_clock, clockOffset) }
        return c().addingTimeInterval(offset)
    }

    /// Mints tokens for a user directly, without the browser flow (for tests of token checks).
    /// The current fault applies to the ID token. `idToken` is nil without the `openid` scope.
    public func mintTokens(email: String, scopes: [String] = ["openid", "email"], nonce: String? = nil,
                           authTime: Date? = nil) throws -> (idToken: String?, accessToken: String) {
        guard let u = user(email: email) else { throw CognitoEmulatorError.unknownUser(email) }
        let now = Int(self.now().timeIntervalSince1970)
        let ring = try keyRing()
        let f = lock.withLock { fault }
        let context = TokenContext(issuer: issuer, clientId: client.clientId, user: u, scopes: scopes, nonce: nonce,
                                   authTime: authTime.map { Int($0.timeIntervalSince1970) } ?? now, now: now,
                                   originJti: randomUUID(), eventId: randomUUID())
        let access = try TokenMinter.accessToken(context, keys: ring)
        let id = scopes.contains("openid") ? try TokenMinter.idToken(context, accessToken: access, keys: ring, fault: f) : nil
        return (id, access)
    }

    func count(_ endpoint: String) {
        lock.withLock { counts[endpoint, default: 0] += 1 }
    }
}

/// An issued authorization code, single use, 5 minutes.
struct AuthorizationCode: Sendable {
    var clientId: String
    var redirectURI: String
    var userSub: String
    var scopes: [String]
    var nonce: String?
    var codeChallenge: String?
    var authTime: Int
    var issuedAt: Date
}

/// A refresh token's grant: refreshed tokens keep the first sign-in's `auth_time` and `origin_jti`.
struct RefreshGrant: Sendable {
    var clientId: String
    var userSub: String
    var scopes: [String]
    var authTime: Int
    var originJti: String
}
