import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Receives the browser's redirect at the first redirect URI whose port it can hold on BOTH
/// 127.0.0.1 and [::1]: the redirect names `localhost`, which a browser may resolve to either, so a
/// port held on one family only could hand our callback to whoever binds the other.
///
/// It accepts exactly `GET <registered path>?…state=<ours>…`; anything else gets a 404/400 and is
/// otherwise ignored, so a stray local request cannot end or steer the sign-in. Connections are
/// served concurrently and without blocking from the caller's wait loop (`pollServing`): up to
/// `maxConnections` (512) at once, each with its own 2 s deadline and 16 KiB cap, the oldest dropped
/// when a new one arrives while full, so slow or idle local connections cannot hold up the real callback.
/// What a new connection brought is read when it is accepted, and ready connections are read
/// before new ones are accepted: a flood of connections cannot push the browser's out unread.
public final class LoopbackListener: WaitService {
    /// Well under the helper's RLIMIT_NOFILE of 1024 (pam/PROTOCOL.md), and at most 8 MiB of
    /// request bytes: a flood of a few hundred local connections never pushes the browser's out.
    public static let maxConnections = 512
    /// Accepted per listening socket per pass, so a flood cannot keep the wait loop here.
    static let acceptsPerPass = 64
    public static let maxRequestBytes = 16_384
    public static let connectionSeconds = 2.0

    public let redirectURI: RedirectURI
    /// The listening sockets (IPv4 and, where the host has ::1, IPv6).
    public let listeningDescriptors: [Int32]
    private let expectedState: String
    private var connections: [Connection] = []
    /// Set once a request with our state arrived: the code, or why it is unusable.
    public private(set) var result: Result<RedirectResult, Refusal>?
    public var finished: Bool { result != nil }

    private struct Connection {
        let fd: Int32
        let deadline: Deadline
        var bytes: [UInt8] = []
    }

    /// Binds the first port that is free on both families; nil when none is (paste-back still works).
    public static func bindFirstFree(_ uris: [RedirectURI], state: String) -> LoopbackListener? {
        for uri in uris {
            if case .success(let fds) = bind(port: uri.port) {
                return LoopbackListener(redirectURI: uri, fds: fds, state: state)
            }
        }
        return nil
    }

    private init(redirectURI: RedirectURI, fds: [Int32], state: String) {
        self.redirectURI = redirectURI; self.listeningDescriptors = fds; self.expectedState = state
    }

    deinit {
        for c in connections { close(c.fd) }
        for fd in listeningDescriptors { close(fd) }
    }

    /// Listening, non-blocking sockets on 127.0.0.1:port and [::1]:port (IPV6_V6ONLY), or why the
    /// port is not ours (both closed then). A host without ::1 (IPv6 off) cannot have it taken by
    /// anyone either, so there the IPv4 socket alone holds the port.
    /// `cognito-auth doctor` probes the redirect ports with this same call.
    package static func bind(port: UInt16) -> Result<[Int32], Refusal> {
        let v4: Int32
        switch listen(family: AF_INET, port: port) {
        case .failure(let why): return .failure(why)
        case .success(let fd?): v4 = fd
        case .success(nil): return .failure(Refusal(.internalError, "127.0.0.1:\(port): IPv4 is not available"))
        }
        switch listen(family: AF_INET6, port: port) {
        case .failure(let why): close(v4); return .failure(why)
        case .success(let fd?): return .success([v4, fd])
        case .success(nil): return .success([v4])
        }
    }

