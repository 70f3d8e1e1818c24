import CognitoAuthCore
import Testing

struct NotComplete: Error {}

@Suite("HTTP request parser")
struct HTTPRequestParserTests {
    func parse(_ s: String, maxHeaderBytes: Int = 16_384, maxBodyBytes: Int = 65_536) -> HTTPRequestParseResult {
        HTTPRequestParser.parse(Array(s.utf8), maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
    }

    func complete(_ s: String) throws -> (HTTPRequest, Int) {
        guard case .complete(let r, let n) = parse(s) else {
            Issue.record("expected a complete request, got \(parse(s))")
            throw NotComplete()
        }
        return (r, n)
    }

    func isInvalid(_ r: HTTPRequestParseResult) -> Bool {
        if case .invalid = r { return true } else { return false }
    }

    func isIncomplete(_ r: HTTPRequestParseResult) -> Bool {
        if case .incomplete = r { return true } else { return false }
    }

    @Test func simpleGet() throws {
        let (r, n) = try complete("GET /callback?code=abc&state=x HTTP/1.1\r\nHost: localhost:8400\r\nUser-Agent: t\r\n\r\n")
        #expect(r.method == "GET")
        #expect(r.target == "/callback?code=abc&state=x")
        #expect(r.path == "/callback")
        #expect(r.query == "code=abc&state=x")
        #expect(r.version == "HTTP/1.1")
        #expect(r.header("host") == "localhost:8400")
        #expect(r.header("USER-AGENT") == "t")
        #expect(r.body.isEmpty)
        #expect(n == "GET /callback?code=abc&state=x HTTP/1.1\r\nHost: localhost:8400\r\nUser-Agent: t\r\n\r\n".utf8.count)
    }

    @Test func noQueryIsNilEmptyQueryIsEmpty() throws {
        #expect(try complete("GET /a HTTP/1.1\r\nHost: h\r\n\r\n").0.query == nil)
        #expect(try complete("GET /a? HTTP/1.1\r\nHost: h\r\n\r\n").0.query == "")
    }

    @Test func bareLFTolerated() throws {
        let (r, _) = try complete("GET / HTTP/1.1\nHost: h\nX-A:  v  \n\n")
        #expect(r.header("x-a") == "v")
    }

    @Test func postWithBodyAndPipelinedRest() throws {
        let text = "POST /oauth2/token HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n"
        let (r, n) = try complete(text)
        #expect(r.body == Array("hello".utf8))
        #expect(n == text.utf8.count - "GET / HTTP/1.1\r\n".utf8.count)
    }

    @Test func incompleteUntilWholeHeadAndBody() {
        #expect(isIncomplete(parse("GET / HTTP/1.1\r\nHost: h\r\n")))
        #expect(isIncomplete(parse("")))
        #expect(isIncomplete(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")))
    }

    @Test func everyPrefixOfAValidRequestIsIncomplete() {
        let full = Array("POST /login?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\nabcdefg".utf8)
        for cut in 0..<full.count {
            let r = HTTPRequestParser.parse(Array(full[0..<cut]))
            #expect(isIncomplete(r), "prefix of \(cut) bytes")
        }
    }

    @Test("malformed requests are refused", arguments: [
        "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nName : v\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{01}b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\u{00}\r\n\r\n",
    ])
    func malformed(_ text: String) {
        #expect(isInvalid(parse(text)), "\(text.debugDescription)")
    }

    @Test func oneLeadingEmptyLineIsIgnored() throws {
        #expect(try complete("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").0.path == "/")
    }

    @Test func http10WithoutHostIsAccepted() throws {
        #expect(try complete("GET / HTTP/1.0\r\n\r\n").0.version == "HTTP/1.0")
    }

    @Test func headerBlockCap() {
        let big = "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
        #expect(isInvalid(parse(big)))
        // Without the terminator yet: still refused once past the cap, not "incomplete" forever.
        let open = "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "a", count: 20_000)
        #expect(isInvalid(parse(open)))
        // Just under the cap is fine.
        let small = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        #expect(!isInvalid(parse(small, maxHeaderBytes: small.utf8.count)))
        #expect(isInvalid(parse(small, maxHeaderBytes: small.utf8.count - 1)))
    }

    @Test func bodyCap() {
        #expect(isInvalid(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n")))
        #expect(isInvalid(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", maxBodyBytes: 0)))
        #expect(isIncomplete(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65536\r\n\r\n")))
    }

    @Test func tooManyHeaders() {
        let many = "GET / HTTP/1.1\r\nHost: h\r\n" + (0..<150).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(isInvalid(parse(many)))
    }

    @Test func obsTextInValuesIsKeptByteForByte() throws {
        var bytes = Array("GET / HTTP/1.1\r\nHost: h\r\nX: ".utf8)
        bytes += [0xC3, 0xA9]
        bytes += Array("\r\n\r\n".utf8)
        guard case .complete(let r, _) = HTTPRequestParser.parse(bytes) else {
            Issue.record("not complete")
            return
        }
        #expect(r.header("x")?.unicodeScalars.map(\.value) == [0xC3, 0xA9])
    }

    @Test func trailingBytesDoNotChangeACompleteRequest() throws {
        let text = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        let (r, n) = try complete(text)
        for tail in ["", "X", "GET / HTTP/1.1\r\n", "\u{00}\u{FF}"] {
            guard case .complete(let r2, let n2) = parse(text + tail) else {
                Issue.record("tail \(tail.debugDescription) changed the result")
                continue
            }
            #expect(n2 == n)
            #expect(r2.body == r.body && r2.target == r.target)
        }
    }

    @Test func randomGarbageNeverTraps() {
        var g = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<300, using: &g)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
            if Bool.random(using: &g) { bytes = Array("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n".utf8) + bytes }
            _ = HTTPRequestParser.parse(bytes, maxHeaderBytes: 128, maxBodyBytes: 64)
        }
    }
}

