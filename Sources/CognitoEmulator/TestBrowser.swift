import CognitoAuthCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public enum TestBrowserError: Error, Equatable, CustomStringConvertible {
    case badURL(String)
    case transport(String)
    /// The hosted UI showed its error page (e.g. `redirect_mismatch`).
    case errorPage(status: Int, url: String, body: String)
    /// The sign-in form came back with this message (wrong password, unknown user).
    case signInRejected(String)
    case noForm(status: Int, body: String)
    case unexpectedResponse(status: Int, url: String)
    case tooManyRedirects

    public var description: String {
        switch self {
        case .badURL(let u): return "not a URL: \(u)"
        case .transport(let why): return "HTTP request failed: \(why)"
        case .errorPage(let status, let url, _): return "the sign-in page answered \(status) at \(url)"
        case .signInRejected(let message): return "sign-in refused: \(message)"
        case .noForm(let status, _): return "no sign-in form in the page (status \(status))"
        case .unexpectedResponse(let status, let url): return "unexpected status \(status) from \(url)"
        case .tooManyRedirects: return "too many redirects within the hosted UI"
        }
    }
}

/// A tiny browser for tests and `cognito-auth demo --auto`: it fetches pages without following
/// redirects, so the redirect to the app's callback (which carries the code) is seen, not taken.
public enum TestBrowser {
    /// Opens the authorize URL, follows the hosted UI's own redirects (same origin) to the sign-in
    /// form, submits `email`/`password`, and returns the `Location` of the redirect back to the
    /// app (`…?code=…&state=…`, or `…?error=…` when the authorize request was refused in a way
    /// Cognito reports to the app).
    public static func signIn(authorizeURL: String, email: String, password: String) async throws -> String {
        guard let start = URL(string: authorizeURL), start.scheme != nil, start.host != nil else {
            throw TestBrowserError.badURL(authorizeURL)
        }
        var url = start
        var page: (status: Int, headers: [String: String], body: String)
        var hops = 0
        while true {
            page = try await fetch(URLRequest(url: url))
            guard (300..<400).contains(page.status) else { break }
            guard let location = page.headers["location"], let next = URL(string: location, relativeTo: url)?.absoluteURL else {
                throw TestBrowserError.unexpectedResponse(status: page.status, url: url.absoluteString)
            }
            // A redirect out of the hosted UI goes to the app: that is the answer.
            guard sameOrigin(next, start) else { return next.absoluteString }
            hops += 1
            if hops > 5 { throw TestBrowserError.tooManyRedirects }
            url = next
        }
        if page.status >= 400 {
            throw TestBrowserError.errorPage(status: page.status, url: url.absoluteString, body: page.body)
        }
        guard page.status == 200, let form = HTMLForm.first(in: page.body),
              let action = URL(string: form.action, relativeTo: url)?.absoluteURL else {
            throw TestBrowserError.noForm(status: page.status, body: page.body)
        }
        var fields = form.hiddenFields
        fields.append(("username", email))
        fields.append(("password", password))
        var post = URLRequest(url: action)
        post.httpMethod = "POST"
        post.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        post.httpBody = Data(FormURLEncoding.encode(fields).utf8)
        let answer = try await fetch(post)
        if (300..<400).contains(answer.status) {
            guard let location = answer.headers["location"],
                  let next = URL(string: location, relativeTo: action)?.absoluteURL else {
                throw TestBrowserError.unexpectedResponse(status: answer.status, url: action.absoluteString)
            }
            return next.absoluteString
        }
        if answer.status == 200, HTMLForm.first(in: answer.body) != nil {
            throw TestBrowserError.signInRejected(HTMLForm.errorMessage(in: answer.body) ?? "the sign-in form was shown again")
        }
        if answer.status >= 400 {
            throw TestBrowserError.errorPage(status: answer.status, url: action.absoluteString, body: answer.body)
        }
        throw TestBrowserError.unexpectedResponse(status: answer.status, url: action.absoluteString)
    }

    /// The emulator's device mode (`flow = device`): opens `verification_uri_complete`, submits the
    /// user code it carries, then the sign-in form. Returns the final page's text.
    public static func deviceSignIn(verificationURIComplete: String, email: String, password: String) async throws -> String {
        guard let start = URL(string: verificationURIComplete), start.scheme != nil, start.host != nil,
              let code = queryValue(start, "user_code") else {
            throw TestBrowserError.badURL(verificationURIComplete)
        }
        var action = URLComponents(url: start, resolvingAgainstBaseURL: false)
        action?.query = nil
        guard let post = action?.url else { throw TestBrowserError.badURL(verificationURIComplete) }
        let form = try await fetch(URLRequest(url: start))
        guard form.status == 200 else { throw TestBrowserError.unexpectedResponse(status: form.status, url: start.absoluteString) }
        _ = try await submit(post, [("user_code", code)], cookies: [])
        let done = try await submit(post, [("user_code", code), ("username", email), ("password", password)], cookies: [])
        guard done.status == 200, !done.body.contains("name=\"password\"") else {
            throw TestBrowserError.signInRejected(HTMLForm.errorMessage(in: done.body) ?? "the device sign-in was not accepted")
        }
        return done.body
    }