    /// One listening socket; nil when the host has no such family (or no ::1).
    private static func listen(family: Int32, port: UInt16) -> Result<Int32?, Refusal> {
        let name = family == AF_INET ? "127.0.0.1:\(port)" : "[::1]:\(port)"
        func failure(_ fd: Int32?) -> Result<Int32?, Refusal> {
            let e = errno
            if let fd { close(fd) }
            if family == AF_INET6 && (e == EAFNOSUPPORT || e == EADDRNOTAVAIL) { return .success(nil) }
            return .failure(Refusal(.internalError, "\(name): \(String(cString: strerror(e)))"))
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return failure(nil) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc: Int32
        if family == AF_INET {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } else {
            guard setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else { return failure(fd) }
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = port.bigEndian
            addr.sin6_addr = in6addr_loopback
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        guard rc == 0, Glibc.listen(fd, 128) == 0 else { return failure(fd) }
        return .success(fd)
    }

    // MARK: - serving

    /// One wait: until one of `others` is readable, something happens on the listener, a
    /// connection's deadline, or `deadline`. Serves the listener and returns the readable ones
    /// among `others`. Callers loop (and look at `result`).
    public func pollServing(_ others: [Int32], until deadline: Deadline) -> [Int32] {
        var wake = deadline
        if let first = connections.map(\.deadline).min(by: { $0.at < $1.at }) { wake = wake.earlier(first) }
        let ready = Set(pollReadable(others + listeningDescriptors + connections.map(\.fd), until: wake))
        serve(ready)
        return others.filter(ready.contains)
    }

    /// Reads from the ready connections, drops expired ones, then accepts on the ready listening
    /// sockets: a connection's request is read before new ones can push it out.
    func serve(_ ready: Set<Int32>) {
        var open: [Connection] = []
        for var c in connections {
            if ready.contains(c.fd) {
                if !read(&c) { close(c.fd); continue }
            } else if c.deadline.passed {
                respond(c.fd, 400, "Bad request.")
                close(c.fd)
                continue
            }
            open.append(c)
        }
        connections = open
        for fd in listeningDescriptors where ready.contains(fd) { acceptAll(fd) }
    }

    private func acceptAll(_ listening: Int32) {
        // Bounded, so a flood of connections cannot keep us here.
        for _ in 0..<Self.acceptsPerPass {
            let conn = accept(listening, nil, nil)
            if conn < 0 && (errno == EMFILE || errno == ENFILE) && !connections.isEmpty {
                // Out of descriptors (a caller's low ulimit -n): the oldest connection makes room,
                // or the listening socket would stay readable and the wait would spin.
                close(connections.removeFirst().fd)
                continue
            }
            guard conn >= 0 else { return }   // EAGAIN: no more waiting (or a transient error)
            _ = fcntl(conn, F_SETFD, FD_CLOEXEC)
            _ = fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK)
            var c = Connection(fd: conn, deadline: Deadline.after(seconds: Self.connectionSeconds))
            // A browser sends its request as soon as it has connected; behind a flood of other
            // connections it has long arrived by now. Read it before anything can push it out.
            guard read(&c) else { close(conn); continue }
            if connections.count >= Self.maxConnections {
                close(connections.removeFirst().fd)
            }
            connections.append(c)
        }
    }

    /// Reads what is there; false when the connection is finished (answered or gone).
    private func read(_ c: inout Connection) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return recv(c.fd, base, raw.count, 0)
            }
            if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR }
            if n == 0 { return false }
            c.bytes += chunk[0..<n]
            switch HTTPRequestParser.parse(c.bytes, maxHeaderBytes: Self.maxRequestBytes, maxBodyBytes: 0) {
            case .incomplete where c.bytes.count <= Self.maxRequestBytes:
                continue   // until the socket is drained (EAGAIN) or the cap is passed
            case .incomplete, .invalid:
                respond(c.fd, 400, "Bad request.")
            case .complete(let request, _):
                answer(c.fd, request)
            }
            return false
        }
    }

    private func answer(_ conn: Int32, _ request: HTTPRequest) {
        guard request.method == "GET", request.path == redirectURI.path, let query = request.query else {
            respond(conn, 404, "Not found.")
            return
        }
        // Without our state it is not the answer, whatever else is wrong with it: a local stray
        // request (a repeated parameter, bad encoding) must not end the sign-in as refused.
        guard RedirectParser.carriesState(Substring(query), expectedState: expectedState) else {
            respond(conn, 400, "This sign-in link does not belong to a waiting login.")
            return
        }
        switch RedirectParser.parseQuery(Substring(query), expectedState: expectedState) {
        case .failure(let r):
            if result == nil { result = .failure(r) }
            respond(conn, 200, "The sign-in did not complete. You can close this tab and return to your terminal.")
        case .success(let r):
            if result == nil { result = .success(r) }
            respond(conn, 200, "Signed in. You can close this tab and return to your terminal.")
        }
    }

    private func respond(_ conn: Int32, _ status: Int, _ message: String) {
        let reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request"
        let body = """
        <!doctype html><html><head><meta charset="utf-8"><title>cognito-auth</title></head>\
        <body><p>\(message)</p></body></html>
        """
        let head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n"
        // A fresh socket's send buffer holds this small answer; a peer that does not read loses it.
        _ = writeAll(conn, Array((head + body).utf8))
    }
}
