import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A point on the monotonic clock; wall-clock changes cannot stretch or cut a login.
public struct Deadline: Sendable {
    public let at: UInt64   // nanoseconds, CLOCK_MONOTONIC

    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    public static func after(seconds: Double) -> Deadline {
        Deadline(at: now() + UInt64(max(0, seconds) * 1_000_000_000))
    }
    /// Rounded up, so a poll(2) given this never wakes before the deadline.
    public var remainingMilliseconds: Int32 {
        let n = Deadline.now()
        guard at > n else { return 0 }
        return Int32(min(UInt64(Int32.max), (at - n + 999_999) / 1_000_000))
    }
    public var passed: Bool { Deadline.now() >= at }
    public func earlier(_ other: Deadline) -> Deadline { at <= other.at ? self : other }
}

/// Polls a set of descriptors for readability until a deadline. Returns the readable ones; empty
/// when the deadline passed.
func pollReadable(_ fds: [Int32], until deadline: Deadline) -> [Int32] {
    var set = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    while true {
        let rc = poll(&set, nfds_t(set.count), deadline.remainingMilliseconds)
        if rc < 0 && errno == EINTR { continue }
        if rc <= 0 { return [] }
        return set.filter { $0.revents != 0 }.map(\.fd)
    }
}

/// Newline-framed reading from a descriptor with a line cap. The bytes live in one fixed
/// `SecretWindow` of `maxLine` bytes (a typed line may carry a pasted code), wiped as lines are taken.
final class LineReader {
    let fd: Int32
    let maxLine: Int
    let window: SecretWindow
    private(set) var eof = false
    /// After a line refused as too long, its rest is dropped up to its newline, so it does not
    /// become the next answer.
    private var skipping = false

    init(fd: Int32, maxLine: Int) {
        self.fd = fd
        self.maxLine = max(maxLine, 1)
        window = SecretWindow(capacity: self.maxLine)
    }

    enum Line { case line([UInt8]); case none; case eof; case tooLong }

    /// A complete line already buffered, without touching the descriptor.
    func buffered() -> Line? { takeLine() }

    /// Reads once (call only when poll says readable) and returns a complete line if any.
    func readAvailable() -> Line {
        if let l = takeLine() { return l }
        // No complete line and under maxLine bytes (takeLine says tooLong otherwise): there is room.
        let n = window.read(from: fd)
        if n < 0 { return (errno == EINTR || errno == EAGAIN) ? .none : .eof }
        if n == 0 { eof = true; return window.count == 0 ? .eof : .tooLong }
        return takeLine() ?? .none
    }

    private func takeLine() -> Line? {
        if skipping {
            guard let nl = window.withBytes({ $0.firstIndex(of: UInt8(ascii: "\n")) }) else { window.wipe(); return nil }
            window.consume(nl + 1)
            skipping = false
        }
        let found = window.withBytes { raw -> (line: [UInt8], length: Int)? in
            guard let nl = raw.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            return (nl < maxLine ? Array(raw[..<nl]) : [], nl)
        }
        if let found {
            window.consume(found.length + 1)
            return found.length >= maxLine ? .tooLong : .line(found.line)
        }
        guard window.count >= maxLine else { return nil }
        window.wipe()
        skipping = true
        return .tooLong
    }

    enum Wait { case line([UInt8]), eof, tooLong, timedOut, interrupted }

    /// The next complete line. Reads only when poll says so (a blocking read would starve the
    /// listener) and serves `listener` meanwhile, all its connections at once. `interruptWhen` is
    /// asked before each wait.
    /// With `tick`, it also wakes at each whole second of the monotonic clock and calls `tick`.
    func next(until deadline: Deadline, serving service: (any WaitService)?, interruptWhen: () -> Bool = { false },
              tick: (() -> Void)? = nil) -> Wait {
        while true {
            if interruptWhen() { return .interrupted }
            var line = buffered()
            if line == nil {
                var wake = deadline
                if tick != nil {
                    let now = Deadline.now()
                    wake = Deadline(at: now + (1_000_000_000 - now % 1_000_000_000)).earlier(deadline)
                }
                let ready = service?.pollServing([fd], until: wake) ?? pollReadable([fd], until: wake)
                if ready.isEmpty {
                    if deadline.passed { return .timedOut }
                    if wake.passed { tick?() }
                    continue
                }
                line = readAvailable()
            }
            switch line {
            case .line(let bytes)?: return .line(bytes)
            case .eof?: return .eof
            case .tooLong?: return .tooLong
            case .none?, nil: continue
            }
        }
    }

    /// Wipes buffered bytes (they may hold a pasted authorization code).
    func wipe() { window.wipe() }
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { raw -> Int in
            guard let base = raw.baseAddress else { return -1 }
            return send(fd, base + off, raw.count - off, Int32(MSG_NOSIGNAL))
        }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == ENOTSOCK {
                let w = bytes.withUnsafeBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return -1 }
                    return write(fd, base + off, raw.count - off)
                }
                if w < 0 { if errno == EINTR { continue }; return false }
                off += w
                continue
            }
            return false
        }
        off += n
    }
    return true
}
