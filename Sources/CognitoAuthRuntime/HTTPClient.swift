import CognitoAuthCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A failure to talk to the identity provider: the IdP is unreachable or answered something that
/// is not HTTP we can use. Distinct from a refusal ("couldn't tell" vs "no").
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public var url: String
    public var message: String
    /// The login's deadline, not `http_timeout`, cut the request short or left no time to start it:
    /// the caller reports the login as timed out rather than the IdP as unavailable.
    public var loginDeadline: Bool = false
    public var description: String { "\(url): \(message)" }
}

public struct HTTPResponseData: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data
    public func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}

/// Synchronous HTTPS client over the toolchain's URLSession (system libcurl and CA store): the
/// helper is a short-lived single-purpose process, so blocking calls keep its control flow plain.
/// No redirects are followed, no cookies or caches are kept. Each request ends by `http_timeout`
/// or by the login's deadline, whichever is first, and the task is cancelled as soon as its body
/// passes `maxBodyBytes`; what arrives after that is dropped, not kept. (URLSession hands body data
/// to the delegate asynchronously, so on a fast link libcurl may read on for a while before the
/// cancel lands; the libcurl client will stop in its write callback.)
public final class HTTPClient: @unchecked Sendable {
    public static let maxBodyBytes = 1_048_576
    /// With less than this left before the login's deadline, a request is not started.
    public static let minimumRequestSeconds = 0.1
    private let session: URLSession
    private let tasks: TaskDelegate
    private let timeout: TimeInterval

    public init(timeout: Int, caFile: String? = nil) {
        if let caFile {
            // swift-corelibs-foundation hands this file to libcurl as CURLOPT_CAINFO.
            setenv("URLSessionCertificateAuthorityInfoFile", caFile, 1)
        }
        let configuration = URLSessionConfiguration.ephemeral
        // Backstops only: `send` waits for exactly its limit and cancels, so the reason is ours.
        configuration.timeoutIntervalForRequest = TimeInterval(timeout + 1)
        configuration.timeoutIntervalForResource = TimeInterval(timeout + 1)
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpAdditionalHeaders = ["User-Agent": "cognito-auth/1"]
        self.timeout = TimeInterval(timeout)
        self.tasks = TaskDelegate(maxBodyBytes: Self.maxBodyBytes)
        self.session = URLSession(configuration: configuration, delegate: tasks, delegateQueue: nil)
    }

    deinit { session.invalidateAndCancel() }

    /// - Parameter deadline: the login's; nil only for the admin's diagnostics (`doctor`), which
    ///   have no login to bound them.
    public func get(_ url: String, deadline: Deadline?) throws(TransportError) -> HTTPResponseData {
        guard EndpointRule.isAcceptable(url), let u = URL(string: url) else {
            throw TransportError(url: url, message: "refusing a non-https URL (http is allowed only to loopback)")
        }
        var request = URLRequest(url: u)
        request.httpMethod = "GET"
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        return try send(request, deadline: deadline)
    }

    public func postForm(_ url: String, form: [(String, String)], basicAuth: (String, String)?,
                         deadline: Deadline?) throws(TransportError) -> HTTPResponseData {
        guard EndpointRule.isAcceptable(url), let u = URL(string: url) else {
            throw TransportError(url: url, message: "refusing a non-https URL (http is allowed only to loopback)")
        }
        var request = URLRequest(url: u)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let (user, password) = basicAuth {
            // RFC 6749 §2.3.1: the client id and secret are form-encoded before base64.
            let credentials = "\(FormURLEncoding.escape(user)):\(FormURLEncoding.escape(password))"
            request.setValue("Basic " + Data(credentials.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        }
        request.httpBody = Data(FormURLEncoding.encode(form).utf8)
        return try send(request, deadline: deadline)
    }

    private func send(_ request: URLRequest, deadline: Deadline?) throws(TransportError) -> HTTPResponseData {
        let url = request.url?.absoluteString ?? "?"
        var limit = timeout
        var byDeadline = false
        if let deadline {
            let left = Double(deadline.remainingMilliseconds) / 1000
            if left < limit { limit = left; byDeadline = true }
        }
        guard limit >= Self.minimumRequestSeconds else {
            throw TransportError(url: url, message: "not sent: login_timeout has (nearly) passed", loginDeadline: true)
        }
        var request = request
        request.timeoutInterval = limit + 1
        let task = session.dataTask(with: request)
        let exchange = tasks.begin(task)
        defer { tasks.end(task) }
        task.resume()
        if exchange.done.wait(timeout: .now() + limit) == .timedOut {
            task.cancel()
            let why = byDeadline ? "no answer before login_timeout (\(String(format: "%.1f", limit)) s left)" : "no answer within \(Int(timeout)) s"
            throw TransportError(url: url, message: why, loginDeadline: byDeadline)
        }
        let (body, response, error, overCap) = exchange.result()
        if overCap { throw TransportError(url: url, message: "response body over \(Self.maxBodyBytes) bytes; stopped reading") }
        if let error {
            throw TransportError(url: url, message: (error as NSError).localizedDescription,
                                 loginDeadline: byDeadline && (deadline?.passed ?? false))
        }
        guard let http = response as? HTTPURLResponse else { throw TransportError(url: url, message: "not an HTTP response") }
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields { if let k = k as? String, let v = v as? String { headers[k] = v } }
        return HTTPResponseData(status: http.statusCode, headers: headers, body: body)
    }
}

/// One request's state as the session's delegate callbacks fill it in.
private final class Exchange: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var body = Data()
    private var response: URLResponse?
    private var error: Error?
    private var overCap = false
    private var finished = false

    func receive(_ response: URLResponse) { lock.withLock { self.response = response } }
    /// false once the body has grown past `cap` (it is then dropped).
    func append(_ data: Data, cap: Int) -> Bool {
        lock.withLock {
            guard !overCap else { return false }
            if body.count + data.count > cap { overCap = true; body = Data(); return false }
            body.append(data)
            return true
        }
    }
    func markOverCap() { lock.withLock { overCap = true; body = Data() } }
    func finish(_ error: Error?) {
        let first = lock.withLock { () -> Bool in
            guard !finished else { return false }
            finished = true; self.error = error
            return true
        }
        if first { done.signal() }
    }
    func result() -> (Data, URLResponse?, Error?, Bool) { lock.withLock { (body, response, error, overCap) } }
}

/// The session's delegate: no redirects, and the body cap applied while the body arrives.
private final class TaskDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let maxBodyBytes: Int
    private let lock = NSLock()
    private var exchanges: [Int: Exchange] = [:]

    init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    func begin(_ task: URLSessionTask) -> Exchange {
        let e = Exchange()
        lock.withLock { exchanges[task.taskIdentifier] = e }
        return e
    }
    func end(_ task: URLSessionTask) { _ = lock.withLock { exchanges.removeValue(forKey: task.taskIdentifier) } }
    private func exchange(_ task: URLSessionTask) -> Exchange? { lock.withLock { exchanges[task.taskIdentifier] } }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        guard let e = exchange(dataTask) else { completionHandler(.cancel); return }
        e.receive(response)
        if response.expectedContentLength > Int64(maxBodyBytes) {
            // Content-Length already says too much. swift-corelibs-foundation ignores the
            // disposition, so cancel the task itself.
            e.markOverCap()
            dataTask.cancel()
            completionHandler(.cancel)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let e = exchange(dataTask) else { dataTask.cancel(); return }
        if !e.append(data, cap: maxBodyBytes) { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        exchange(task)?.finish(error)
    }
}
