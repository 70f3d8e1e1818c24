import Crypto
import FoundationEssentials

/// The secrets of one authorization-code sign-in: PKCE verifier (RFC 7636, S256), `state` and
/// `nonce`. Generated from the system CSPRNG; never logged.
public struct SignInSecrets: Sendable {
    public let codeVerifier: String
    public let state: String
    public let nonce: String

    public init<R: RandomNumberGenerator>(using rng: inout R) {
        func random(_ count: Int) -> String {
            var bytes = [UInt8](repeating: 0, count: count)
            for i in bytes.indices { bytes[i] = UInt8.random(in: .min ... .max, using: &rng) }
            return Base64URL.encode(bytes)
        }
        codeVerifier = random(32)   // 43 characters of base64url: 256 bits
        state = random(16)          // 128 bits
        nonce = random(16)
    }

    public init() {
        var rng = SystemRandomNumberGenerator()
        self.init(using: &rng)
    }

    public var codeChallenge: String { Self.challenge(for: codeVerifier) }

    public static func challenge(for verifier: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }
}

public enum AuthorizeURL {
    /// Cognito's /oauth2/authorize request for the code flow with PKCE.
    public static func build(endpoint: String, clientId: String, redirectURI: String, scopes: [String],
                             secrets: SignInSecrets, prompt: String? = nil) -> String {
        build(endpoint: endpoint, clientId: clientId, redirectURI: redirectURI, scope: scopes.joined(separator: " "),
              state: secrets.state, nonce: secrets.nonce, codeChallenge: secrets.codeChallenge, prompt: prompt)
    }

    /// The same request from its parts: the relay builds it with the host's challenge and nonce
    /// (it never sees the verifier) and a state of its own.
    public static func build(endpoint: String, clientId: String, redirectURI: String, scope: String,
                             state: String, nonce: String, codeChallenge: String, prompt: String? = nil) -> String {
        var pairs: [(String, String)] = [
            ("response_type", "code"),
            ("client_id", clientId),
            ("redirect_uri", redirectURI),
            ("scope", scope),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", codeChallenge),
            ("code_challenge_method", "S256"),
        ]
        if let prompt { pairs.append(("prompt", prompt)) }
        return endpoint + (endpoint.contains("?") ? "&" : "?") + FormURLEncoding.encode(pairs)
    }
}

/// What came back from the authorization server, whether pasted by the person or received by the
/// loopback listener.
public enum RedirectResult: Sendable, Equatable {
    case code(String)
    case empty
}

public enum RedirectParser {
    public static let maxInputBytes = 8192

    /// Accepts the full redirect URL or just its query string (with or without `?`); surrounding
    /// whitespace is ignored. The `state` must equal ours; a Cognito error redirect is reported as such.
    public static func parse(_ input: String, expectedState: String) -> Result<RedirectResult, Refusal> {
        guard input.utf8.count <= maxInputBytes else {
            return .failure(Refusal(.badRedirect, "pasted text is over \(maxInputBytes) bytes"))
        }
        let text = input.trimmed()
        if text.isEmpty { return .success(.empty) }
        var query: Substring
        if let q = text.firstIndex(of: "?") {
            query = text[text.index(after: q)...]
        } else if text.contains("=") {
            query = Substring(text)
        } else {
            return .failure(Refusal(.badRedirect, "pasted text is neither the redirect URL nor its query string"))
        }
        if let hash = query.firstIndex(of: "#") { query = query[..<hash] }
        return parseQuery(query, expectedState: expectedState)
    }

    /// Whether `query` is form-encoded and carries exactly one `state`, equal to ours. Only such a
    /// request to the loopback listener is this sign-in's answer: any other, however malformed (a
    /// repeated parameter, bad percent-encoding), is a stray one and must not end the sign-in.
    public static func carriesState(_ query: Substring, expectedState: String) -> Bool {
        guard let pairs = FormURLEncoding.decode(query) else { return false }
        let states = pairs.filter { $0.0 == "state" }
        return states.count == 1 && constantTimeEqual(states[0].1, expectedState)
    }

    public static func parseQuery(_ query: Substring, expectedState: String) -> Result<RedirectResult, Refusal> {
        guard let pairs = FormURLEncoding.decode(query) else {
            return .failure(Refusal(.badRedirect, "redirect query is not form-encoded"))
        }
        var params: [String: String] = [:]
        for (k, v) in pairs {
            guard params[k] == nil else { return .failure(Refusal(.badRedirect, "redirect repeats parameter \(k)")) }
            params[k] = v
        }
        guard let state = params["state"] else {
            return .failure(Refusal(.stateMismatch, "redirect has no state"))
        }
        guard constantTimeEqual(state, expectedState) else {
            return .failure(Refusal(.stateMismatch, "redirect state does not belong to this sign-in"))
        }
        if let error = params["error"] {
            let description = params["error_description"].map { ": \($0)" } ?? ""
            return .failure(Refusal(.idpError, "Cognito returned error \(error)\(description)"))
        }
        guard let code = params["code"], !code.isEmpty, code.count <= 2048,
              code.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            return .failure(Refusal(.badRedirect, "redirect has no usable code"))
        }
        return .success(.code(code))
    }
}
