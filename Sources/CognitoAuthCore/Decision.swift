import FoundationEssentials

/// The result of one login attempt, with everything the audit line and the CLI report need.
public struct Decision: Sendable {
    public var outcome: Outcome
    public var reason: ReasonCode
    public var detail: String
    /// The local account the decision is about, once known.
    public var localUser: String?
    public var email: String?
    public var sub: String?
    public var groups: [String]?
    public var jti: String?
    /// The account is not in NSS yet and gets written on this (allowed) sign-in (§12).
    public var willProvision = false

    public init(outcome: Outcome, reason: ReasonCode, detail: String, localUser: String? = nil,
                email: String? = nil, sub: String? = nil, groups: [String]? = nil, jti: String? = nil) {
        self.outcome = outcome; self.reason = reason; self.detail = detail; self.localUser = localUser
        self.email = email; self.sub = sub; self.groups = groups; self.jti = jti
    }

    static let notThisAccount = "Access denied: you signed in as someone who may not use this account."

    /// The short message the person sees. Details stay in the audit log.
    public var userMessage: String {
        switch outcome {
        case .allowed: return "Signed in."
        case .policyDenied:
            switch reason {
            case .authTooOld: return "Access denied: this needs a recent sign-in. Sign in again."
            // The same words as for an account that does not exist or belongs to someone else:
            // the message must not tell a client which accounts exist or what they are.
            case .systemAccount: return Self.notThisAccount
            default: return "Access denied: your account is not allowed to sign in here."
            }
        case .unknownUser: return Self.notThisAccount
        case .unavailable: return "Sign-in is unavailable right now (identity provider unreachable). Try again later."
        case .configError: return "Sign-in is not configured correctly on this host. Tell the administrator."
        case .convError: return "Sign-in was interrupted."
        case .timeout: return "Sign-in timed out."
        case .denied:
            switch reason {
            case .stateMismatch, .badRedirect: return "Access denied: that is not the redirect address of this sign-in."
            case .accountMismatch: return Self.notThisAccount
            case .idpError, .accessDenied: return "Access denied: the sign-in was cancelled or refused."
            case .cancelled: return "Sign-in cancelled."
            default: return "Access denied: the sign-in could not be verified."
            }
        }
    }
}

/// One audit event per attempt, rendered as key=value or JSON. Values are escaped so that a claim
/// holding spaces, quotes or `key=` text can never add or change a field.
public struct AuditEvent: Sendable {
    public var fields: [(String, String)]

    public init(decision: Decision, start: HelperStart, durationMs: Int, extra: [(String, String)] = []) {
        var f: [(String, String)] = [
            ("event", "login"),
            ("result", decision.outcome.rawValue),
            ("reason", decision.reason.rawValue),
            ("service", start.service),
            ("user", start.user),
        ]
        if let u = decision.localUser, u != start.user { f.append(("mapped_user", u)) }
        if let e = decision.email { f.append(("email", e)) }
        if let s = decision.sub { f.append(("sub", s)) }
        if let g = decision.groups { f.append(("groups", g.joined(separator: ","))) }
        if !start.rhost.isEmpty { f.append(("rhost", start.rhost)) }
        if !start.tty.isEmpty { f.append(("tty", start.tty)) }
        if let j = decision.jti { f.append(("jti", j)) }
        f.append(("duration_ms", String(durationMs)))
        f += extra
        f.append(("detail", decision.detail))
        fields = f
    }

    public func render(_ format: Config.AuditFormat) -> String {
        switch format {
        case .kv:
            return fields.map { "\($0.0)=\(Self.kvValue($0.1))" }.joined(separator: " ")
        case .json:
            return "{" + fields.map { key, value in
                // duration_ms is the one number; everything else is text as it came.
                JSONValue.quote(key) + ":" + (key == "duration_ms" && Int(value) != nil ? value : JSONValue.quote(value))
            }.joined(separator: ",") + "}"
        }
    }

    /// Bare when the value is plain; otherwise double-quoted with `\"`, `\\` and control characters
    /// escaped, so the line always splits back into the same fields.
    public static func kvValue(_ v: String) -> String {
        let plain = !v.isEmpty && v.unicodeScalars.allSatisfy {
            $0.isASCII && $0.value > 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" && $0 != "="
        }
        if plain { return v }
        var out = "\""
        for s in v.unicodeScalars {
            switch s {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where JSONValue.mustEscape(s):
                let hex = String(s.value, radix: 16)
                out += s.value < 0x100 ? "\\x" + (hex.count < 2 ? "0" : "") + hex : "\\u{" + hex + "}"
            default: out.unicodeScalars.append(s)
            }
        }
        return out + "\""
    }
}
