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
/// No redirects are followed, no cookies or caches are kept, bodies are capped.
public final class HTTPClient: @unchecked Sendable {
    public static let maxBodyBytes = 1_048_576
    private let session: URLSession
    private let timeout: TimeInterval

    public init(timeout: Int, caFile: String? = nil) {
        if let caFile {
            // swift-corelibs-foundation hands this file to libcurl as CURLOPT_CAINFO.
            setenv("URLSessionCertificateAuthorityInfoFile", caFile, 1)
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = TimeInterval(timeout)
        configuration.timeoutIntervalForResource = TimeInterval(timeout)
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpAdditionalHeaders = ["User-Agent": "cognito-auth/1"]
        self.timeout = TimeInterval(timeout)
        self.session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    deinit { session.invalidateAndCancel() }

    public func get(_ url: String) throws(TransportError) -> HTTPResponseData {
        guard EndpointRule.isAcceptable(url), let u = URL(string: url) else {
            throw TransportError(url: url, message: "refusing a non-https URL (http is allowed only to loopback)")
        }
        var request = URLRequest(url: u)
        request.httpMethod = "GET"
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        return try send(request)
    }

    public func postForm(_ url: String, form: [(String, String)], basicAuth: (String, String)?) throws(TransportError) -> HTTPResponseData {
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
        return try send(request)
    }

    private func send(_ request: URLRequest) throws(TransportError) -> HTTPResponseData {
        let url = request.url?.absoluteString ?? "?"
        let box = ResultBox()
        let semaphore = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            box.set(data: data, response: response, error: error)
            semaphore.signal()
        }
        task.resume()
        if semaphore.wait(timeout: .now() + timeout + 2) == .timedOut {
            task.cancel()
            throw TransportError(url: url, message: "no answer within \(Int(timeout)) s")
        }
        let (data, response, error) = box.get()
        if let error {
            throw TransportError(url: url, message: (error as NSError).localizedDescription)
        }
        guard let http = response as? HTTPURLResponse else { throw TransportError(url: url, message: "not an HTTP response") }
        let body = data ?? Data()
        guard body.count <= Self.maxBodyBytes else { throw TransportError(url: url, message: "response body over \(Self.maxBodyBytes) bytes") }
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields { if let k = k as? String, let v = v as? String { headers[k] = v } }
        return HTTPResponseData(status: http.statusCode, headers: headers, body: body)
    }
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Data?, URLResponse?, Error?) = (nil, nil, nil)
    func set(data: Data?, response: URLResponse?, error: Error?) { lock.lock(); value = (data, response, error); lock.unlock() }
    func get() -> (Data?, URLResponse?, Error?) { lock.lock(); defer { lock.unlock() }; return value }
}

private final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}

