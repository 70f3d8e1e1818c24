import CognitoAuthCore
@testable import CognitoAuthRuntime
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A connected or bound TCP socket on 127.0.0.1 or [::1].
func loopbackSocket(v6: Bool, port: UInt16, connect doConnect: Bool) -> Int32 {
    let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    let rc: Int32
    if v6 {
        var a = sockaddr_in6(); a.sin6_family = sa_family_t(AF_INET6); a.sin6_port = port.bigEndian; a.sin6_addr = in6addr_loopback
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            doConnect ? connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) : bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    } else {
        var a = sockaddr_in(); a.sin_family = sa_family_t(AF_INET); a.sin_port = port.bigEndian; a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            doConnect ? connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) : bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    }
    if rc != 0 { close(fd); return -1 }
    return fd
}

func freePort() -> UInt16 {
    let fd = loopbackSocket(v6: false, port: 0, connect: false)
    var a = sockaddr_in()
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    close(fd)
    return UInt16(bigEndian: a.sin_port)
}

@Suite("Loopback listener")
struct LoopbackListenerTests {
    /// Sends raw bytes to the listener from another thread while this one serves it.
    func exchange(_ listener: LoopbackListener, _ request: String, v6: Bool = false) -> String {
        let port = listener.redirectURI.port
        let response = Box()
        Thread {
            let fd = loopbackSocket(v6: v6, port: port, connect: true)
            guard fd >= 0 else { response.set("connect failed"); return }
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
        }.start()
        let deadline = Deadline.after(seconds: 10)
        while response.get() == nil, !deadline.passed { _ = listener.pollServing([], until: Deadline.after(seconds: 0.05)) }
        return response.get() ?? ""
    }

    func uris(_ ports: UInt16...) throws -> [RedirectURI] {
        try ports.map { try #require(RedirectURI.parse("http://localhost:\($0)/callback")) }
    }

    @Test func takesTheFirstFreePortAndAcceptsOnlyOurCallback() throws {
        let p1 = freePort(), p2 = freePort()
        let uris = try uris(p1, p2)
        let first = try #require(LoopbackListener.bindFirstFree(uris, state: "S1"))
        let second = try #require(LoopbackListener.bindFirstFree(uris, state: "S2"))
        #expect(first.redirectURI.port == p1)
        #expect(second.redirectURI.port == p2, "the second sign-in gets the next port")
        #expect(LoopbackListener.bindFirstFree(uris, state: "S3") == nil, "no port left: paste-back only")

        #expect(exchange(first, "GET /other?code=x&state=S1 HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 404"))
        #expect(exchange(first, "POST /callback?code=x&state=S1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").hasPrefix("HTTP/1.1 404"))
        #expect(exchange(first, "GET /callback?code=x&state=WRONG HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 400"))
        #expect(exchange(first, "garbage\r\n\r\n").hasPrefix("HTTP/1.1 400"))
        #expect(exchange(first, "GET /callback?" + String(repeating: "a", count: 20_000)).hasPrefix("HTTP/1.1 400"), "over 16 KiB")
        #expect(first.result == nil, "nothing so far may end the sign-in")
        let ok = exchange(first, "GET /callback?code=the-code&state=S1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(ok.hasPrefix("HTTP/1.1 200"))
        #expect(ok.contains("You can close this tab"))
        #expect(first.result == .success(.code("the-code")))
    }

    @Test func servesTheCallbackOnIPv6Too() throws {
        let listener = try #require(LoopbackListener.bindFirstFree(try uris(freePort()), state: "S"))
        #expect(listener.listeningDescriptors.count == 2, "127.0.0.1 and ::1")
        #expect(exchange(listener, "GET /callback?code=c6&state=S HTTP/1.1\r\nHost: localhost\r\n\r\n", v6: true).hasPrefix("HTTP/1.1 200"))
        #expect(listener.result == .success(.code("c6")))
    }

    /// Another local user holds [::1]:p1 — a browser resolving localhost to ::1 would hand them
    /// our code. p1 is not ours: the listener takes p2, and lets go of 127.0.0.1:p1 again.
    @Test func portHeldOnIPv6ByAnotherProcessIsSkipped() throws {
        let p1 = freePort(), p2 = freePort()
        let squatter = loopbackSocket(v6: true, port: p1, connect: false)
        try #require(squatter >= 0)
        defer { close(squatter) }
        #expect(listen(squatter, 1) == 0)
        let listener = try #require(LoopbackListener.bindFirstFree(try uris(p1, p2), state: "S"))
        #expect(listener.redirectURI.port == p2)
        let v4 = loopbackSocket(v6: false, port: p1, connect: false)
        #expect(v4 >= 0, "127.0.0.1:\(p1) was released when [::1]:\(p1) turned out taken")
        if v4 >= 0 { close(v4) }
        guard case .failure(let why) = LoopbackListener.bind(port: p1) else { Issue.record("bound a port held on ::1"); return }
        #expect(why.detail.hasPrefix("[::1]:\(p1): "), "\(why.detail)")
    }

    @Test func portHeldOnIPv4ByAnotherProcessIsSkipped() throws {
        let p1 = freePort(), p2 = freePort()
        let squatter = loopbackSocket(v6: false, port: p1, connect: false)
        try #require(squatter >= 0)
        defer { close(squatter) }
        #expect(listen(squatter, 1) == 0)
        let listener = try #require(LoopbackListener.bindFirstFree(try uris(p1, p2), state: "S"))
        #expect(listener.redirectURI.port == p2)
    }

    /// More idle or dribbling connections than are served at once do not delay the real one.
    @Test func slowConnectionsDoNotHoldUpTheCallback() throws {
        let listener = try #require(LoopbackListener.bindFirstFree(try uris(freePort()), state: "S"))
        let port = listener.redirectURI.port
        let count = LoopbackListener.maxConnections + 8
        var slow: [Int32] = []
        defer { slow.forEach { close($0) } }
        for i in 0..<count {
            let fd = loopbackSocket(v6: i % 2 == 1, port: port, connect: true)
            if fd >= 0 { slow.append(fd) }
            if i % 3 == 0 { _ = send(fd, "G", 1, 0) }   // a request that never finishes
            // The listen backlog is 128: accept as we go, or a blocking connect waits for SYN retries.
            if i % 32 == 31 { _ = listener.pollServing([], until: Deadline.after(seconds: 0.01)) }
        }
        #expect(slow.count == count)
        for _ in 0..<20 { _ = listener.pollServing([], until: Deadline.after(seconds: 0.01)) }
        let started = Deadline.now()
        let ok = exchange(listener, "GET /callback?code=real&state=S HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let ms = (Deadline.now() - started) / 1_000_000
        #expect(ok.hasPrefix("HTTP/1.1 200"))
        #expect(listener.result == .success(.code("real")))
        // Generous: today's one-at-a-time listener needs 2 s per slow connection ahead of it.
        #expect(ms < 5_000, "callback took \(ms) ms behind \(count) slow connections")
    }
}