    /// cognito-auth-relay's pages (`flow = relay`), as a phone's browser walks them: the code form
    /// (its CSRF cookie kept), the confirmation page's Continue, Cognito's sign-in, and the redirect
    /// back to the relay's `/callback` with the state cookie. Returns the relay's final page.
    public static func relaySignIn(verificationURIComplete: String, email: String, password: String) async throws -> String {
        guard let start = URL(string: verificationURIComplete), start.scheme != nil, start.host != nil,
              let code = queryValue(start, "code"),
              let codeAction = URL(string: "/d", relativeTo: start)?.absoluteURL,
              let confirmAction = URL(string: "/d/confirm", relativeTo: start)?.absoluteURL else {
            throw TestBrowserError.badURL(verificationURIComplete)
        }
        var jar: [(String, String)] = []
        func keep(_ headers: [String: String]) {
            guard let set = headers["set-cookie"], let pair = set.split(separator: ";").first,
                  let eq = pair.firstIndex(of: "=") else { return }
            let name = String(pair[..<eq]).trimmingCharacters(in: .whitespaces), value = String(pair[pair.index(after: eq)...])
            jar.removeAll { $0.0 == name }
            if !value.isEmpty { jar.append((name, value)) }
        }
        let page = try await fetch(URLRequest(url: start))
        keep(page.headers)
        guard page.status == 200, let codeForm = HTMLForm.first(in: page.body) else { throw TestBrowserError.noForm(status: page.status, body: page.body) }
        let confirm = try await submit(codeAction, codeForm.hiddenFields + [("code", code)], cookies: jar)
        keep(confirm.headers)
        guard confirm.status == 200, let confirmForm = HTMLForm.first(in: confirm.body) else {
            throw TestBrowserError.errorPage(status: confirm.status, url: codeAction.absoluteString, body: confirm.body)
        }
        let go = try await submit(confirmAction, confirmForm.hiddenFields + [("action", "continue")], cookies: jar)
        keep(go.headers)
        guard go.status == 302, let authorize = go.headers["location"] else {
            throw TestBrowserError.unexpectedResponse(status: go.status, url: confirmAction.absoluteString)
        }
        let callback = try await signIn(authorizeURL: authorize, email: email, password: password)
        guard let back = URL(string: callback) else { throw TestBrowserError.badURL(callback) }
        var request = URLRequest(url: back)
        request.setValue(jar.map { "\($0.0)=\($0.1)" }.joined(separator: "; "), forHTTPHeaderField: "Cookie")
        let done = try await fetch(request)
        guard done.status == 200 else { throw TestBrowserError.errorPage(status: done.status, url: callback, body: done.body) }
        return done.body
    }

    static func queryValue(_ url: URL, _ name: String) -> String? {
        URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems?.first { $0.name == name }?.value
    }

    /// POSTs a form (with cookies), redirects not followed.
    static func submit(_ url: URL, _ fields: [(String, String)], cookies: [(String, String)]) async throws
        -> (status: Int, headers: [String: String], body: String) {
        var post = URLRequest(url: url)
        post.httpMethod = "POST"
        post.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        if !cookies.isEmpty { post.setValue(cookies.map { "\($0.0)=\($0.1)" }.joined(separator: "; "), forHTTPHeaderField: "Cookie") }
        post.httpBody = Data(FormURLEncoding.encode(fields).utf8)
        return try await fetch(post)
    }

    /// GETs `url` without following redirects (e.g. the app's loopback callback).
    public static func follow(_ url: String) async throws -> (status: Int, body: String) {
        guard let u = URL(string: url), u.scheme != nil, u.host != nil else { throw TestBrowserError.badURL(url) }
        let page = try await fetch(URLRequest(url: u))
        return (page.status, page.body)
    }

    /// One request, redirects not followed. Header names are lower-cased.
    static func fetch(_ request: URLRequest) async throws -> (status: Int, headers: [String: String], body: String) {
        var request = request
        request.timeoutInterval = 15
        let delegate = NoRedirectDelegate()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await delegate.run(request, in: session)
        } catch {
            throw TestBrowserError.transport(String(describing: error))
        }
        guard let http = response as? HTTPURLResponse else { throw TestBrowserError.transport("not an HTTP response") }
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields {
            if let name = k as? String, let value = v as? String { headers[name.lowercased()] = value }
        }
        return (http.statusCode, headers, String(decoding: data, as: UTF8.self))
    }

    /// Same scheme, host and port; loopback names (127.0.0.1, localhost, ::1) count as one host,
    /// so an authorize URL written with `localhost` still follows the emulator's `127.0.0.1` redirects.
    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        func port(_ u: URL) -> Int? { u.port ?? (u.scheme?.lowercased() == "https" ? 443 : 80) }
        func host(_ u: URL) -> String? {
            let h = u.host?.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return ["127.0.0.1", "localhost", "::1"].contains(h ?? "") ? "loopback" : h
        }
        return a.scheme?.lowercased() == b.scheme?.lowercased() && host(a) == host(b) && port(a) == port(b)
    }
}

