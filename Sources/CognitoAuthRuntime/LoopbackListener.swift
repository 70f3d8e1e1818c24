import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Receives the browser's redirect on 127.0.0.1 at the first free port among `redirect_uris`.
/// It accepts exactly `GET <registered path>?…state=<ours>…`; anything else gets a 404/400 and is
/// otherwise ignored, so a stray local request cannot end or steer the sign-in.
public final class LoopbackListener {
    public let redirectURI: RedirectURI
    public let fd: Int32
    private let expectedState: String
    /// Set once a request with our state arrived: the code, or why it is unusable.
    public private(set) var result: Result<RedirectResult, Refusal>?

    /// Binds the first free port; nil when every port is taken (paste-back still works).
    public static func bindFirstFree(_ uris: [RedirectURI], state: String) -> LoopbackListener? {
        for uri in uris {
            if case .success(let fd) = bind(port: uri.port) { return LoopbackListener(redirectURI: uri, fd: fd, state: state) }
        }
        return nil
    }

    private init(redirectURI: RedirectURI, fd: Int32, state: String) {
        self.redirectURI = redirectURI; self.fd = fd; self.expectedState = state
    }

    deinit { close(fd) }

    /// A listening, non-blocking socket on 127.0.0.1:port, or why there is none (strerror text).
    /// `cognito-auth doctor` probes the redirect ports with this same call.
    package static func bind(port: UInt16) -> Result<Int32, Refusal> {
        func failure(_ fd: Int32?) -> Result<Int32, Refusal> {
            let why = String(cString: strerror(errno))
            if let fd { close(fd) }
            return .failure(Refusal(.internalError, why))
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return failure(nil) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0, listen(fd, 8) == 0 else { return failure(fd) }
        return .success(fd)
    }

    /// Call when `fd` is readable: serves one connection (bounded to 2 s and 16 KiB).
    public func handleReadable() {
        let conn = accept(fd, nil, nil)
        guard conn >= 0 else { return }
        _ = fcntl(conn, F_SETFD, FD_CLOEXEC)
        defer { close(conn) }
        let deadline = Deadline.after(seconds: 2)
        var bytes: [UInt8] = []
        var request: HTTPRequest?
        readLoop: while !deadline.passed {
            guard !pollReadable([conn], until: deadline).isEmpty else { break }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return recv(conn, base, raw.count, 0)
            }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            switch HTTPRequestParser.parse(bytes, maxHeaderBytes: 16_384, maxBodyBytes: 0) {
            case .incomplete: continue
            case .invalid: break readLoop
            case .complete(let r, _): request = r; break readLoop
            }
        }
        guard let request else { respond(conn, 400, "Bad request."); return }
        guard request.method == "GET", request.path == redirectURI.path, let query = request.query else {
            respond(conn, 404, "Not found.")
            return
        }
        switch RedirectParser.parseQuery(Substring(query), expectedState: expectedState) {
        case .failure(let r) where r.code == .stateMismatch:
            respond(conn, 400, "This sign-in link does not belong to a waiting login.")
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
        _ = writeAll(conn, Array((head + body).utf8))
    }
}
