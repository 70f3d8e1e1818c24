import CognitoAuthCore
@testable import CognitoAuthRuntime
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A one-connection HTTP server on 127.0.0.1 that reads the request and then does `behaviour`.
final class RawServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var _sent = 0
    var sent: Int { lock.withLock { _sent } }
    let finished = DispatchSemaphore(value: 0)

    /// `endlessBody`: 256 KiB every 0.1 s, without Content-Length, until `limit` or the peer leaves.
    enum Behaviour: Sendable { case silent(seconds: Double), endlessBody(limit: Int) }

    init(_ behaviour: Behaviour) {
        let s = loopbackSocket(v6: false, port: 0, connect: false)
        var a = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        fd = s
        port = UInt16(bigEndian: a.sin_port)
        listen(s, 4)
        start(behaviour)
    }

    private func start(_ behaviour: Behaviour) {
        let listening = fd
        Thread { [self] in
            let c = accept(listening, nil, nil)
            defer { if c >= 0 { close(c) }; finished.signal() }
            guard c >= 0 else { return }
            var buf = [UInt8](repeating: 0, count: 4096)
            _ = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            switch behaviour {
            case .silent(let s):
                usleep(UInt32(s * 1_000_000))
            case .endlessBody(let limit):
                // No Content-Length: the body ends when the connection does, or never.
                let head = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".utf8)
                _ = head.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                let chunk = [UInt8](repeating: UInt8(ascii: " "), count: 262_144)
                while sent < limit {
                    let n = chunk.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 { break }
                    lock.withLock { _sent += n }
                    usleep(100_000)
                }
            }
        }.start()
    }

    deinit { close(fd) }
    var url: String { "http://127.0.0.1:\(port)/x" }
}

@Suite("HTTP client")
struct HTTPClientTests {
    /// The login deadline, not http_timeout, ends a request to a silent server, and says so.
    @Test func silentServerEndsAtTheLoginDeadline() throws {
        let server = RawServer(.silent(seconds: 20))
        let http = HTTPClient(timeout: 30)
        let started = Deadline.now()
        do {
            _ = try http.get(server.url, deadline: Deadline.after(seconds: 1))
            Issue.record("a silent server answered")
        } catch {
            #expect(error.loginDeadline, "\(error)")
            #expect(error.message.contains("login_timeout"), "\(error)")
        }
        let seconds = Double(Deadline.now() - started) / 1e9
        #expect(seconds < 15, "took \(seconds) s with 1 s left and http_timeout 30")
    }

    @Test func noTimeLeftFailsFastWithoutSending() {
        let http = HTTPClient(timeout: 30)
        do {
            _ = try http.postForm("http://127.0.0.1:9/token", form: [("a", "b")], basicAuth: nil, deadline: Deadline.after(seconds: 0))
            Issue.record("sent with no time left")
        } catch {
            #expect(error.loginDeadline)
        }
    }

    @Test func httpTimeoutShorterThanTheDeadlineIsUnavailableNotTimeout() throws {
        let server = RawServer(.silent(seconds: 10))
        let http = HTTPClient(timeout: 1)
        do {
            _ = try http.get(server.url, deadline: Deadline.after(seconds: 60))
            Issue.record("a silent server answered")
        } catch {
            #expect(!error.loginDeadline, "\(error)")
        }
    }

    /// A body without Content-Length that would last minutes (2.5 MiB/s): reading stops once it
    /// passes 1 MiB. Today's client kept reading until http_timeout and called the IdP silent.
    /// (URLSession delivers data to the delegate asynchronously, so the cancel lands a little after
    /// the cap; a body whose Content-Length is over the cap is not read at all.)
    @Test func endlessBodyIsCutOffAtTheCapWhileArriving() throws {
        let server = RawServer(.endlessBody(limit: 300 << 20))
        let http = HTTPClient(timeout: 60)
        do {
            _ = try http.get(server.url, deadline: Deadline.after(seconds: 60))
            Issue.record("an endless body was accepted")
        } catch {
            #expect(error.message.contains("body over \(HTTPClient.maxBodyBytes) bytes"), "\(error)")
            #expect(!error.loginDeadline)
        }
        #expect(server.finished.wait(timeout: .now() + 30) == .success, "the client hung up")
        #expect(server.sent < 32 << 20, "server sent \(server.sent) bytes before the client stopped reading")
    }
}
