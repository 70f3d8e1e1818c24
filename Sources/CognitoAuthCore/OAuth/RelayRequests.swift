import FoundationEssentials

/// The helper's side of the relay contract (DESIGN.md §7, `cognito-auth-relay`), as pure values:
/// the forms it posts and what it accepts back. Every request carries
/// `Authorization: Bearer <host secret>`; the secret never goes into a form or a log.
public enum RelayRequests {
    public static let deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

    /// `<relay_url>/device_authorization` and `<relay_url>/token` (no doubled slash).
    public static func endpoint(_ relayURL: String, _ path: String) -> String {
        (relayURL.hasSuffix("/") ? String(relayURL.dropLast()) : relayURL) + "/" + path
    }

    /// The `user` field when no account is named (`cognito-auth test` and `demo` sign in before any
    /// account is known): the relay needs one (printable ASCII, no spaces), and its confirmation
    /// page shows it to the person.
    public static let noAccountNamed = "(cognito-auth-test)"

    /// The largest `expires_in` a host asks for (login_timeout's own upper bound).
    public static let maxRequestedLifetime = 3600

    /// `POST /device_authorization`: only the PKCE challenge leaves the host, never the verifier.
    /// `waitSeconds` is how long this host will wait for the sign-in (what is left of its
    /// login_timeout), sent as `expires_in` so the relay gives up when the host does (ARCHITECTURE.md
    /// §7, an addition to DESIGN.md §7's form). Rounded down, so the relay never outlasts the host.
    public static func deviceAuthorizationForm(secrets: SignInSecrets, scopes: [String], host: String, user: String,
                                               rhost: String, waitSeconds: Int) -> [(String, String)] {
        [
            ("code_challenge", secrets.codeChallenge),
            ("code_challenge_method", "S256"),
            ("nonce", secrets.nonce),
            ("scope", scopes.joined(separator: " ")),
            ("host", host),
            ("user", user.isEmpty ? noAccountNamed : user),
            ("rhost", rhost),
            ("expires_in", String(min(max(waitSeconds, 1), maxRequestedLifetime))),
        ]
    }

    /// The relay's reading of the optional `expires_in` field: absent (`.success(nil)`), whole
    /// seconds 1…3600 written as plain digits, or not acceptable (`.failure`, a 400).
    public static func requestedLifetime(_ field: String?) -> Result<Int?, Refusal> {
        guard let field else { return .success(nil) }
        guard (1...4).contains(field.utf8.count), Syntax.isDigits(Substring(field)), let n = Int(field),
              (1...maxRequestedLifetime).contains(n) else {
            return .failure(Refusal(.deviceAuthorizationFailed, "expires_in is not whole seconds 1-\(maxRequestedLifetime)"))
        }
        return .success(n)
    }

    /// How long the relay keeps a sign-in: its own `code_lifetime`, shortened to what the host said
    /// it will wait.
    public static func lifetime(codeLifetime: Int, requested: Int?) -> Int {
        requested.map { min($0, codeLifetime) } ?? codeLifetime
    }

    /// `POST /token`, one poll.
    public static func tokenForm(deviceCode: String) -> [(String, String)] {
        [("grant_type", deviceCodeGrant), ("device_code", deviceCode)]
    }

    /// The relay's 200 to a poll: the authorization code Cognito gave it and the redirect URI that
    /// code was issued for (the helper redeems it with its verifier and client secret).
    public struct Grant: Sendable, Equatable {
        public var code: String
        public var redirectURI: String
    }

    public static func parseGrant(_ body: Data) -> Result<Grant, Refusal> {
        guard let doc = JSONValue.parseObject(body) else {
            return .failure(Refusal(.deviceAuthorizationFailed, "relay token answer is not a JSON object"))
        }
        guard let code = doc["code"]?.stringValue, !code.isEmpty, code.utf8.count <= 2048,
              DeviceAuthorization.isPrintable(code), !code.contains(" ") else {
            return .failure(Refusal(.deviceAuthorizationFailed, "relay token answer has no usable code"))
        }
        guard let redirect = doc["redirect_uri"]?.stringValue, DeviceAuthorization.isShowableURL(redirect) else {
            return .failure(Refusal(.deviceAuthorizationFailed, "relay token answer has no https redirect_uri"))
        }
        return .success(Grant(code: code, redirectURI: redirect))
    }
}

/// `qr = auto | always | never` (DESIGN.md §7) and when `auto` draws: only on a local terminal.
/// The helper knows from START's PAM_TTY and PAM_RHOST: sshd sets PAM_TTY to `ssh` and PAM_RHOST
/// to the client; login(1) on a console sets PAM_TTY to the terminal device (`/dev/tty1`,
/// `tty1`, `pts/0`) and no PAM_RHOST. So `auto` draws when PAM_TTY names a terminal device and
/// PAM_RHOST is empty or names this machine (sudo sets it to the local host name).
public enum QRMode: String, Sendable, Equatable, CaseIterable {
    case auto, always, never

    public func draws(tty: String, rhost: String, localHost: String) -> Bool {
        switch self {
        case .always: return true
        case .never: return false
        case .auto:
            let device = tty.hasPrefix("/dev/") ? String(tty.dropFirst(5)) : tty
            let isTerminal = device.hasPrefix("tty") || device.hasPrefix("pts/") || device.hasPrefix("console")
            let local = rhost.isEmpty || rhost == "localhost" || rhost == localHost
            return isTerminal && local
        }
    }
}

/// A QR code's modules drawn with half-block characters (`▀ ▄ █`): two rows of modules per text
/// line and a quiet zone of `margin` modules. Light modules are drawn in the terminal's foreground
/// and dark ones left blank, as `qrencode -t UTF8` does: right for the usual light-on-dark terminal.
public enum QRText {
    public static func halfBlocks(_ modules: [[Bool]], margin: Int = 2) -> String {
        let size = modules.count
        guard size > 0, modules.allSatisfy({ $0.count == size }) else { return "" }
        let full = size + 2 * margin
        func dark(_ r: Int, _ c: Int) -> Bool {
            let (y, x) = (r - margin, c - margin)
            return y >= 0 && y < size && x >= 0 && x < size && modules[y][x]
        }
        var lines: [String] = []
        var r = 0
        while r < full {
            var line = ""
            for c in 0..<full {
                let top = !dark(r, c), bottom = r + 1 < full ? !dark(r + 1, c) : false
                switch (top, bottom) {
                case (true, true): line += "\u{2588}"
                case (true, false): line += "\u{2580}"
                case (false, true): line += "\u{2584}"
                case (false, false): line += " "
                }
            }
            lines.append(line)
            r += 2
        }
        return lines.joined(separator: "\n")
    }
}
