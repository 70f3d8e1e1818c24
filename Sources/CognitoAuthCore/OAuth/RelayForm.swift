/// The relay's parsing of what browsers and hosts send it (ARCHITECTURE.md §7): forms, queries,
/// cookies, `X-Forwarded-For` and the fields of its two host endpoints. Pure functions of text,
/// so they run under the fuzzer (DESIGN.md §11) without Hummingbird; `CognitoRelay` calls them.
public enum RelayForm {
    /// A form body or a query that cannot be read, with the reason the relay logs.
    public struct Problem: Error, Sendable, Equatable {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
    }

    /// `name=value&…` strictly decoded (FormURLEncoding); a name sent twice makes the whole text
    /// invalid, so one request has one meaning.
    public static func fields(_ text: Substring) -> Result<[String: String], Problem> {
        guard let pairs = FormURLEncoding.decode(text) else { return .failure(Problem("malformed form encoding")) }
        var out: [String: String] = [:]
        for (k, v) in pairs {
            guard out[k] == nil else { return .failure(Problem("field \(Syntax.visible(k.prefix(40))) repeated")) }
            out[k] = v
        }
        return .success(out)
    }

    /// A request's query as fields: none for no query, nil when malformed or a name repeats.
    public static func query(_ query: String?) -> [String: String]? {
        guard let q = query, !q.isEmpty else { return [:] }
        guard case .success(let f) = fields(Substring(q)) else { return nil }
        return f
    }

    /// The value of cookie `name` across every `Cookie` header; two cookies of one name: neither counts.
    public static func cookie(_ headerValues: [String], _ name: String) -> String? {
        var found: [String] = []
        for header in headerValues {
            for part in header.split(separator: ";") {
                let t = part.trimmed()
                guard let eq = t.firstIndex(of: "="), t[..<eq] == name else { continue }
                found.append(String(t[t.index(after: eq)...]))
            }
        }
        return found.count == 1 ? found[0] : nil
    }

    /// The client address for the lockout, given the TCP peer and the `X-Forwarded-For` values:
    /// only a loopback peer (the TLS terminator on this machine) is believed, and only the last
    /// entry of the last header, the one the terminator appended.
    public static func clientAddress(peer: String?, forwardedFor: [String]) -> String {
        guard let peer else { return "unknown" }
        guard peer.hasPrefix("127.") || peer == "::1" || peer == "::ffff:127.0.0.1",
              let xff = forwardedFor.last else { return peer }
        let last = xff.split(separator: ",").last.map { $0.trimmed() } ?? ""
        guard !last.isEmpty, last.utf8.count <= 45,
              last.utf8.allSatisfy({ Syntax.isHexDigitOrSeparator($0) }) else { return peer }
        return last
    }

    /// `POST /device_authorization`'s fields once each has its form.
    public struct DeviceAuthorizationRequest: Sendable, Equatable {
        public var codeChallenge: String
        public var nonce: String
        public var scope: String
        public var host: String
        public var user: String
        public var rhost: String
    }

    /// Checks `POST /device_authorization`'s fields; the failure is the reason the relay logs
    /// before its 400 `invalid_request`.
    public static func deviceAuthorization(_ f: [String: String]) -> Result<DeviceAuthorizationRequest, Problem> {
        guard let challenge = f["code_challenge"], challenge.utf8.count == 43, Base64URL.decode(Substring(challenge))?.count == 32 else {
            return .failure(Problem("code_challenge is not a base64url SHA-256"))
        }
        guard f["code_challenge_method"] == "S256" else { return .failure(Problem("code_challenge_method is not S256")) }
        guard let nonce = f["nonce"], (16...128).contains(nonce.utf8.count), Syntax.isURLSafeToken(nonce) else {
            return .failure(Problem("nonce missing or not 16-128 URL-safe characters"))
        }
        guard let scope = f["scope"], scope.utf8.count <= 512,
              case let scopes = scope.split(separator: " ", omittingEmptySubsequences: false),
              scopes.contains("openid"), scopes.allSatisfy({ Syntax.isScopeToken($0) }) else {
            return .failure(Problem("scope missing, without openid, or malformed"))
        }
        guard let host = f["host"], (1...255).contains(host.utf8.count), Syntax.isPrintableASCII(host) else {
            return .failure(Problem("host missing or not printable ASCII"))
        }
        guard let user = f["user"], (1...64).contains(user.utf8.count), Syntax.isPrintableASCII(user) else {
            return .failure(Problem("user missing or not printable ASCII"))
        }
        let rhost = f["rhost"] ?? ""
        guard rhost.utf8.count <= 255, rhost.isEmpty || Syntax.isPrintableASCII(rhost) else {
            return .failure(Problem("rhost not printable ASCII"))
        }
        return .success(DeviceAuthorizationRequest(codeChallenge: challenge, nonce: nonce, scope: scope, host: host,
                                                   user: user, rhost: rhost))
    }

    /// Why `POST /token` was refused before the store was asked.
    public enum TokenProblem: Error, Sendable, Equatable {
        /// 400 `unsupported_grant_type`.
        case unsupportedGrant
        /// 400 `invalid_request`.
        case noDeviceCode
    }

    /// `POST /token`'s device code.
    public static func tokenRequest(_ f: [String: String]) -> Result<String, TokenProblem> {
        guard f["grant_type"] == RelayRequests.deviceCodeGrant else { return .failure(.unsupportedGrant) }
        guard let deviceCode = f["device_code"], (1...128).contains(deviceCode.utf8.count) else { return .failure(.noDeviceCode) }
        return .success(deviceCode)
    }

    /// `GET /callback`'s answer from Cognito, once the state cookie has been compared.
    public static func isWellFormedCode(_ code: String) -> Bool {
        (1...1024).contains(code.utf8.count) && Syntax.isURLSafeToken(code)
    }
}
