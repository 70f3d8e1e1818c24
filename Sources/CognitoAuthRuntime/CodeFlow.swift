import CognitoAuthCore
import FoundationEssentials

/// Tokens from one sign-in. Held in memory only; never logged.
public struct TokenSet: Sendable {
    public var idToken: String
    public var accessToken: String?
}

/// Why a sign-in method did not produce tokens, and what the attempt ends as.
public struct FlowFailure: Error, Sendable {
    public var outcome: Outcome
    public var refusal: Refusal
    public init(_ outcome: Outcome, _ refusal: Refusal) { self.outcome = outcome; self.refusal = refusal }
}

/// Who is signing in where, for the prompt.
public struct SignInContext: Sendable {
    public var host: String
    public var user: String?
    public var rhost: String
    public init(host: String, user: String?, rhost: String) { self.host = host; self.user = user; self.rhost = rhost }
}

/// "How the person signs in" (DESIGN.md §7): the code flow today; the device flow and the relay
/// plug in beside it. Token checks, mapping and policy do not depend on which one ran.
public protocol SignInMethod {
    var name: String { get }
    /// The nonce the ID token must carry, if the method uses one.
    var expectedNonce: String? { get }
    func signIn(_ context: SignInContext, conversation: Conversation, deadline: Deadline) -> Result<TokenSet, FlowFailure>
}

/// Authorization code + PKCE + state + nonce, with the redirect received by the loopback listener
/// or pasted back by the person.
public final class CodeFlow: SignInMethod {
    public let name = "authorization code (PKCE)"
    public static let maxRounds = 3

    let config: Config
    let clientSecret: String?
    let metadata: ProviderMetadata
    let http: HTTPClient
    let secrets = SignInSecrets()
    let prompt: String?
    public private(set) var listenerPort: UInt16?

    public var expectedNonce: String? { secrets.nonce }

    public init(config: Config, clientSecret: String?, metadata: ProviderMetadata, http: HTTPClient, prompt: String? = nil) {
        self.config = config; self.clientSecret = clientSecret; self.metadata = metadata; self.http = http; self.prompt = prompt
    }

    public func signIn(_ context: SignInContext, conversation: Conversation, deadline: Deadline) -> Result<TokenSet, FlowFailure> {
        let listener = LoopbackListener.bindFirstFree(config.redirectURIs, state: secrets.state)
        listenerPort = listener?.redirectURI.port
        // Without a free port the redirect can only come back by paste, to the first URI.
        guard let redirect = listener?.redirectURI ?? config.redirectURIs.first else {
            return .failure(FlowFailure(.configError, Refusal(.configInvalid, "no redirect_uris")))
        }
        let url = AuthorizeURL.build(endpoint: metadata.authorizationEndpoint, clientId: config.clientId,
                                     redirectURI: redirect.string, scopes: config.scopes, secrets: secrets, prompt: prompt)
        var messages = [ConversationMessage.info(instructions(context, url: url, listening: listener != nil))]
        messages.append(.promptEchoOn("Redirect URL: "))

        var code: String?
        for round in 1...Self.maxRounds {
            let reply: ConversationReply
            do {
                reply = try conversation.converse(messages, serving: listener, deadline: deadline)
            } catch .timedOut {
                return .failure(FlowFailure(.timeout, Refusal(.timeout, "no sign-in within login_timeout (\(config.loginTimeout) s)")))
            } catch {
                return .failure(FlowFailure(.convError, Refusal(.conversationFailed, error.description)))
            }
            if deadline.passed {
                return .failure(FlowFailure(.timeout, Refusal(.timeout, "answer came after login_timeout (\(config.loginTimeout) s)")))
            }
            var answer = ""
            if case .answers(let a) = reply { answer = a.first ?? "" }
            switch RedirectParser.parse(answer, expectedState: secrets.state) {
            case .failure(let r):
                return .failure(FlowFailure(.denied, r))
            case .success(.code(let c)):
                code = c
            case .success(.empty):
                // Enter: the browser on this machine should have reached the listener by now.
                if let listener, listener.result == nil {
                    waitForCallback(listener, upTo: Deadline.after(seconds: 3).earlier(deadline))
                }
                switch listener?.result {
                case .success(.code(let c))?: code = c
                case .failure(let r)?: return .failure(FlowFailure(.denied, r))
                default:
                    if round == Self.maxRounds {
                        return .failure(FlowFailure(.denied, Refusal(.cancelled, "no redirect pasted and none reached the listener")))
                    }
                    messages = [.promptEchoOn("No sign-in has reached this host yet. Paste the redirect URL, or press Enter once you have signed in: ")]
                }
            }
            if code != nil { break }
        }
        guard let code else {
            return .failure(FlowFailure(.denied, Refusal(.cancelled, "no authorization code")))
        }
        return exchange(code: code, redirectURI: redirect.string, deadline: deadline)
    }

    func waitForCallback(_ listener: LoopbackListener, upTo deadline: Deadline) {
        while listener.result == nil, !deadline.passed {
            _ = listener.pollServing([], until: deadline)
        }
    }

    func instructions(_ c: SignInContext, url: String, listening: Bool) -> String {
        var who = "Sign in to \(c.host)"
        if let user = c.user { who += " as \(user)" }
        if !c.rhost.isEmpty { who += " (request from \(c.rhost))" }
        var text = """
        \(who) with your Cognito account:
          \(url)
        After signing in, your browser opens a localhost page that may not load. Copy the full
        address from the browser's address bar and paste it here
        """
        if listening {
            text += ", or just press Enter if you\nsigned in with a browser on this machine."
        } else {
            text += ".\n(Every local callback port is in use by other sign-ins, so only paste-back works now.)"
        }
        return text
    }

    /// POST /oauth2/token (RFC 6749 §4.1.3 + RFC 7636 §4.5).
    func exchange(code: String, redirectURI: String, deadline: Deadline) -> Result<TokenSet, FlowFailure> {
        TokenEndpoint(config: config, clientSecret: clientSecret, url: metadata.tokenEndpoint, http: http)
            .redeem(code: code, redirectURI: redirectURI, verifier: secrets.codeVerifier, deadline: deadline)
    }
}
