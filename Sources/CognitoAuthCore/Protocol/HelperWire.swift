import FoundationEssentials

/// One frame of the pam_cognito.so ⇄ helper protocol (pam/PROTOCOL.md, version 2): a 4-byte
/// big-endian body length, then the body, `VERB\0field\0field\0…`. Fields are raw bytes without NUL
/// and positional; the decoder is as strict as the module's, so a helper bug shows up in tests.
public struct WireMessage: Sendable, Equatable {
    public static let version = "2"
    public static let maxFrameBytes = 65_536
    public static let headerBytes = 4
    /// The verb included: the longest message is a CONV of 4 (style, text) pairs.
    public static let maxFields = 9

    public var verb: String
    /// The fields after the verb.
    public var fields: [String]

    public init(_ verb: String, _ fields: [String] = []) {
        self.verb = verb
        self.fields = fields
    }

    /// The whole frame, or nil when a field contains a NUL byte or the frame would exceed
    /// `maxFrameBytes` or `maxFields` (the module would refuse it).
    public func encoded() -> [UInt8]? {
        var body: [UInt8] = []
        for field in [verb] + fields {
            let bytes = Array(field.utf8)
            guard !bytes.contains(0) else { return nil }
            body += bytes
            body.append(0)
        }
        guard fields.count + 1 <= Self.maxFields, body.count + Self.headerBytes <= Self.maxFrameBytes else { return nil }
        let n = UInt32(body.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + body
    }

    /// The first whole frame at the start of `buffer` and the bytes it took; `nil` while more bytes
    /// are needed. Any deviation from the framing is a refusal, decided as early as the bytes allow
    /// (a bad length before its body arrives).
    public static func nextFrame<C: RandomAccessCollection>(_ buffer: C) -> Result<(message: WireMessage, consumed: Int)?, Refusal>
    where C.Element == UInt8, C.Index == Int {
        guard buffer.count >= headerBytes else { return .success(nil) }
        let start = buffer.startIndex
        let length = buffer[start..<(start + headerBytes)].reduce(0) { $0 << 8 | Int($1) }
        guard length >= 1, length <= maxFrameBytes - headerBytes else {
            return .failure(Refusal(.protocolError, "frame length \(length) is not 1..\(maxFrameBytes - headerBytes)"))
        }
        guard buffer.count >= headerBytes + length else { return .success(nil) }
        return decodeBody(buffer[(start + headerBytes)..<(start + headerBytes + length)]).map { (message: $0, consumed: headerBytes + length) }
    }

    /// Splits one frame's body into its verb and fields.
    public static func decodeBody<C: BidirectionalCollection>(_ body: C) -> Result<WireMessage, Refusal> where C.Element == UInt8 {
        guard body.last == 0 else { return .failure(Refusal(.protocolError, "frame does not end with a NUL")) }
        let parts = body.dropLast().split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count <= maxFields else { return .failure(Refusal(.protocolError, "too many fields")) }
        guard let verb = parts.first, !verb.isEmpty,
              verb.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return .failure(Refusal(.protocolError, "frame does not start with an upper-case verb"))
        }
        // Answers are whatever bytes the person typed; invalid UTF-8 becomes U+FFFD and is then
        // refused by the check that reads it (a bad paste is a denial, not a protocol fault).
        return .success(WireMessage(String(decoding: verb, as: UTF8.self),
                                    parts.dropFirst().map { String(decoding: $0, as: UTF8.self) }))
    }
}

/// A message shown to the person, as relayed through PAM's conversation function.
public enum ConversationMessage: Sendable, Equatable {
    case info(String)
    case error(String)
    case promptEchoOn(String)
    case promptEchoOff(String)

    public var wireStyle: String {
        switch self {
        case .info: return "info"
        case .error: return "error"
        case .promptEchoOn: return "prompt_echo_on"
        case .promptEchoOff: return "prompt_echo_off"
        }
    }
    public var text: String {
        switch self {
        case .info(let t), .error(let t), .promptEchoOn(let t), .promptEchoOff(let t): return t
        }
    }
    public var isPrompt: Bool {
        switch self {
        case .promptEchoOn, .promptEchoOff: return true
        default: return false
        }
    }
}

/// What the module sends first.
public struct HelperStart: Sendable, Equatable {
    public var user: String
    public var service: String
    public var rhost: String
    public var ruser: String
    public var tty: String
    public var configPath: String
    public var debug: Bool
    /// The module's `ignore_unknown_user`: an account this host does not have is answered at once.
    public var ignoreUnknownUser: Bool

    public init(user: String, service: String, rhost: String = "", ruser: String = "", tty: String = "", configPath: String,
                debug: Bool = false, ignoreUnknownUser: Bool = false) {
        self.user = user; self.service = service; self.rhost = rhost; self.ruser = ruser
        self.tty = tty; self.configPath = configPath; self.debug = debug; self.ignoreUnknownUser = ignoreUnknownUser
    }

    /// `START 2 user service rhost ruser tty config flags`, exactly; `flags` is one digit, the sum
    /// of 1 (debug) and 2 (ignore_unknown_user).
    public static func from(_ m: WireMessage) -> Result<HelperStart, Refusal> {
        guard m.verb == "START" else { return .failure(Refusal(.protocolError, "expected START, got \(m.verb)")) }
        guard m.fields.first == WireMessage.version else { return .failure(Refusal(.protocolError, "unsupported protocol version")) }
        guard m.fields.count == 8 else { return .failure(Refusal(.protocolError, "START has \(m.fields.count) fields, not 8")) }
        let f = m.fields
        guard !f[1].isEmpty, !f[6].isEmpty, let flags = ["0", "1", "2", "3"].firstIndex(of: f[7]) else {
            return .failure(Refusal(.protocolError, "START lacks user or config, or flags is not 0..3"))
        }
        return .success(HelperStart(user: f[1], service: f[2], rhost: f[3], ruser: f[4], tty: f[5],
                                    configPath: f[6], debug: flags & 1 != 0, ignoreUnknownUser: flags & 2 != 0))
    }

    public var message: WireMessage {
        WireMessage("START", [WireMessage.version, user, service, rhost, ruser, tty, configPath,
                              String((debug ? 1 : 0) + (ignoreUnknownUser ? 2 : 0))])
    }
}
