import CognitoAuthCore
@testable import CognitoAuthRuntime
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Protected files")
struct ProtectedFileTests {
    let dir: String = {
        var t = Array("/tmp/ca-pf-XXXXXX".utf8CString)
        return String(cString: mkdtemp(&t))
    }()

    func write(_ name: String, _ text: String, mode: mode_t) -> String {
        let p = "\(dir)/\(name)"
        #expect(FileManager.default.createFile(atPath: p, contents: Data(text.utf8)), "could not write \(p)")
        chmod(p, mode)
        return p
    }

    @Test func readsARootOwnedPrivateFile() throws {
        let p = write("ok.conf", "x = 1\n", mode: 0o644)
        #expect(try ProtectedFile.read(p, kind: .config, requiredOwner: geteuid()) == "x = 1\n")
    }
    @Test func refusesGroupOrWorldWritable() {
        let p = write("gw.conf", "x", mode: 0o664)
        #expect(throws: ConfigError.self) { try ProtectedFile.read(p, kind: .config, requiredOwner: geteuid()) }
    }
    @Test func refusesReadableSecret() {
        let p = write("secret", "s", mode: 0o640)
        #expect(throws: ConfigError.self) { try ProtectedFile.read(p, kind: .secret, requiredOwner: geteuid()) }
        chmod(p, 0o600)
        #expect((try? ProtectedFile.read(p, kind: .secret, requiredOwner: geteuid())) == "s")
    }
    @Test func refusesSymlinksWrongOwnerAndBigFiles() {
        let target = write("t.conf", "x", mode: 0o600)
        let link = "\(dir)/link.conf"
        symlink(target, link)
        #expect(throws: ConfigError.self) { try ProtectedFile.read(link, kind: .config, requiredOwner: geteuid()) }
        #expect(throws: ConfigError.self) { try ProtectedFile.read(target, kind: .config, requiredOwner: geteuid() &+ 1) }
        let big = write("big.conf", String(repeating: "#", count: 70_000), mode: 0o600)
        #expect(throws: ConfigError.self) { try ProtectedFile.read(big, kind: .config, requiredOwner: geteuid()) }
        #expect(throws: ConfigError.self) { try ProtectedFile.read(dir, kind: .config, requiredOwner: geteuid()) }
    }
    @Test func loadedConfigReadsSecretAndMapFile() throws {
        let secret = write("client-secret", "s3cr3t\n", mode: 0o600)
        let map = write("accounts", "alice@example.com alice\n", mode: 0o644)
        let conf = write("c.conf", """
            region = us-east-1
            user_pool_id = us-east-1_X
            client_id = c
            client_secret_file = \(secret)
            account_map = file:\(map)
            allowed_groups = *
            """, mode: 0o600)
        let loaded = try LoadedConfig.load(path: conf, requiredOwner: geteuid())
        #expect(loaded.clientSecret == "s3cr3t")
        #expect(loaded.accountMap?.user(for: "alice@example.com") == "alice")
        chmod(secret, 0o644)
        #expect(throws: ConfigError.self) { try LoadedConfig.load(path: conf, requiredOwner: geteuid()) }
    }
}

@Suite("Loopback listener")
struct LoopbackListenerTests {
    func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in(); a.sin_family = sa_family_t(AF_INET); a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        close(fd)
        return UInt16(bigEndian: a.sin_port)
    }

    /// Sends raw bytes to the listener from another thread while this one serves it.
    func exchange(_ listener: LoopbackListener, _ request: String) -> String {
        let port = listener.redirectURI.port
        let response = Box()
        let t = Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var a = sockaddr_in(); a.sin_family = sa_family_t(AF_INET); a.sin_port = port.bigEndian
            a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var buf = [UInt8](repeating: 0, count: 8192)
            var out: [UInt8] = []
            while true {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                out += buf[0..<n]
            }
            close(fd)
            response.set(String(decoding: out, as: UTF8.self))
        }
        t.start()
        _ = pollReadable([listener.fd], until: Deadline.after(seconds: 5))
        listener.handleReadable()
        for _ in 0..<200 where response.get() == nil { usleep(10_000) }
        return response.get() ?? ""
    }

    @Test func takesTheFirstFreePortAndAcceptsOnlyOurCallback() throws {
        let p1 = freePort(), p2 = freePort()
        let uris = try [#require(RedirectURI.parse("http://localhost:\(p1)/callback")), #require(RedirectURI.parse("http://localhost:\(p2)/callback"))]
        let first = try #require(LoopbackListener.bindFirstFree(uris, state: "S1"))
        let second = try #require(LoopbackListener.bindFirstFree(uris, state: "S2"))
        #expect(first.redirectURI.port == p1)
        #expect(second.redirectURI.port == p2, "the second sign-in gets the next port")
        #expect(LoopbackListener.bindFirstFree(uris, state: "S3") == nil, "no port left: paste-back only")

        #expect(exchange(first, "GET /other?code=x&state=S1 HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 404"))
        #expect(exchange(first, "POST /callback?code=x&state=S1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").hasPrefix("HTTP/1.1 404"))
        #expect(exchange(first, "GET /callback?code=x&state=WRONG HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 400"))
        #expect(exchange(first, "garbage\r\n\r\n").hasPrefix("HTTP/1.1 400"))
        #expect(first.result == nil, "nothing so far may end the sign-in")
        let ok = exchange(first, "GET /callback?code=the-code&state=S1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(ok.hasPrefix("HTTP/1.1 200"))
        #expect(ok.contains("You can close this tab"))
        #expect(first.result == .success(.code("the-code")))
    }
}

final class Box: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    func set(_ v: String) { lock.withLock { value = v } }
    func get() -> String? { lock.withLock { value } }
}
