import CCurl
import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A failure to talk to the identity provider: the IdP is unreachable or answered something that
/// is not HTTP we can use. Distinct from a refusal ("couldn't tell" vs "no").
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public var url: String
    public var message: String
    /// The login's deadline, not `http_timeout`, cut the request short or left no time to start it:
    /// a caller may report the login as timed out rather than the IdP as unavailable.
    public var loginDeadline: Bool = false
    public var description: String { "\(url): \(message)" }
}

public struct HTTPResponseData: Sendable {
    public var status: Int
    /// Field names in lower case; a repeated field's values joined with ", " (RFC 9110 §5.3).
    public var headers: [String: String]
    public var body: Data
    public func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}

/// The one HTTP client of the helper and the CLI: a synchronous `curl_easy` transfer per request
/// over the system libcurl (its TLS, its CA store). The helper is a short-lived process making
/// about three requests, so blocking calls keep its control flow plain.
///
/// What each request gets, and why (README "Dependencies, and why"):
/// - TLS verification as libcurl does it by default (peer and host name), TLS 1.2 or later;
///   `ca_file` is CURLOPT_CAINFO, read in place of the system's CA bundle file while libcurl's CA
///   directory (Debian: /etc/ssl/certs) stays in use, so it adds trust anchors.
/// - Only the URL's own scheme, and `http` only where `EndpointRule` allows it (loopback).
/// - No redirects, no cookies, no .netrc, no compressed encodings (the cap counts the bytes on the
///   wire), and no proxy: the PAM module starts the helper with PATH alone in its environment, so a
///   proxy variable could only ever reach the admin's `doctor`/`test`, which would then report a
///   path that logins do not take.
/// - Time: `http_timeout` or what is left of the login's deadline, whichever is less, for the whole
///   request and for the connection.
/// - A body is refused as soon as it passes `maxBodyBytes` while arriving, never buffered whole;
///   the buffer that held it (tokens, for the token endpoint) is zeroed when released.
public final class HTTPClient: Sendable {
    public static let maxBodyBytes = 1_048_576
    public static let maxHeaderBytes = 65_536
    /// With less than this left before the login's deadline, a request is not started.
    public static let minimumRequestMilliseconds = 100
    public static let userAgent = "cognito-auth/1"

    let timeoutSeconds: Int
    let caFile: String?

    public init(timeout: Int, caFile: String? = nil) {
        self.timeoutSeconds = timeout
        self.caFile = caFile
    }

    /// Loads and initialises libcurl on another thread: the helper calls this once its config is
    /// read, so with a warm discovery and JWKS cache the load overlaps the prompt and the person's
    /// sign-in. Without it the first request loads libcurl itself.
    public static func preload() { cognito_curl_preload() }

    /// Before the process exits: waits for a preload under way (exiting while another thread is
    /// inside dlopen or curl_global_init can crash in their exit handlers).
    public static func settle() { cognito_curl_settle() }

    /// libcurl loaded and `curl_global_init` done (once per process), or why not.
    static func libraryProblem() -> String? {
        var why: UnsafePointer<CChar>? = nil
        guard cognito_curl_ready(&why) != 0 else { return nil }
        return why.map { String(cString: $0) } ?? "libcurl could not be initialised"
    }

    public func get(_ url: String, deadline: Deadline) throws(TransportError) -> HTTPResponseData {
        try perform(url, headers: ["Accept: application/json"], body: nil, deadline: deadline)
    }

    /// `bearer`: `Authorization: Bearer <secret>` (the relay's host secret, DESIGN.md §7) instead of Basic.
    public func postForm(_ url: String, form: [(String, String)], basicAuth: (String, String)?, bearer: String? = nil,
                         deadline: Deadline) throws(TransportError) -> HTTPResponseData {
        var headers = ["Accept: application/json", "Content-Type: application/x-www-form-urlencoded",
                       "Expect:"]  // no 100-continue round trip
        if let (user, password) = basicAuth {
            // RFC 6749 §2.3.1: the client id and secret are form-encoded before base64.
            let credentials = "\(FormURLEncoding.escape(user)):\(FormURLEncoding.escape(password))"
            headers.append("Authorization: Basic " + Data(credentials.utf8).base64EncodedString())
        } else if let bearer {
            headers.append("Authorization: Bearer " + bearer)
        }
        return try perform(url, headers: headers, body: Array(FormURLEncoding.encode(form).utf8), deadline: deadline)
    }

