import CognitoAuthCore
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The endpoints from the discovery document that a sign-in needs.
public struct ProviderMetadata: Sendable, Equatable {
    public var issuer: String
    public var authorizationEndpoint: String
    public var tokenEndpoint: String
    public var jwksURI: String

    /// Validates a discovery document against the configured issuer (OIDC Discovery §4.3: the
    /// `issuer` member must equal the issuer the document was fetched for).
    public static func parse(_ data: Data, expectedIssuer: String) -> Result<ProviderMetadata, Refusal> {
        guard let doc = JSONValue.parseObject(data) else {
            return .failure(Refusal(.discoveryInvalid, "discovery document is not a JSON object"))
        }
        func endpoint(_ key: String) -> Result<String, Refusal> {
            guard let v = doc[key]?.stringValue else { return .failure(Refusal(.discoveryInvalid, "discovery document lacks \(key)")) }
            guard EndpointRule.isAcceptable(v) else { return .failure(Refusal(.discoveryInvalid, "\(key) \(v) is not https (or loopback http)")) }
            return .success(v)
        }
        guard let issuer = doc["issuer"]?.stringValue else { return .failure(Refusal(.discoveryInvalid, "discovery document lacks issuer")) }
        guard issuer == expectedIssuer else {
            return .failure(Refusal(.discoveryInvalid, "discovery issuer \(issuer) is not the configured issuer \(expectedIssuer)"))
        }
        if let algs = doc["id_token_signing_alg_values_supported"]?.arrayValue, !algs.contains(.string("RS256")) {
            return .failure(Refusal(.discoveryInvalid, "provider does not sign ID tokens with RS256"))
        }
        do {
            return .success(ProviderMetadata(issuer: issuer,
                                             authorizationEndpoint: try endpoint("authorization_endpoint").get(),
                                             tokenEndpoint: try endpoint("token_endpoint").get(),
                                             jwksURI: try endpoint("jwks_uri").get()))
        } catch let r as Refusal {
            return .failure(r)
        } catch {
            return .failure(Refusal(.discoveryInvalid, "\(error)"))
        }
    }
}

public enum ProviderError: Error, Sendable, CustomStringConvertible {
    /// Could not reach the IdP (→ unavailable).
    case unreachable(String)
    /// The IdP answered something unusable (→ unavailable, the admin must look).
    case invalid(Refusal)

    public var description: String {
        switch self {
        case .unreachable(let m): return "unreachable: \(m)"
        case .invalid(let r): return r.description
        }
    }
}

/// Discovery and JWKS, with a disk cache shared by every helper process (each login is a new
/// process). Cache files are written atomically and re-validated on every read.
public final class OIDCProvider: @unchecked Sendable {
    public static let discoveryTTL: TimeInterval = 24 * 3600
    public static let jwksTTL: TimeInterval = 3600

    public let config: Config
    let http: HTTPClient
    let cache: DiskCache?
    public private(set) var notes: [String] = []
    private var metadataValue: ProviderMetadata?
    private var keysValue: JWKSet?

    public init(config: Config, http: HTTPClient) {
        self.config = config
        self.http = http
        let c = DiskCache(directory: config.cacheDir, namespace: config.issuer)
        switch c.prepare() {
        case .success: cache = c
        case .failure(let why): cache = nil; notes.append("cache disabled: \(why)")
        }
    }

    public func metadata() throws(ProviderError) -> ProviderMetadata {
        if let m = metadataValue { return m }
        if let cached = cache?.read("discovery", maxAge: Self.discoveryTTL),
           case .success(let m) = ProviderMetadata.parse(cached, expectedIssuer: config.issuer) {
            metadataValue = m
            return m
        }
        let response: HTTPResponseData
        do { response = try http.get(config.discoveryURL) } catch { throw .unreachable(error.description) }
        guard response.status == 200 else {
            throw .invalid(Refusal(.discoveryInvalid, "discovery \(config.discoveryURL) answered HTTP \(response.status)"))
        }
        switch ProviderMetadata.parse(response.body, expectedIssuer: config.issuer) {
        case .failure(let r): throw .invalid(r)
        case .success(let m):
            cache?.write("discovery", response.body)
            metadataValue = m
            return m
        }
    }

    /// The signing keys, from the cache when fresh. `refresh` forces a fetch (an unknown kid).
    public func keys(refresh: Bool = false) throws(ProviderError) -> JWKSet {
        if !refresh, let k = keysValue { return k }
        if !refresh, let cached = cache?.read("jwks", maxAge: Self.jwksTTL), case .success(let k) = JWKSet.parse(cached) {
            keysValue = k
            return k
        }
        let meta = try metadata()
        let response: HTTPResponseData
        do { response = try http.get(meta.jwksURI) } catch { throw .unreachable(error.description) }
        guard response.status == 200 else {
            throw .invalid(Refusal(.jwksInvalid, "JWKS \(meta.jwksURI) answered HTTP \(response.status)"))
        }
        switch JWKSet.parse(response.body) {
        case .failure(let r): throw .invalid(r)
        case .success(let k):
            cache?.write("jwks", response.body)
            keysValue = k
            return k
        }
    }
}

/// A root-owned 0700 directory of small files named after the issuer's hash.
struct DiskCache {
    let directory: String
    let prefix: String

    init(directory: String, namespace: String) {
        self.directory = directory
        self.prefix = SHA256.hash(data: Array(namespace.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    func prepare() -> Result<Void, Refusal> {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            return .failure(Refusal(.internalError, "cannot create \(directory): \(String(cString: strerror(errno)))"))
        }
        var st = stat()
        guard lstat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            return .failure(Refusal(.internalError, "\(directory) is not a directory"))
        }
        guard st.st_uid == geteuid(), st.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            return .failure(Refusal(.internalError, String(format: "%@ must be owned by the helper's user with mode 0700 (has %04o)", directory, st.st_mode & 0o7777)))
        }
        return .success(())
    }

    func path(_ name: String) -> String { "\(directory)/\(prefix)-\(name).json" }

    func read(_ name: String, maxAge: TimeInterval) -> Data? {
        guard let text = try? ProtectedFile.read(path(name), kind: .secret, maxBytes: HTTPClient.maxBodyBytes, requiredOwner: geteuid()) else { return nil }
        var st = stat()
        guard stat(path(name), &st) == 0 else { return nil }
        let age = Date().timeIntervalSince1970 - TimeInterval(st.st_mtim.tv_sec)
        guard age >= -60, age < maxAge else { return nil }
        return Data(text.utf8)
    }

    func write(_ name: String, _ data: Data) {
        let final = path(name)
        let tmp = final + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let ok = data.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress else { return false }
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, base + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        if !ok || rename(tmp, final) != 0 { unlink(tmp) }
    }
}
