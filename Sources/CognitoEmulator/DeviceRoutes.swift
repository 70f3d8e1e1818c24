import CognitoAuthCore
import Foundation

/// A generic-OIDC device mode (RFC 8628), so `flow = device` is tested without a real IdP. Off by
/// default (Cognito has no device endpoint); on through `cognito-auth emulator --device` or
/// `POST /_emulator/device {"enabled": true}`. Then discovery lists
/// `device_authorization_endpoint` (`/oauth2/device_authorization`), `/device` serves the
/// user-code form and then the sign-in form, and the token endpoint takes the device-code grant.
///
/// Test controls (`POST /_emulator/device`): `interval` (default 1 s), `expires_in` (600 s),
/// `force` (`access_denied`, `expired_token` or null: every poll answers that), `slow_down` (the
/// next N polls answer `slow_down`). A poll sooner than its code's interval after the previous
/// one answers `slow_down` too, and each `slow_down` adds 5 s to that code's interval, as a strict
/// IdP does. `GET /_emulator/device` lists every device code's polls (seconds since its issue)
/// and answers, so a test can see the spacing.
struct DeviceGrant: Sendable {
    var userCode: String
    var scopes: [String]
    var issuedAt: Date
    var expiresIn: Int
    var interval: Double
    var approvedSub: String?
    var authTime: Int?
    var denied = false
    var redeemed = false
    var lastPoll: Date?
    var polls: [(Double, String)] = []
}

struct DeviceSettings: Sendable {
    var enabled = false
    var interval = 1
    var expiresIn = 600
    var force: String?
    var slowDown = 0
}

extension CognitoEmulator {
    /// Slack for a poll that arrives a little before its interval (connection set-up jitter).
    static let pollSlack: TimeInterval = 0.25

    public var deviceModeEnabled: Bool {
        get { lock.withLock { device.enabled } }
        set { lock.withLock { device.enabled = newValue } }
    }

    /// POST /oauth2/device_authorization (RFC 8628 §3.1–3.2).
    func handleDeviceAuthorization(_ request: HTTPRequest) -> HTTPResponse {
        guard lock.withLock({ device.enabled }) else { return Respond.notFound() }
        guard request.method == "POST" else { return Respond.methodNotAllowed("POST") }
        guard let pairs = FormURLEncoding.decode(Substring(decoding: request.body, as: UTF8.self)),
              let params = uniqueParameters(pairs) else {
            return Respond.oauthError(400, "invalid_request")
        }
        if let failure = clientAuthFailure(request, params) { return failure }
        let scopes = (params["scope"] ?? "openid").split(separator: " ").map(String.init).filter { client.allowedScopes.contains($0) }
        var rng = SystemRandomNumberGenerator()
        let deviceCode = Base64URL.encode(randomBytes(32))
        let userCode = UserCode.display(UserCode.generate(using: &rng))
        let now = self.now()
        let settings = lock.withLock { () -> DeviceSettings in
            deviceGrants[deviceCode] = DeviceGrant(userCode: userCode, scopes: scopes, issuedAt: now,
                                                   expiresIn: device.expiresIn, interval: Double(device.interval))
            deviceOrder.append(deviceCode)
            return device
        }
        let verify = baseURL + "/device"
        return Respond.json(200, .object([
            ("device_code", .string(deviceCode)),
            ("user_code", .string(userCode)),
            ("verification_uri", .string(verify)),
            ("verification_uri_complete", .string(verify + "?" + FormURLEncoding.encodeQuery([("user_code", userCode)]))),
            ("expires_in", .int(settings.expiresIn)),
            ("interval", .int(settings.interval)),
        ]), extraHeaders: [("Cache-Control", "no-store")])
    }

    /// The device-code grant at /oauth2/token (RFC 8628 §3.4–3.5).
    func redeemDeviceCode(_ params: [String: String]) -> HTTPResponse {
        guard lock.withLock({ device.enabled }) else { return Respond.oauthError(400, "unsupported_grant_type") }
        guard let code = params["device_code"] else { return Respond.oauthError(400, "invalid_request") }
        let now = self.now()
        enum Answer { case error(String), issue(String, [String], Int) }
        let answer: Answer = lock.withLock {
            guard var g = deviceGrants[code] else { return .error("invalid_grant") }
            let since = g.lastPoll.map { now.timeIntervalSince($0) }
            g.lastPoll = now
            let result: Answer
            if let forced = device.force {
                result = .error(forced)
            } else if now.timeIntervalSince(g.issuedAt) > Double(g.expiresIn) || g.redeemed {
                result = .error("expired_token")
            } else if device.slowDown > 0 || (since.map { $0 < g.interval - Self.pollSlack } ?? false) {
                if device.slowDown > 0 { device.slowDown -= 1 }
                g.interval += 5
                result = .error("slow_down")
            } else if g.denied {
                result = .error("access_denied")
            } else if let sub = g.approvedSub, let authTime = g.authTime {
                g.redeemed = true
                result = .issue(sub, g.scopes, authTime)
            } else {
                result = .error("authorization_pending")
            }
            let name: String
            switch result {
            case .error(let e): name = e
            case .issue: name = "granted"
            }
            g.polls.append((now.timeIntervalSince(g.issuedAt), name))
            deviceGrants[code] = g
            return result
        }
        switch answer {
        case .error(let e): return Respond.oauthError(400, e)
        case .issue(let sub, let scopes, let authTime):
            guard let user = lock.withLock({ users.first { $0.sub == sub } }) else { return Respond.oauthError(400, "invalid_grant") }
            return issueTokens(user: user, scopes: scopes, nonce: nil, authTime: authTime, now: now)
        }
    }

