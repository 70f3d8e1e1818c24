import CognitoAuthCore
@testable import CognitoAuthRuntime
import CognitoEmulator
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A one-connection server on 127.0.0.1 that reads the request, then is silent or sends a body
/// without end (no Content-Length), counting what it managed to send.
private final class RawPeer: @unchecked Sendable {
    enum Behaviour: Sendable { case silent(seconds: UInt32), endlessBody }
    let port: UInt16
    let done = DispatchSemaphore(value: 0)
    private let listening: Int32
    private let lock = NSLock()
    private var sentBytes = 0
    var sent: Int { lock.withLock { sentBytes } }

    init(_ behaviour: Behaviour) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        try #require(fd >= 0 && ok && listen(fd, 1) == 0)
        listening = fd
        port = UInt16(bigEndian: addr.sin_port)
        Thread { [self] in
            let c = accept(fd, nil, nil)
            defer { if c >= 0 { close(c) }; done.signal() }
            guard c >= 0 else { return }
            var request = [UInt8](repeating: 0, count: 4096)
            _ = request.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            switch behaviour {
            case .silent(let seconds):
                sleep(seconds)
            case .endlessBody:
                let head = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".utf8)
                _ = head.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                let chunk = [UInt8](repeating: UInt8(ascii: " "), count: 65_536)
                while sent < 256 << 20 {
                    let n = chunk.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 { break }
                    lock.withLock { sentBytes += n }
                }
            }
        }.start()
    }

    deinit { close(listening) }
    var url: String { "http://127.0.0.1:\(port)/x" }
}

@Suite("HTTP client over libcurl")
struct CurlHTTPClientTests {
    static func emulator() throws -> CognitoEmulator {
        let e = CognitoEmulator(client: EmulatorClient(clientId: "c", clientSecret: "s", redirectURIs: ["http://localhost:8400/callback"]))
        try e.start()
        return e
    }

    @Test func getReturnsStatusHeadersAndBody() throws {
        let e = try Self.emulator()
        defer { e.stop() }
        let r = try HTTPClient(timeout: 5).get(e.discoveryURL, deadline: .after(seconds: 10))
        #expect(r.status == 200)
        #expect(r.header("Date") != nil && r.header("content-type")?.hasPrefix("application/json") == true, "\(r.headers)")
        #expect(JSONValue.parseObject(r.body)?["issuer"]?.stringValue == e.issuer)
    }

    /// A refusal is an HTTP status with its body, not a transport failure.
    @Test func postFormReturnsAnErrorStatusWithItsBody() throws {
        let e = try Self.emulator()
        defer { e.stop() }
        let r = try HTTPClient(timeout: 5).postForm(e.tokenEndpoint, form: [("grant_type", "authorization_code"), ("code", "nope")],
                                                    basicAuth: ("c", "s"), deadline: .after(seconds: 10))
        #expect(r.status == 400)
        #expect(JSONValue.parseObject(r.body)?["error"]?.stringValue?.hasPrefix("invalid_") == true, "\(r.body.count) bytes")
    }

    /// An empty form is an empty body, not libcurl's default of reading one from stdin.
    @Test func anEmptyFormIsAnEmptyBody() throws {
        let e = try Self.emulator()
        defer { e.stop() }
        let r = try HTTPClient(timeout: 5).postForm(e.tokenEndpoint, form: [], basicAuth: nil, deadline: .after(seconds: 5))
        #expect(r.status == 401, "the emulator asks a client without credentials who it is")
    }

    @Test func redirectsAreNotFollowed() throws {
        let e = try Self.emulator()
        defer { e.stop() }
        let r = try HTTPClient(timeout: 5).get(e.authorizeEndpoint + "?client_id=c", deadline: .after(seconds: 10))
        #expect((300..<400).contains(r.status), "status \(r.status)")
        #expect(r.header("Location") != nil)
    }

    @Test func plainHTTPBeyondLoopbackIsRefusedUnsent() {
        #expect(throws: TransportError.self) { try HTTPClient(timeout: 5).get("http://example.com/x", deadline: .after(seconds: 10)) }
        #expect(throws: TransportError.self) { try HTTPClient(timeout: 5).get("ftp://127.0.0.1/x", deadline: .after(seconds: 10)) }
    }

    @Test func nothingListeningIsATransportError() throws {
        let e = try Self.emulator()
        let url = e.discoveryURL
        e.stop()  // the port refuses connections from here on
        do {
            _ = try HTTPClient(timeout: 5).get(url, deadline: .after(seconds: 10))
            Issue.record("a stopped server answered")
        } catch {
            #expect(!error.loginDeadline)
            #expect(error.message.contains("curl error 7"), "\(error)")
        }
    }

    /// The login's deadline, not http_timeout, ends a request to a silent server, and says so.
    @Test func aSilentServerIsCutOffAtTheLoginDeadline() throws {
        let peer = try RawPeer(.silent(seconds: 20))
        let started = Deadline.now()
        do {
            _ = try HTTPClient(timeout: 30).get(peer.url, deadline: .after(seconds: 1))
            Issue.record("a silent server answered")
        } catch {
            #expect(error.loginDeadline && error.message.contains("login_timeout"), "\(error)")
        }
        let seconds = Double(Deadline.now() - started) / 1e9
        #expect(seconds < 3, "took \(seconds) s with 1 s left")
    }

    @Test func httpTimeoutShorterThanTheDeadlineIsNotTheLogins() throws {
        let peer = try RawPeer(.silent(seconds: 10))
        do {
            _ = try HTTPClient(timeout: 1).get(peer.url, deadline: .after(seconds: 60))
            Issue.record("a silent server answered")
        } catch {
            #expect(!error.loginDeadline && error.message.contains("http_timeout (1 s)"), "\(error)")
        }
    }

    @Test func noTimeLeftIsNotSent() {
        do {
            _ = try HTTPClient(timeout: 30).postForm("http://127.0.0.1:9/token", form: [("a", "b")], basicAuth: nil,
                                                     deadline: .after(seconds: 0.05))
            Issue.record("sent with no time left")
        } catch {
            #expect(error.loginDeadline && error.message.hasPrefix("not sent"), "\(error)")
        }
    }

    /// The body cap holds while the body arrives: the transfer stops soon after 1 MiB instead of
    /// reading a body that would never end.
    @Test func anEndlessBodyIsCutOffAtTheCap() throws {
        let peer = try RawPeer(.endlessBody)
        do {
            _ = try HTTPClient(timeout: 30).get(peer.url, deadline: .after(seconds: 30))
            Issue.record("an endless body was accepted")
        } catch {
            #expect(error.message.contains("body over \(HTTPClient.maxBodyBytes) bytes"), "\(error)")
        }
        #expect(peer.done.wait(timeout: .now() + 10) == .success, "the client did not hang up")
        #expect(peer.sent < 16 << 20, "the server sent \(peer.sent) bytes before the client stopped")
    }

    @Test func secretBytesGrowAndHandOverTheirContent() {
        let buffer = SecretBytes()
        let chunk = [UInt8](repeating: 7, count: 10_000)
        for _ in 0..<5 { #expect(buffer.append(chunk)) }
        #expect(buffer.count == 50_000)
        let data = buffer.takeData()
        #expect(data.count == 50_000 && data.allSatisfy { $0 == 7 })
        #expect(buffer.count == 0 && buffer.takeData().isEmpty)
    }
}
