import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

public enum ConversationReply: Sendable, Equatable {
    /// One answer per prompt, in order.
    case answers([String])
    /// The loopback listener received our redirect while the person was being asked (terminal only:
    /// PAM's conversation function cannot be interrupted).
    case callbackArrived
}

public enum ConversationFailure: Error, Sendable, CustomStringConvertible {
    case failed(String)
    case timedOut
    case protocolViolation(String)
    public var description: String {
        switch self {
        case .failed(let m): return "conversation failed: \(m)"
        case .timedOut: return "no answer before login_timeout"
        case .protocolViolation(let m): return "protocol violation: \(m)"
        }
    }
}

/// How the helper talks to the person: through pam_cognito.so (socket) or a terminal (`test`, `demo`).
public protocol Conversation: AnyObject {
    /// Shows the messages in one go and returns the answers. While waiting it serves `listener`.
    func converse(_ messages: [ConversationMessage], listener: LoopbackListener?, deadline: Deadline) throws(ConversationFailure) -> ConversationReply
}

/// The helper's end of the pam_cognito.so socket (pam/PROTOCOL.md).
public final class SocketConversation: Conversation {
    let fd: Int32
    let reader: LineReader

    public init(fd: Int32) {
        self.fd = fd
        self.reader = LineReader(fd: fd, maxLine: WireMessage.maxLineBytes)
    }

    public func send(_ message: WireMessage) -> Bool { writeAll(fd, message.encoded()) }

    /// Reads the next message, serving the listener meanwhile.
    public func receive(deadline: Deadline, listener: LoopbackListener? = nil) throws(ConversationFailure) -> WireMessage {
        switch reader.next(until: deadline, serving: listener) {
        case .timedOut, .interrupted: throw .timedOut
        case .line(var bytes):
            defer { for i in bytes.indices { bytes[i] = 0 } }
            switch WireMessage.decode(bytes) {
            case .success(let m): return m
            case .failure(let r): throw .protocolViolation(r.detail)
            }
        case .eof: throw .failed("pam_cognito.so closed the connection")
        case .tooLong: throw .protocolViolation("line over \(WireMessage.maxLineBytes) bytes")
        }
    }

    public func converse(_ messages: [ConversationMessage], listener: LoopbackListener?, deadline: Deadline) throws(ConversationFailure) -> ConversationReply {
        let conv = WireMessage("CONV", messages.map { ($0.wireStyle, $0.text) })
        guard send(conv) else { throw .failed("cannot write to pam_cognito.so") }
        let reply = try receive(deadline: deadline, listener: listener)
        switch reply.verb {
        case "ANSWER":
            let answers = reply.values("r")
            let prompts = messages.filter(\.isPrompt).count
            guard answers.count == prompts, reply.fields.allSatisfy({ $0.key == "r" }) else {
                throw .protocolViolation("ANSWER carries \(answers.count) responses for \(prompts) prompts")
            }
            return .answers(answers)
        case "CONVFAIL":
            throw .failed("the PAM conversation function failed")
        default:
            throw .protocolViolation("expected ANSWER or CONVFAIL, got \(reply.verb)")
        }
    }
}

/// A terminal: messages to an output descriptor, answers from an input descriptor. With
/// `countdown`, a status line above the prompt shows the seconds left until login_timeout, redrawn
/// in place once a second (save cursor, up, \r, text, erase to end of line, restore cursor) so what
/// the person types is not disturbed. Only for a real terminal.
public final class TerminalConversation: Conversation {
    let input: Int32
    let output: Int32
    let countdown: Bool
    let reader: LineReader

    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO, countdown: Bool = false) {
        self.input = input; self.output = output; self.countdown = countdown
        self.reader = LineReader(fd: input, maxLine: RedirectParser.maxInputBytes + 1)
    }

    deinit { reader.wipe() }

    func write(_ s: String) { _ = writeAll(output, Array(s.utf8)) }

    static func status(_ deadline: Deadline) -> String {
        "  waiting for the sign-in: \((Int(deadline.remainingMilliseconds) + 999) / 1000) s left"
    }

    /// Rows between the status line and the cursor: the prompt may wrap on a narrow terminal.
    /// (Text typed but not yet entered is invisible to us in canonical mode; a long paste that
    /// wraps can be overdrawn on screen until Enter, never in what is read.)
    func rowsUp(_ prompt: String) -> Int {
        var ws = winsize()
        let cols = ioctl(output, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 ? Int(ws.ws_col) : 80
        let width = prompt.unicodeScalars.count
        return 1 + (width > 0 ? (width - 1) / cols : 0)
    }

    public func converse(_ messages: [ConversationMessage], listener: LoopbackListener?, deadline: Deadline) throws(ConversationFailure) -> ConversationReply {
        var answers: [String] = []
        for m in messages {
            guard m.isPrompt else { write(m.text + "\n"); continue }
            write(countdown ? Self.status(deadline) + "\n" + m.text : m.text)
            let tick: (() -> Void)? = countdown ? { [self] in
                write("\u{1B}7\u{1B}[\(rowsUp(m.text))A\r" + Self.status(deadline) + "\u{1B}[K\u{1B}8")
            } : nil
            switch reader.next(until: deadline, serving: listener, interruptWhen: { listener?.result != nil }, tick: tick) {
            case .interrupted:
                write("\n(the browser's redirect reached this host)\n")
                return .callbackArrived
            case .timedOut:
                write("\n")
                throw .timedOut
            case .line(let bytes):
                answers.append(String(decoding: bytes, as: UTF8.self))
            case .eof:
                throw .failed("end of input")
            case .tooLong:
                // Handed on as over-long so the redirect parser refuses it with its own reason.
                answers.append(String(repeating: "x", count: RedirectParser.maxInputBytes + 1))
                reader.wipe()
            }
        }
        return .answers(answers)
    }
}
