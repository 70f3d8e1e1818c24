#if canImport(Glibc)
import Glibc
#endif
import COpenSSL

public struct EmulatorTLSError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The emulator's TLS identity over the system OpenSSL: one server `SSL_CTX` (TLS 1.2 or later)
/// with a PEM certificate chain and its PEM private key, loaded once and shared by every
/// connection. (Test tooling only: the helper's own TLS is libcurl's.)
public final class EmulatorTLS: @unchecked Sendable {
    let context: OpaquePointer

    public init(certificateFile: String, keyFile: String) throws(EmulatorTLSError) {
        guard let method = TLS_server_method(), let ctx = SSL_CTX_new(method) else {
            throw EmulatorTLSError(message: "cannot create a TLS context: \(Self.openSSLErrors())")
        }
        guard cognito_ssl_ctx_min_tls12(ctx) == 1 else {
            SSL_CTX_free(ctx)
            throw EmulatorTLSError(message: "cannot require TLS 1.2: \(Self.openSSLErrors())")
        }
        guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1 else {
            SSL_CTX_free(ctx)
            throw EmulatorTLSError(message: "cannot load the certificate \(certificateFile): \(Self.openSSLErrors())")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, keyFile, SSL_FILETYPE_PEM) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
            SSL_CTX_free(ctx)
            throw EmulatorTLSError(message: "cannot load the private key \(keyFile) for that certificate: \(Self.openSSLErrors())")
        }
        context = ctx
    }

    deinit { SSL_CTX_free(context) }

    /// This thread's OpenSSL error queue as text (and empties it).
    static func openSSLErrors() -> String {
        var parts: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let e = ERR_get_error()
            if e == 0 { break }
            ERR_error_string_n(e, &buffer, buffer.count)
            parts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.isEmpty ? "unknown OpenSSL error" : parts.joined(separator: "; ")
    }

    /// The server side of a handshake on `fd`, finished by `deadline` (the socket is non-blocking
    /// meanwhile, so a client that trickles its hello cannot hold the thread past it; each wait is
    /// also bounded by `idleSeconds`). nil when the client is gone, too slow, or not speaking TLS.
    func accept(_ fd: Int32, until deadline: Double, idleSeconds: Int32) -> TLSConnection? {
        guard let ssl = SSL_new(context) else { return nil }
        let connection = TLSConnection(ssl: ssl)
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, SSL_set_fd(ssl, fd) == 1, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { return nil }
        defer { _ = fcntl(fd, F_SETFL, flags) }
        while true {
            let rc = SSL_accept(ssl)
            if rc == 1 { return connection }
            let events: Int16
            switch SSL_get_error(ssl, rc) {
            case SSL_ERROR_WANT_READ: events = Int16(POLLIN)
            case SSL_ERROR_WANT_WRITE: events = Int16(POLLOUT)
            default:
                ERR_clear_error()
                return nil
            }
            let left = deadline - monotonicSeconds()
            guard left > 0 else { return nil }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let wait = min(Double(idleSeconds), left)
            let ready = poll(&p, 1, Int32(wait * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
        }
    }
}

/// One accepted TLS connection on a blocking socket (its SO_RCVTIMEO/SO_SNDTIMEO bound each read
/// and write, as for plain connections).
final class TLSConnection {
    let ssl: OpaquePointer
    init(ssl: OpaquePointer) { self.ssl = ssl }
    deinit { SSL_free(ssl) }

    /// As recv(2): bytes read, 0 at the end, -1 with errno EAGAIN when the read timed out.
    func receive(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if n > 0 { return Int(n) }
        let e = SSL_get_error(ssl, n)
        ERR_clear_error()
        switch e {
        case SSL_ERROR_ZERO_RETURN: return 0
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: errno = EAGAIN; return -1
        case SSL_ERROR_SYSCALL where n == 0: return 0
        default: errno = EIO; return -1
        }
    }

    /// As send(2): all of `buffer` (TLS writes are whole records) or -1.
    func send(_ buffer: UnsafeRawBufferPointer) -> Int {
        let n = SSL_write(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if n > 0 { return Int(n) }
        ERR_clear_error()
        errno = EIO
        return -1
    }

    /// Sends close_notify (the peer then knows the response is whole).
    func close() {
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
