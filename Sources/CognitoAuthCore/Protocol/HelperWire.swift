import FoundationEssentials

/// One line of the pam_cognito.so ⇄ helper protocol (pam/PROTOCOL.md): `VERB key=value …` with
/// percent-encoded values.
public struct WireMessage: Sendable, Equatable {
    public static let maxLineBytes = 65_536

    public var verb: String
    public var fields: [(key: String, value: String)]

    public init(_ verb: String, _ fields: [(String, String)] = []) {
        self.verb = verb
        self.fields = fields.map { (key: $0.0, value: $0.1) }
    }

    public func value(_ key: String) -> String? { fields.first { $0.key == key }?.value }
    public func values(_ key: String) -> [String] { fields.filter { $0.key == key }.map(\.value) }

    public static func == (a: WireMessage, b: WireMessage) -> Bool {
        a.verb == b.verb && a.fields.map(\.key) == b.fields.map(\.key) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    /// The line, with its terminating newline.
    public func encoded() -> [UInt8] {
        var out = Array(verb.utf8)
        for (k, v) in fields {
            out.append(UInt8(ascii: " "))
            out += Array(k.utf8)
            out.append(UInt8(ascii: "="))
            out += WireMessage.percentEncode(Array(v.utf8))
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// Parses one line (without its newline). Returns a reason on any deviation from the grammar.
    public static func decode(_ line: [UInt8]) -> Result<WireMessage, Refusal> {
        guard line.count < maxLineBytes else { return .failure(Refusal(.protocolError, "line over \(maxLineBytes) bytes")) }
        let tokens = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard let verbBytes = tokens.first, !verbBytes.isEmpty,
              verbBytes.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return .failure(Refusal(.protocolError, "line does not start with an upper-case verb"))
        }
        var msg = WireMessage(String(decoding: verbBytes, as: UTF8.self))
        for token in tokens.dropFirst() {
            guard let eq = token.firstIndex(of: UInt8(ascii: "=")), eq != token.startIndex else {
                return .failure(Refusal(.protocolError, "token without key=value"))
            }
            let key = token[token.startIndex..<eq]
            guard key.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_") }) else {
                return .failure(Refusal(.protocolError, "bad key"))
            }
            guard let raw = percentDecode(token[token.index(after: eq)...]), !raw.contains(0) else {
                return .failure(Refusal(.protocolError, "bad value encoding for \(String(decoding: key, as: UTF8.self))"))
            }
            // Answers are whatever bytes the person typed; invalid UTF-8 becomes U+FFFD and is then
            // refused by the check that reads it (a bad paste is a denial, not a protocol fault).
            let value = String(decoding: raw, as: UTF8.self)
            msg.fields.append((key: String(decoding: key, as: UTF8.self), value: value))
        }
        return .success(msg)
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    public static func percentEncode(_ bytes: [UInt8]) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            if isUnreserved(b) { out.append(b) } else {
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        return out
    }

    public static func percentDecode<C: Collection>(_ bytes: C) -> [UInt8]? where C.Element == UInt8 {
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        var it = bytes.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next().flatMap(nibble), let l = it.next().flatMap(nibble) else { return nil }
                out.append(h << 4 | l)
            } else if isUnreserved(b) {
                out.append(b)
            } else {
                return nil
            }
        }
        return out
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

    public init(user: String, service: String, rhost: String = "", ruser: String = "", tty: String = "", configPath: String, debug: Bool = false) {
        self.user = user; self.service = service; self.rhost = rhost; self.ruser = ruser
        self.tty = tty; self.configPath = configPath; self.debug = debug
    }

    public static func from(_ m: WireMessage) -> Result<HelperStart, Refusal> {
        guard m.verb == "START" else { return .failure(Refusal(.protocolError, "expected START, got \(m.verb)")) }
        guard m.value("v") == "1" else { return .failure(Refusal(.protocolError, "unsupported protocol version")) }
        guard let user = m.value("user"), !user.isEmpty, let service = m.value("service"), let config = m.value("config"), !config.isEmpty else {
            return .failure(Refusal(.protocolError, "START lacks user, service or config"))
        }
        return .success(HelperStart(user: user, service: service, rhost: m.value("rhost") ?? "",
                                    ruser: m.value("ruser") ?? "", tty: m.value("tty") ?? "",
                                    configPath: config, debug: m.value("debug") == "1"))
    }

    public var message: WireMessage {
        WireMessage("START", [("v", "1"), ("user", user), ("service", service), ("rhost", rhost), ("ruser", ruser),
                              ("tty", tty), ("config", configPath), ("debug", debug ? "1" : "0")])
    }
}
