import CognitoAuthCore
import Foundation

/// Response builders shared by the routes.
enum Respond {
    static func json(_ status: Int, _ value: OrderedJSON, extraHeaders: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status,
                     headers: [("Content-Type", "application/json;charset=UTF-8")] + extraHeaders,
                     body: value.bytes)
    }

    /// An OAuth error body as Cognito writes it: `{"error":"…"}`.
    static func oauthError(_ status: Int, _ error: String, extraHeaders: [(name: String, value: String)] = []) -> HTTPResponse {
        json(status, .object([("error", .string(error))]),
             extraHeaders: [("Cache-Control", "no-store"), ("Pragma", "no-cache")] + extraHeaders)
    }

    static func html(_ status: Int, _ page: String) -> HTTPResponse {
        HTTPResponse(status: status,
                     headers: [("Content-Type", "text/html;charset=UTF-8"), ("Cache-Control", "no-store"),
                               ("X-Frame-Options", "DENY")],
                     text: page)
    }

    static func redirect(_ location: String) -> HTTPResponse {
        HTTPResponse(status: 302, headers: [("Location", location), ("Cache-Control", "no-store")])
    }

    static func notFound() -> HTTPResponse {
        json(404, .object([("error", .string("not_found"))]))
    }

    static func methodNotAllowed(_ allow: String) -> HTTPResponse {
        HTTPResponse(status: 405, headers: [("Allow", allow), ("Content-Type", "application/json;charset=UTF-8")],
                     body: OrderedJSON.object([("error", .string("invalid_request"))]).bytes)
    }
}

/// `uri` with `pairs` appended to its query.
func appendQuery(_ uri: String, _ pairs: [(String, String)]) -> String {
    let separator = uri.contains("?") ? (uri.hasSuffix("?") || uri.hasSuffix("&") ? "" : "&") : "?"
    return uri + separator + FormURLEncoding.encodeQuery(pairs)
}

/// Byte-for-byte equality (Swift's `==` on String compares canonical equivalence, which would
/// call two different byte sequences the same URI).
func sameBytes(_ a: String, _ b: String) -> Bool {
    a.utf8.elementsEqual(b.utf8)
}

/// Equality of secrets in time independent of where they differ.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) {
        diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
    }
    return diff == 0
}

/// Form pairs as a dictionary; nil when a name repeats (RFC 6749 §3.1: parameters MUST NOT be
/// included more than once).
func uniqueParameters(_ pairs: [(String, String)]) -> [String: String]? {
    var out: [String: String] = [:]
    for (k, v) in pairs {
        if out[k] != nil { return nil }
        out[k] = v
    }
    return out
}
