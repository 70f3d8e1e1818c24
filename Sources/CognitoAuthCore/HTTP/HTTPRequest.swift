/// A strict, bounded HTTP/1.1 request parser: a pure function of the bytes received so far.
///
/// It is used by the emulator's server and by the PAM helper's loopback redirect listener, so it
/// parses bytes an attacker controls. It never traps, never allocates more than the input plus the
/// caps, and refuses (rather than repairs) anything ambiguous that request smuggling or header
/// injection relies on: `Transfer-Encoding`, duplicate or malformed `Content-Length`, obs-fold
/// continuation lines, whitespace before the colon, a bare CR, control characters in values,
/// a missing or repeated `Host` on HTTP/1.1.
///
/// Accepted: a request line `METHOD SP origin-form-target SP HTTP/1.0|HTTP/1.1`, header lines
/// `token ":" OWS value OWS`, and a body of exactly `Content-Length` bytes. Lines end in CRLF; a bare
/// LF is tolerated (RFC 9112 §2.2). One or two empty lines before the request line are ignored.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target as sent (origin-form: path plus optional `?query`).
    public var target: String
    /// The target up to `?`, still percent-encoded.
    public var path: String
    /// The target after the first `?`, still encoded; nil when the target has no `?`.
    public var query: String?
    /// `"HTTP/1.1"` or `"HTTP/1.0"`.
    public var version: String
    /// Header fields in the order received. Values are trimmed of surrounding spaces/tabs; bytes
    /// 0x80–0xFF (obs-text) are mapped one-to-one onto U+0080–U+00FF.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, target: String, version: String = "HTTP/1.1",
                headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.version = version
        if let q = target.firstIndex(of: "?") {
            self.path = String(target[..<q])
            self.query = String(target[target.index(after: q)...])
        } else {
            self.path = target
            self.query = nil
        }
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively (ASCII).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// Every value of the headers with this name, in order.
    public func headerValues(_ name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.filter { $0.name.lowercased() == wanted }.map(\.value)
    }
}

public enum HTTPRequestParseResult: Sendable {
    /// More bytes are needed (and the caps still allow them).
    case incomplete
    /// A whole request; `consumed` bytes of the input belong to it.
    case complete(HTTPRequest, consumed: Int)
    /// The bytes can never become a valid request; the reason is for logs, not for the peer.
    case invalid(String)
}

public enum HTTPRequestParser {
    /// Most header fields accepted in one request.
    public static let maxHeaderCount = 100

    /// Parses one request from the start of `bytes`.
    /// - Parameters:
    ///   - maxHeaderBytes: cap on the request line plus header block, terminator included.
    ///   - maxBodyBytes: cap on the declared `Content-Length`.
    public static func parse(_ bytes: [UInt8], maxHeaderBytes: Int = 16_384,
                             maxBodyBytes: Int = 65_536) -> HTTPRequestParseResult {
        // 1. Split the head into lines, stopping at the empty line that ends it.
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = 0
        var index = 0
        var headEnd: Int? = nil
        var leadingEmptyLines = 0
        let limit = min(bytes.count, maxHeaderBytes)
        while index < limit {
            let byte = bytes[index]
            if byte == LF {
                var lineEnd = index
                if lineEnd > lineStart, bytes[lineEnd - 1] == CR { lineEnd -= 1 }
                let line = bytes[lineStart..<lineEnd]
                index += 1
                lineStart = index
                if line.isEmpty {
                    if lines.isEmpty {
                        // RFC 9112 §2.2: ignore empty line(s) before the request line.
                        leadingEmptyLines += 1
                        if leadingEmptyLines > 2 { return .invalid("too many empty lines before the request line") }
                        continue
                    }
                    headEnd = index
                    break
                }
                if line.contains(CR) { return .invalid("bare CR in the header block") }
                lines.append(line)
                if lines.count > maxHeaderCount + 1 { return .invalid("too many header fields") }
                continue
            }
            if byte == 0 { return .invalid("NUL byte in the header block") }
            index += 1
        }
        guard let bodyStart = headEnd else {
            return bytes.count >= maxHeaderBytes ? .invalid("header block exceeds \(maxHeaderBytes) bytes") : .incomplete
        }

        // 2. Request line.
        guard let requestLine = lines.first else { return .invalid("no request line") }
        let parts = requestLine.split(separator: SP, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .invalid("request line is not METHOD SP target SP version") }
        let methodBytes = parts[0], targetBytes = parts[1], versionBytes = parts[2]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(isTokenByte) else { return .invalid("bad method") }
        let version = String(decoding: versionBytes, as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            return .invalid("unsupported HTTP version")
        }
        guard targetBytes.first == UInt8(ascii: "/") else { return .invalid("request target is not origin-form") }
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else {
            return .invalid("bad character in request target")
        }
        let method = String(decoding: methodBytes, as: UTF8.self)
        let target = String(decoding: targetBytes, as: UTF8.self)

        // 3. Header fields.
        var headers: [(name: String, value: String)] = []
        var contentLength: Int? = nil
        var hostCount = 0
        for line in lines.dropFirst() {
            guard let first = line.first, first != SP, first != HTAB else {
                return .invalid("obsolete line folding")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .invalid("header line without a colon") }
            let nameBytes = line[line.startIndex..<colon]
            guard !nameBytes.isEmpty, nameBytes.allSatisfy(isTokenByte) else { return .invalid("bad header name") }
            var valueBytes = line[(colon + 1)...]
            while let f = valueBytes.first, f == SP || f == HTAB { valueBytes = valueBytes.dropFirst() }
            while let l = valueBytes.last, l == SP || l == HTAB { valueBytes = valueBytes.dropLast() }
            guard valueBytes.allSatisfy({ $0 == HTAB || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return .invalid("control character in a header value")
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            var value = ""
            value.unicodeScalars.append(contentsOf: valueBytes.map { Unicode.Scalar($0) })
            switch name.lowercased() {
            case "transfer-encoding":
                return .invalid("Transfer-Encoding is not supported")
            case "content-length":
                guard contentLength == nil else { return .invalid("more than one Content-Length") }
                guard !valueBytes.isEmpty, valueBytes.count <= 18, valueBytes.allSatisfy(isDigit),
                      let n = Int(value) else {
                    return .invalid("malformed Content-Length")
                }
                guard n <= maxBodyBytes else { return .invalid("body exceeds \(maxBodyBytes) bytes") }
                contentLength = n
            case "host":
                hostCount += 1
                if hostCount > 1 { return .invalid("more than one Host") }
            default:
                break
            }
            headers.append((name: name, value: value))
        }
        if version == "HTTP/1.1" && hostCount == 0 { return .invalid("HTTP/1.1 request without Host") }

        // 4. Body.
        let length = contentLength ?? 0
        guard bytes.count - bodyStart >= length else { return .incomplete }
        let body = Array(bytes[bodyStart..<(bodyStart + length)])
        let request = HTTPRequest(method: method, target: target, version: version, headers: headers, body: body)
        return .complete(request, consumed: bodyStart + length)
    }

    private static let CR = UInt8(ascii: "\r")
    private static let LF = UInt8(ascii: "\n")
    private static let SP = UInt8(ascii: " ")
    private static let HTAB = UInt8(ascii: "\t")

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// tchar from RFC 9110 §5.6.2.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