@Suite("Form URL encoding")
struct FormURLEncodingTests {
    @Test func decodesPlusPercentAndEmpty() throws {
        let pairs = try #require(FormURLEncoding.decode("a=1+2&b=%2F%3d&&c&d=&e=%E2%82%AC"))
        #expect(pairs.map(\.0) == ["a", "b", "c", "d", "e"])
        #expect(pairs.map(\.1) == ["1 2", "/=", "", "", "€"])
    }

    @Test func keepsOrderAndDuplicates() throws {
        let pairs = try #require(FormURLEncoding.decode("x=1&x=2"))
        #expect(pairs.map(\.1) == ["1", "2"])
    }

    @Test("bad escapes and invalid UTF-8 are refused", arguments: ["a=%", "a=%4", "a=%zz", "a=%C3%28", "%FF=1", "a=%ED%A0%80"])
    func refused(_ s: String) {
        #expect(FormURLEncoding.decode(s) == nil)
    }

    @Test func roundTrip() throws {
        let pairs = [("redirect_uri", "http://localhost:8400/callback?x=1&y=2"), ("state", "a b+c/é~"), ("", "")]
        let encoded = FormURLEncoding.encode(pairs)
        #expect(!encoded.contains(" "))
        #expect(encoded.hasPrefix("redirect_uri=http%3A%2F%2Flocalhost%3A8400%2Fcallback%3Fx%3D1%26y%3D2&state=a+b%2Bc%2F%C3%A9~"))
        let back = try #require(FormURLEncoding.decode(encoded))
        #expect(back.map(\.0) == ["redirect_uri", "state", ""])
        #expect(back.map(\.1) == ["http://localhost:8400/callback?x=1&y=2", "a b+c/é~", ""])
    }
}

@Suite("HTTP response serializer")
struct HTTPResponseTests {
    @Test func alwaysCloseAndLength() {
        let r = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain"), ("Content-Length", "999"),
                                                    ("Connection", "keep-alive")], text: "hi")
        let text = String(decoding: r.serialize(), as: UTF8.self)
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
    }

    @Test func headerInjectionIsDropped() {
        let r = HTTPResponse(status: 302, headers: [("Location", "http://x/\r\nSet-Cookie: a=b"), ("Bad Name", "v"), ("X-Ok", "v")])
        let text = String(decoding: r.serialize(), as: UTF8.self)
        #expect(!text.contains("Set-Cookie"))
        #expect(!text.contains("Bad Name"))
        #expect(text.contains("X-Ok: v\r\n"))
    }

    @Test func roundTripsThroughTheParserShape() {
        let text = String(decoding: HTTPResponse(status: 404, text: "").serialize(), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
    }
}
