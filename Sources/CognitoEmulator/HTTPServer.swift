#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CognitoAuthCore
import Foundation

public enum HTTPServerError: Error, Equatable, CustomStringConvertible {
    case socket(String, errno: Int32)
    case alreadyStarted

    public var description: String {
        switch self {
        case .socket(let call, let e): return "\(call) failed: \(String(cString: strerror(e))) (errno \(e))"
        case .alreadyStarted: return "server already started"
        }
    }
}

/// A small threaded HTTP/1.1 server on 127.0.0.1: one accept thread, one thread per connection,
/// one request per connection (`Connection: close`). Reads are bounded in size (by the parser's
/// caps) and in time (per read and per connection), so a slow or stuck client cannot pin a thread
/// for long; the number of connections handled at once is capped. With `tls`, every connection is
/// HTTPS: the handshake runs on the connection's thread, within the same deadline.
final class HTTPServer: @unchecked Sendable {
    typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    private let handler: Handler
    private let tls: EmulatorTLS?
    private let lock = NSLock()
    private var listenFD: Int32 = -1
    private var acceptDone: DispatchSemaphore? = nil
    private var openConnections: Set<Int32> = []
    private var stopping = false
    private(set) var port: UInt16 = 0

    let maxConnections = 64
    let readTimeoutSeconds = 5
    let connectionDeadlineSeconds: Double = 15
    let maxHeaderBytes = 16_384
    let maxBodyBytes = 65_536

    init(tls: EmulatorTLS? = nil, handler: @escaping Handler) {
        self.tls = tls
        self.handler = handler
    }

    /// Binds 127.0.0.1:`port` (0 = an ephemeral port), listens, starts the accept thread.
    func start(port requested: UInt16) throws -> UInt16 {
        lock.lock()
        defer { lock.unlock() }
        guard listenFD < 0 else { throw HTTPServerError.alreadyStarted }

        #if canImport(Darwin)
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard fd >= 0 else { throw HTTPServerError.socket("socket", errno: errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))

        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = requested.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            throw HTTPServerError.socket("bind 127.0.0.1:\(requested)", errno: e)
        }
        guard listen(fd, 64) == 0 else {
            let e = errno
            close(fd)
            throw HTTPServerError.socket("listen", errno: e)
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else {
            let e = errno
            close(fd)
            throw HTTPServerError.socket("getsockname", errno: e)
        }
        listenFD = fd
        port = UInt16(bigEndian: actual.sin_port)
        stopping = false
        let done = DispatchSemaphore(value: 0)
        acceptDone = done
        let thread = Thread { [self] in
            self.acceptLoop(fd)
            done.signal()
        }
        thread.name = "emulator-accept"
        thread.start()
        return port
    }

