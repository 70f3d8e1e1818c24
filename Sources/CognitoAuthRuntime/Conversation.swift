import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

public enum ConversationReply: Sendable, Equatable {
    /// One answer per prompt, in order.
    case answers([String])
    /// What was served while the person was being asked finished first: the loopback listener got
    /// our redirect, or the device-flow poller got the sign-in (terminal only: PAM's conversation
    /// function cannot be interrupted).
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

/// Something a conversation serves while it waits for the person's answer: the code flow's
/// loopback listener, the device flow's poller (`DevicePoller`).
public protocol WaitService: AnyObject {
    /// One wait: until one of `others` is readable, the service's own next event, or `deadline`.
    /// Does the service's work meanwhile and returns the readable ones among `others`. Callers loop.
    func pollServing(_ others: [Int32], until deadline: Deadline) -> [Int32]
    /// True once the service has what the sign-in waits for (a terminal then stops asking).
    var finished: Bool { get }
}

/// How the helper talks to the person: through pam_cognito.so (socket) or a terminal (`test`, `demo`).
public protocol Conversation: AnyObject {
    /// Shows the messages in one go and returns the answers. While waiting it serves `serving`.
    func converse(_ messages: [ConversationMessage], serving: (any WaitService)?, deadline: Deadline) throws(ConversationFailure) -> ConversationReply
}

/// The helper's end of the pam_cognito.so socket (pam/PROTOCOL.md). With `debug` (START's flag),
/// each message is logged at LOG_DEBUG by verb and count, never by content.
public final class SocketConversation: Conversation {
    let fd: Int32
    let reader: FrameReader
    public var debug = false

    public init(fd: Int32) {
        self.fd = fd
        self.reader = FrameReader(fd: fd)
    }

    deinit { reader.wipe() }

    /// False when the message cannot be framed (a NUL byte, too long) or the write failed.
    public func send(_ message: WireMessage) -> Bool {
        guard let frame = message.encoded() else { return false }
        return writeAll(fd, frame)
    }

    func trace(_ what: @autoclosure () -> String) {
        if debug { Syslog.log(.debug, what()) }
    }

    /// Reads the next message, serving the listener meanwhile.
    public func receive(deadline: Deadline, serving: (any WaitService)? = nil) throws(ConversationFailure) -> WireMessage {
        switch reader.next(until: deadline, serving: serving) {
        case .timedOut: throw .timedOut
        case .message(let m): return m
        case .eof: throw .failed("pam_cognito.so closed the connection")
        case .violation(let why): throw .protocolViolation(why)
        }
    }

    public func converse(_ messages: [ConversationMessage], serving: (any WaitService)?, deadline: Deadline) throws(ConversationFailure) -> ConversationReply {
        let conv = WireMessage("CONV", messages.flatMap { [$0.wireStyle, $0.text] })
        guard send(conv) else { throw .failed("cannot send CONV to pam_cognito.so") }
        trace("sent CONV with \(messages.count) message(s)")
        let reply = try receive(deadline: deadline, serving: serving)
        let prompts = messages.filter(\.isPrompt).count
        switch reply.verb {
        case "ANSWER":
            guard reply.fields.count == prompts else {
                throw .protocolViolation("ANSWER carries \(reply.fields.count) responses for \(prompts) prompts")
            }
            trace("received ANSWER with \(prompts) response(s)")
            return .answers(reply.fields)
        case "CONVFAIL":
            guard reply.fields.isEmpty else { throw .protocolViolation("CONVFAIL with fields") }
            trace("received CONVFAIL")
            throw .failed("the PAM conversation function failed")
        default:
            throw .protocolViolation("expected ANSWER or CONVFAIL, got \(reply.verb)")
        }
    }
}

/// Frames from the module's socket, read only when poll says so (a blocking read would starve the
/// listener, which is served meanwhile). The bytes live in one fixed `SecretWindow` (a frame never
/// outgrows it) and are wiped as they are consumed: an ANSWER holds a pasted code.
final class FrameReader {
    let fd: Int32
    let window = SecretWindow(capacity: WireMessage.maxFrameBytes)

    init(fd: Int32) { self.fd = fd }

    enum Read { case message(WireMessage), eof, timedOut, violation(String) }

    func next(until deadline: Deadline, serving service: (any WaitService)?) -> Read {
        while true {
            switch window.withBytes({ WireMessage.nextFrame($0) }) {
            case .failure(let refusal):
                wipe()
                return .violation(refusal.detail)
            case .success(let frame?):
                window.consume(frame.consumed)
                return .message(frame.message)
            case .success(nil):
                break
            }
            // The service is served meanwhile; it may wake us early (a connection's own deadline, a poll).
            let ready = service?.pollServing([fd], until: deadline) ?? pollReadable([fd], until: deadline)
            guard ready.contains(fd) else {
                if deadline.passed { return .timedOut }
                continue
            }
            // An incomplete frame is always shorter than the window, so there is room to read.
            let n = window.read(from: fd)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return window.count == 0 || n < 0 ? .eof : .violation("frame cut short by EOF") }
        }
    }

    func wipe() { window.wipe() }
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

    public func converse(_ messages: [ConversationMessage], serving: (any WaitService)?, deadline: Deadline) throws(ConversationFailure) -> ConversationReply {
        var answers: [String] = []
        for m in messages {
            guard m.isPrompt else { write(m.text + "\n"); continue }
            write(countdown ? Self.status(deadline) + "\n" + m.text : m.text)
            let tick: (() -> Void)? = countdown ? { [self] in
                write("\u{1B}7\u{1B}[\(rowsUp(m.text))A\r" + Self.status(deadline) + "\u{1B}[K\u{1B}8")
            } : nil
            switch reader.next(until: deadline, serving: serving, interruptWhen: { serving?.finished == true }, tick: tick) {
            case .interrupted:
                write(serving is LoopbackListener ? "\n(the browser's redirect reached this host)\n" : "\n(signed in)\n")
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