    private func perform(_ url: String, headers: [String], body: [UInt8]?, deadline: Deadline) throws(TransportError) -> HTTPResponseData {
        func fail(_ message: String, loginDeadline: Bool = false) -> TransportError {
            TransportError(url: url, message: message, loginDeadline: loginDeadline)
        }
        guard EndpointRule.isAcceptable(url) else {
            throw fail("refusing a non-https URL (http is allowed only to loopback)")
        }
        let scheme = url.lowercased().hasPrefix("https:") ? "https" : "http"

        let httpLimit = max(0, timeoutSeconds) * 1000
        let left = Int(deadline.remainingMilliseconds)
        let byDeadline = left < httpLimit
        let limit = min(httpLimit, left)
        guard limit >= Self.minimumRequestMilliseconds else {
            throw byDeadline ? fail("not sent: login_timeout has (nearly) passed", loginDeadline: true)
                             : fail("not sent: http_timeout is \(timeoutSeconds) s")
        }

        if let problem = Self.libraryProblem() { throw fail(problem) }
        // Everything libcurl is handed by pointer stays alive until curl_easy_cleanup (the defer
        // below runs first, and keeps `transfer` and `form` from being released early by ARC).
        let transfer = Transfer(maxBody: Self.maxBodyBytes, maxHeaders: Self.maxHeaderBytes)
        let errorText = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errorText.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        defer { errorText.deallocate() }
        // Our own copy of the form (it holds the code, the PKCE verifier, maybe the secret): libcurl
        // reads CURLOPT_POSTFIELDS in place, and this copy is zeroed when the transfer is over.
        let form = SecretBytes()
        if let body, !form.append(body) { throw fail("out of memory") }
        var requestHeaders: UnsafeMutablePointer<curl_slist>? = nil
        defer { wipeAndFree(requestHeaders) }
        for h in headers {
            guard let list = cognito_curl_slist_append(requestHeaders, h) else { throw fail("out of memory") }
            requestHeaders = list
        }
        guard let handle = cognito_curl_easy_init() else { throw fail("libcurl could not start a transfer") }
        defer { withExtendedLifetime((transfer, form)) { cognito_curl_easy_cleanup(handle) } }

        var refused: String? = nil
        func set(_ name: String, _ rc: CURLcode) { if rc != CURLE_OK, refused == nil { refused = name } }
        set("URL", cognito_curl_setopt_string(handle, CURLOPT_URL, url))
        set("PROTOCOLS_STR", cognito_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, scheme))
        set("REDIR_PROTOCOLS_STR", cognito_curl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, scheme))
        set("FOLLOWLOCATION", cognito_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        set("NOSIGNAL", cognito_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set("PROXY", cognito_curl_setopt_string(handle, CURLOPT_PROXY, ""))
        set("SSL_VERIFYPEER", cognito_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
        set("SSL_VERIFYHOST", cognito_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
        set("SSLVERSION", cognito_curl_setopt_long(handle, CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2)))
        if let caFile { set("CAINFO", cognito_curl_setopt_string(handle, CURLOPT_CAINFO, caFile)) }
        set("TIMEOUT_MS", cognito_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, limit))
        set("CONNECTTIMEOUT_MS", cognito_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, limit))
        set("USERAGENT", cognito_curl_setopt_string(handle, CURLOPT_USERAGENT, Self.userAgent))
        set("HTTPHEADER", cognito_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, requestHeaders))
        set("ERRORBUFFER", cognito_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorText))
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        set("WRITEFUNCTION", cognito_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, receiveBody))
        set("WRITEDATA", cognito_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        set("HEADERFUNCTION", cognito_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION, receiveHeader))
        set("HEADERDATA", cognito_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        if body != nil {
            // A POST always has its fields set: without them libcurl would read the body from stdin.
            set("POSTFIELDSIZE", cognito_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, form.count))
            if let fields = form.base {
                set("POSTFIELDS", cognito_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, fields))
            } else {
                set("COPYPOSTFIELDS", cognito_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, ""))
            }
        }
        // An option this libcurl lacks would weaken what we promise: refuse rather than go on.
        if let refused { throw fail("libcurl refused CURLOPT_\(refused) (libcurl 7.85 or later is needed)") }

        let rc = cognito_curl_easy_perform(handle)
        if rc != CURLE_OK {
            if transfer.bodyOverCap { throw fail("response body over \(Self.maxBodyBytes) bytes; stopped reading") }
            if transfer.headersOverCap { throw fail("response headers over \(Self.maxHeaderBytes) bytes; stopped reading") }
            if rc == CURLE_OPERATION_TIMEDOUT {
                throw byDeadline ? fail("no answer before login_timeout (\(limit / 1000).\(limit % 1000 / 100) s were left)", loginDeadline: true)
                                 : fail("no answer within http_timeout (\(timeoutSeconds) s)")
            }
            var detail = String(cString: errorText)
            while detail.last == "\n" { detail.removeLast() }
            if detail.isEmpty { detail = String(cString: cognito_curl_easy_strerror(rc)) }
            throw fail("\(detail) (curl error \(rc.rawValue))")
        }
        var status = 0
        _ = cognito_curl_response_code(handle, &status)
        guard status >= 100 else { throw fail("not an HTTP response") }
        return HTTPResponseData(status: status, headers: transfer.headers, body: transfer.body.takeData())
    }
}