    /// Stops accepting: the listening socket is shut down and closed before this returns, so the
    /// port refuses new connections at once. Connections being served are shut down too.
    func stop() {
        lock.lock()
        let fd = listenFD
        guard fd >= 0 else { lock.unlock(); return }
        stopping = true
        let done = acceptDone
        // Under the lock: a connection's fd is closed only under this lock, so none of these
        // numbers can have been reused by another socket.
        for c in openConnections { _ = shutdown(c, Int32(SHUT_RDWR)) }
        lock.unlock()

        // On Linux, shutdown() of a listening socket wakes a thread blocked in accept().
        _ = shutdown(fd, Int32(SHUT_RDWR))
        _ = done?.wait(timeout: .now() + 2)
        close(fd)

        lock.lock()
        listenFD = -1
        acceptDone = nil
        lock.unlock()
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                let e = errno
                if isStopping { return }
                if e == EINTR || e == ECONNABORTED { continue }
                // EMFILE/ENFILE/ENOBUFS: back off instead of spinning.
                usleep(50_000)
                if isStopping { return }
                continue
            }
            // Not inherited by processes the host starts (accept4 is not exported to Swift).
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            lock.lock()
            let admit = !stopping && openConnections.count < maxConnections
            if admit { openConnections.insert(client) }
            lock.unlock()
            guard admit else {
                close(client)
                continue
            }
            let thread = Thread { [self] in
                self.serve(client)
                self.lock.lock()
                self.openConnections.remove(client)
                close(client)
                self.lock.unlock()
            }
            thread.name = "emulator-conn"
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        var timeout = timeval(tv_sec: readTimeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let deadline = Date().addingTimeInterval(connectionDeadlineSeconds)
        let wire: Wire
        if let tls {
            // OpenSSL writes with write(2): a peer that has gone would raise SIGPIPE. Blocked on
            // this thread only, the signal stays pending and dies with the thread; write fails EPIPE.
            var pipe = sigset_t()
            sigemptyset(&pipe)
            sigaddset(&pipe, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipe, nil)
            guard let connection = tls.accept(fd, until: monotonicSeconds() + connectionDeadlineSeconds,
                                              idleSeconds: Int32(readTimeoutSeconds)) else { return }
            wire = .tls(connection, fd)
        } else {
            wire = .plain(fd)
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            switch HTTPRequestParser.parse(buffer, maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes) {
            case .complete(let request, _):
                respond(wire, handler(request))
                return
            case .invalid(let reason):
                respond(wire, HTTPResponse(status: 400, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                      text: "Bad Request: \(reason)\n"))
                return
            case .incomplete:
                break
            }
            if Date() > deadline {
                respond(wire, HTTPResponse(status: 408, headers: [("Content-Type", "text/plain; charset=utf-8")], text: "Request Timeout\n"))
                return
            }
            let n = chunk.withUnsafeMutableBytes { wire.receive($0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
            } else if n == 0 {
                return  // peer closed before a whole request
            } else {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    respond(wire, HTTPResponse(status: 408, headers: [("Content-Type", "text/plain; charset=utf-8")], text: "Request Timeout\n"))
                }
                return
            }
        }
    }

    /// IMF-fixdate, e.g. "Sun, 22 Nov 2026 01:17:37 GMT".
    static func httpDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(tm.tm_wday) % 7]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon) % 12]) \(tm.tm_year + 1900) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
    }

    private func respond(_ wire: Wire, _ response: HTTPResponse) {
        var response = response
        // Like every Cognito endpoint, say what time it is (RFC 9110 §6.6.1): clients compare clocks with it.
        if response.header("Date") == nil { response.headers.append((name: "Date", value: Self.httpDate(Date()))) }
        let bytes = response.serialize()
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in wire.transmit(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            return
        }
        // Half-close (after TLS's close_notify), then drain briefly so the peer reads the whole
        // response before our close().
        let fd = wire.finish()
        _ = shutdown(fd, Int32(SHUT_WR))
        var brief = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &brief, socklen_t(MemoryLayout<timeval>.size))
        var scratch = [UInt8](repeating: 0, count: 1024)
        var drained = 0
        while drained < 65_536 {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            drained += n
        }
    }
}

/// One connection's bytes: the socket itself, or TLS over it.
private enum Wire {
    case plain(Int32)
    case tls(TLSConnection, Int32)

    /// As recv(2).
    func receive(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        switch self {
        case .plain(let fd): return recv(fd, buffer.baseAddress, buffer.count, 0)
        case .tls(let c, _): return c.receive(buffer)
        }
    }

    /// As send(2), never raising SIGPIPE.
    func transmit(_ buffer: UnsafeRawBufferPointer) -> Int {
        switch self {
        case .plain(let fd):
            #if canImport(Darwin)
            let flags: Int32 = 0
            #else
            let flags = Int32(MSG_NOSIGNAL)
            #endif
            return send(fd, buffer.baseAddress, buffer.count, flags)
        case .tls(let c, _): return c.send(buffer)
        }
    }

    /// Ends the stream (TLS: close_notify); returns the socket for the half-close and drain.
    func finish() -> Int32 {
        switch self {
        case .plain(let fd): return fd
        case .tls(let c, let fd): c.close(); return fd
        }
    }
}