/// Runs one data task and refuses every redirect, so a 3xx is returned as is.
private final class NoRedirectDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var response: URLResponse?
    private var continuation: CheckedContinuation<(Data, URLResponse), Error>?

    func run(_ request: URLRequest, in session: URLSession) async throws -> (Data, URLResponse) {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<(Data, URLResponse), Error>) in
            lock.withLock { continuation = c }
            session.dataTask(with: request).resume()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        lock.withLock { self.response = response }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.withLock { self.data.append(data) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        let (c, body, response) = lock.withLock { () -> (CheckedContinuation<(Data, URLResponse), Error>?, Data, URLResponse?) in
            let c = continuation
            continuation = nil
            return (c, data, self.response ?? task.response)
        }
        if let error {
            c?.resume(throwing: error)
        } else if let response {
            c?.resume(returning: (body, response))
        } else {
            c?.resume(throwing: TestBrowserError.transport("no response"))
        }
    }
}

/// Just enough HTML reading for a sign-in form.
enum HTMLForm {
    struct Form {
        var action: String
        var hiddenFields: [(String, String)]
    }

    /// The first `<form>` with `method="post"`: its action and hidden inputs.
    static func first(in html: String) -> Form? {
        let tags = self.tags(in: html)
        guard let start = tags.firstIndex(where: { $0.name == "form" && ($0.attributes["method"]?.lowercased() == "post") }),
              let action = tags[start].attributes["action"] else {
            return nil
        }
        var hidden: [(String, String)] = []
        for tag in tags[(start + 1)...] {
            if tag.name == "/form" { break }
            if tag.name == "input", tag.attributes["type"]?.lowercased() == "hidden", let name = tag.attributes["name"] {
                hidden.append((name, tag.attributes["value"] ?? ""))
            }
        }
        return Form(action: action, hiddenFields: hidden)
    }

    /// The text of the first element whose class list holds `error`.
    static func errorMessage(in html: String) -> String? {
        guard let open = tags(in: html).first(where: {
            $0.attributes["class"]?.split(separator: " ").contains("error") == true && !$0.name.hasPrefix("/")
        }) else { return nil }
        let rest = html[open.end...]
        guard let close = rest.firstIndex(of: "<") else { return nil }
        return unescape(String(rest[..<close])).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Tag {
        var name: String
        var attributes: [String: String]
        var end: String.Index
    }

    static func tags(in html: String) -> [Tag] {
        var result: [Tag] = []
        var i = html.startIndex
        while let lt = html[i...].firstIndex(of: "<") {
            guard let gt = html[lt...].firstIndex(of: ">") else { break }
            let inner = html[html.index(after: lt)..<gt]
            i = html.index(after: gt)
            if inner.hasPrefix("!") { continue }
            var nameEnd = inner.startIndex
            if nameEnd < inner.endIndex, inner[nameEnd] == "/" { nameEnd = inner.index(after: nameEnd) }
            while nameEnd < inner.endIndex, !" \n\t\r/".contains(inner[nameEnd]) { nameEnd = inner.index(after: nameEnd) }
            let name = inner[..<nameEnd].lowercased()
            result.append(Tag(name: name, attributes: attributes(inner[nameEnd...]), end: i))
        }
        return result
    }

    static func attributes(_ s: Substring) -> [String: String] {
        var out: [String: String] = [:]
        var rest = s[...]
        while true {
            rest = rest.drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "/" })
            guard !rest.isEmpty else { break }
            let nameEnd = rest.firstIndex(where: { $0 == "=" || $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) ?? rest.endIndex
            let name = rest[..<nameEnd].lowercased()
            rest = rest[nameEnd...].drop(while: { $0 == " " })
            guard rest.first == "=" else {
                if !name.isEmpty, out[name] == nil { out[name] = "" }
                continue
            }
            rest = rest.dropFirst().drop(while: { $0 == " " })
            let value: Substring
            if let q = rest.first, q == "\"" || q == "'" {
                let body = rest.dropFirst()
                let close = body.firstIndex(of: q) ?? body.endIndex
                value = body[..<close]
                rest = close < body.endIndex ? body[body.index(after: close)...] : body[close...]
            } else {
                let close = rest.firstIndex(where: { $0 == " " || $0 == "\n" || $0 == "\t" }) ?? rest.endIndex
                value = rest[..<close]
                rest = rest[close...]
            }
            if out[name] == nil { out[name] = unescape(String(value)) }
        }
        return out
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&middot;", with: "·")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