/// One transfer's response as libcurl's callbacks deliver it.
private final class Transfer {
    let maxBody: Int
    let maxHeaders: Int
    let body = SecretBytes()
    var bodyOverCap = false
    var headers: [String: String] = [:]
    var headerBytes = 0
    var headersOverCap = false

    init(maxBody: Int, maxHeaders: Int) { self.maxBody = maxBody; self.maxHeaders = maxHeaders }

    /// One header line as received, CRLF included. A status line starts a new response (an interim
    /// 1xx one came before), so only the final response's fields are kept.
    func header(_ line: UnsafeRawBufferPointer) -> Bool {
        headerBytes += line.count
        if headerBytes > maxHeaders { headersOverCap = true; return false }
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
        if line.starts(with: "HTTP/".utf8) { headers = [:]; return true }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return true }
        let name = Syntax.asciiLowercased(String(decoding: line[..<colon], as: UTF8.self))
        var value = line[(colon + 1)...]
        while let b = value.first, isSpace(b) { value = value.dropFirst() }
        while let b = value.last, isSpace(b) { value = value.dropLast() }
        let text = String(decoding: value, as: UTF8.self)
        headers[name] = headers[name].map { $0 + ", " + text } ?? text
        return true
    }
}

private let receiveBody: cognito_curl_data_callback = { data, size, count, context in
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let (n, overflow) = size.multipliedReportingOverflow(by: count)
    // A short count makes libcurl abort the transfer with CURLE_WRITE_ERROR.
    guard !overflow, transfer.body.count + n <= transfer.maxBody, transfer.body.append(UnsafeRawPointer(data), n) else {
        transfer.bodyOverCap = true
        return 0
    }
    return n
}

private let receiveHeader: cognito_curl_data_callback = { data, size, count, context in
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let (n, overflow) = size.multipliedReportingOverflow(by: count)
    guard !overflow, transfer.header(UnsafeRawBufferPointer(start: data, count: n)) else { return 0 }
    return n
}

/// Zeroes the request's header lines (one may carry the client secret) before libcurl frees them.
private func wipeAndFree(_ list: UnsafeMutablePointer<curl_slist>?) {
    var node = list
    while let n = node {
        if let text = n.pointee.data { explicit_bzero(text, strlen(text)) }
        node = n.pointee.next
    }
    cognito_curl_slist_free_all(list)
}

/// A growable byte buffer that zeroes every block it lets go of: bodies from the token endpoint
/// hold tokens, and the request form holds the code and the PKCE verifier.
final class SecretBytes {
    private(set) var base: UnsafeMutableRawPointer? = nil
    private(set) var count = 0
    private var capacity = 0

    func append(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in raw.baseAddress.map { append($0, raw.count) } ?? true }
    }

    func append(_ bytes: UnsafeRawPointer, _ n: Int) -> Bool {
        guard n > 0 else { return true }
        if count + n > capacity {
            var grown = max(capacity, 16_384)
            while grown < count + n { grown *= 2 }
            let fresh = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 1)
            if let base {
                fresh.copyMemory(from: base, byteCount: count)
                explicit_bzero(base, capacity)
                base.deallocate()
            }
            base = fresh
            capacity = grown
        }
        guard let base else { return false }
        (base + count).copyMemory(from: bytes, byteCount: n)
        count += n
        return true
    }

    /// The bytes as `Data` that zeroes them when its storage is released; this buffer is left empty.
    func takeData() -> Data {
        guard let base, count > 0 else { return Data() }
        let data = Data(bytesNoCopy: base, count: count, deallocator: .custom { p, n in
            explicit_bzero(p, n)
            p.deallocate()
        })
        self.base = nil
        count = 0
        capacity = 0
        return data
    }

    deinit {
        if let base {
            explicit_bzero(base, capacity)
            base.deallocate()
        }
    }
}