    /// GET /device[?user_code=…] → the user-code form; POST /device with `user_code` → the sign-in
    /// form; POST with `user_code`, `username`, `password` → signed in (or `action=deny` → denied).
    func handleDevicePage(_ request: HTTPRequest) -> HTTPResponse {
        guard lock.withLock({ device.enabled }) else { return Respond.notFound() }
        let query = request.query.flatMap { FormURLEncoding.decode($0) }.flatMap(uniqueParameters) ?? [:]
        switch request.method {
        case "GET":
            return Respond.html(200, HostedUI.deviceCodePage(prefill: query["user_code"] ?? "", error: nil))
        case "POST":
            break
        default:
            return Respond.methodNotAllowed("GET, POST")
        }
        guard let form = FormURLEncoding.decode(Substring(decoding: request.body, as: UTF8.self)),
              let fields = uniqueParameters(form), let typed = fields["user_code"] else {
            return Respond.html(200, HostedUI.deviceCodePage(prefill: "", error: "Enter the code shown on your device."))
        }
        let wanted = UserCode.display(typed.trimmingCharacters(in: .whitespaces))
        let now = self.now()
        let found = lock.withLock {
            deviceGrants.first { sameBytes($0.value.userCode, wanted) && now.timeIntervalSince($0.value.issuedAt) <= Double($0.value.expiresIn)
                && $0.value.approvedSub == nil && !$0.value.denied }?.key
        }
        guard let deviceCode = found else {
            return Respond.html(200, HostedUI.deviceCodePage(prefill: typed, error: "That code is not valid or has expired."))
        }
        if fields["action"] == "deny" {
            lock.withLock { deviceGrants[deviceCode]?.denied = true }
            return Respond.html(200, HostedUI.deviceDonePage("Sign-in refused. You can close this page."))
        }
        guard let username = fields["username"], let password = fields["password"] else {
            return Respond.html(200, HostedUI.deviceSignInPage(userCode: wanted, poolId: userPoolId, error: nil))
        }
        let match = lock.withLock {
            users.first { $0.email.lowercased() == username.lowercased() || sameBytes($0.username, username) }
        }
        guard let user = match, constantTimeEqual(user.password, password) else {
            return Respond.html(200, HostedUI.deviceSignInPage(userCode: wanted, poolId: userPoolId, error: "Incorrect username or password."))
        }
        lock.withLock {
            deviceGrants[deviceCode]?.approvedSub = user.sub
            deviceGrants[deviceCode]?.authTime = Int(now.timeIntervalSince1970)
        }
        return Respond.html(200, HostedUI.deviceDonePage("Signed in. Return to your terminal and press Enter."))
    }

    /// GET/POST /_emulator/device.
    func adminDevice(_ request: HTTPRequest) -> HTTPResponse {
        if request.method == "GET" { return deviceSnapshot() }
        guard request.method == "POST" else { return Respond.methodNotAllowed("GET, POST") }
        return adminDeviceSet(request)
    }

    /// The device settings and every device code's polls (ms since issue, answer).
    private func deviceSnapshot() -> HTTPResponse {
        let (settings, grants) = lock.withLock { (device, deviceOrder.compactMap { deviceGrants[$0] }) }
        return Respond.json(200, .object([
            ("enabled", .bool(settings.enabled)), ("interval", .int(settings.interval)),
            ("expires_in", .int(settings.expiresIn)), ("force", settings.force.map { .string($0) } ?? .null),
            ("codes", .array(grants.map { g in .object([
                ("user_code", .string(g.userCode)),
                ("interval", .int(Int(g.interval))),
                ("polls", .array(g.polls.map { .object([("at_ms", .int(Int($0.0 * 1000))), ("answer", .string($0.1))]) })),
            ]) })),
        ]))
    }

    private func adminDeviceSet(_ request: HTTPRequest) -> HTTPResponse {
        guard let body = try? JSONDecoder().decode(AdminDeviceBody.self, from: Data(request.body)),
              body.interval.map({ (0...60).contains($0) }) ?? true, body.expires_in.map({ (1...3600).contains($0) }) ?? true,
              body.slow_down.map({ (0...100).contains($0) }) ?? true,
              [nil, "access_denied", "expired_token", "authorization_pending"].contains(body.force ?? nil) else {
            return Respond.json(400, .object([("error", .string("invalid_request")), ("error_description", .string(
                "expected {\"enabled\"?: bool, \"interval\"?: 0..60, \"expires_in\"?: 1..3600, \"slow_down\"?: n, "
                + "\"force\"?: access_denied | expired_token | authorization_pending | null}"))]))
        }
        lock.withLock {
            if let e = body.enabled { device.enabled = e }
            if let i = body.interval { device.interval = i }
            if let x = body.expires_in { device.expiresIn = x }
            if let n = body.slow_down { device.slowDown = n }
            if body.hasForce { device.force = body.force ?? nil }
        }
        return deviceSnapshot()
    }
}

private struct AdminDeviceBody: Decodable {
    var enabled: Bool?
    var interval: Int?
    var expires_in: Int?
    var slow_down: Int?
    var force: String??
    var hasForce = false

    enum CodingKeys: String, CodingKey { case enabled, interval, expires_in, slow_down, force }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled)
        interval = try c.decodeIfPresent(Int.self, forKey: .interval)
        expires_in = try c.decodeIfPresent(Int.self, forKey: .expires_in)
        slow_down = try c.decodeIfPresent(Int.self, forKey: .slow_down)
        if c.contains(.force) {
            hasForce = true
            force = .some(try c.decodeNil(forKey: .force) ? nil : c.decode(String.self, forKey: .force))
        }
    }
}
