/// An HTTP/1.1 response and its serialization. Every response closes its connection: the
/// serializer always writes `Connection: close` and `Content-Length` itself (any of those given
/// by the caller is dropped), and drops a header whose name is not a token or whose value holds
/// a control character, so a value taken from a request can never split the response.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var reason: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, reason: String? = nil, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.reason = reason ?? HTTPResponse.standardReason(status)
        self.headers = headers
        self.body = body
    }

    public init(status: Int, reason: String? = nil, headers: [(name: String, value: String)] = [], text: String) {
        self.init(status: status, reason: reason, headers: headers, body: Array(text.utf8))
    }

    /// The first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    public func serialize() -> [UInt8] {
        let status = (100...999).contains(self.status) ? self.status : 500
        let reason = String(self.reason.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F })
        var head = "HTTP/1.1 \(status) \(reason)\r\n"
        for (name, value) in headers {
            let lower = name.lowercased()
            if lower == "content-length" || lower == "connection" || lower == "transfer-encoding" { continue }
            guard !name.isEmpty, name.utf8.allSatisfy(HTTPRequestParser.isTokenByte) else { continue }
            guard value.unicodeScalars.allSatisfy({ $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7F) }) else { continue }
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(body.count)\r\n"
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + body
    }

    public static func standardReason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 302: return "Found"
        case 303: return "See Other"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}
