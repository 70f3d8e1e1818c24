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
        } catch {
            return .failure(error)
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
/// process). Cache files are written atomically and re-validated on every read; a corrupt one is
/// discarded and refetched, never trusted.
public final class OIDCProvider: @unchecked Sendable {
    public static let discoveryTTL: TimeInterval = 24 * 3600
    public static let jwksTTL: TimeInterval = 3600
    /// An unknown kid triggers at most one JWKS refetch per this many seconds, across processes.
    public static let refetchInterval: TimeInterval = 10
    /// How old a cached JWKS may be and still serve when the JWKS endpoint is unreachable.
    public static let staleIfErrorLimit: TimeInterval = 7 * 24 * 3600

    public let config: Config
    let http: HTTPClient
    let cache: DiskCache?
    let now: () -> Date
    /// Things the audit line should mention (cache disabled, stale keys used, refetch suppressed).
    public private(set) var notes: [String] = []
    private var metadataValue: ProviderMetadata?
    private var keysValue: JWKSet?

    public init(config: Config, http: HTTPClient, now: @escaping () -> Date = Date.init) {
        self.config = config
        self.http = http
        self.now = now
        let c = DiskCache(directory: config.cacheDir, namespace: config.issuer)
        switch c.prepare() {
        case .success: cache = c
        case .failure(let why): cache = nil; notes.append("cache_disabled: \(why.detail)")
        }
    }

    public func metadata(deadline: Deadline) throws(ProviderError) -> ProviderMetadata {
        if let m = metadataValue { return m }
        let t = now().timeIntervalSince1970
        if let entry = cache?.read("discovery"), entry.isFresh(now: t),
           case .success(let m) = ProviderMetadata.parse(Data(entry.body.utf8), expectedIssuer: config.issuer) {
            metadataValue = m
            return m
        }
        let response: HTTPResponseData
        do { response = try http.get(config.discoveryURL, deadline: deadline) } catch { throw .unreachable(error.description) }
        guard response.status == 200 else {
            throw .invalid(Refusal(.discoveryInvalid, "discovery \(config.discoveryURL) answered HTTP \(response.status)"))
        }
        switch ProviderMetadata.parse(response.body, expectedIssuer: config.issuer) {
        case .failure(let r): throw .invalid(r)
        case .success(let m):
            store("discovery", response, fallback: Self.discoveryTTL)
            metadataValue = m
            return m
        }
    }

    /// The signing keys: from memory, else the disk cache while fresh, else the JWKS endpoint —
    /// and if that is unreachable, a stale cached JWKS (stale-if-error, noted for the audit line).
    public func keys(deadline: Deadline) throws(ProviderError) -> JWKSet {
        if let k = keysValue { return k }
        let t = now().timeIntervalSince1970
        let cached = cache?.read("jwks")
        if let entry = cached, entry.isFresh(now: t), case .success(let k) = JWKSet.parse(Data(entry.body.utf8)) {
            keysValue = k
            return k
        }
        do {
            return try fetchKeys(deadline: deadline)
        } catch .unreachable(let why) {
            if let entry = cached, t - entry.fetchedAt < Self.staleIfErrorLimit,
               case .success(let k) = JWKSet.parse(Data(entry.body.utf8)) {
                notes.append("jwks_stale_if_error: JWKS unreachable (\(why)); using keys cached \(Int(t - entry.fetchedAt)) s ago")
                keysValue = k
                return k
            }
            throw .unreachable(why)
        } catch {
            throw error
        }
    }

    /// Called when a token names a kid the keys lack: fetch the JWKS again, unless any process did so
    /// in the last `refetchInterval` seconds (a flood of bad kids must not become a flood of fetches).
    public func keysAfterUnknownKid(_ kid: String, deadline: Deadline) throws(ProviderError) -> JWKSet {
        if let cache, !cache.claimRefetch(now: now().timeIntervalSince1970, interval: Self.refetchInterval) {
            notes.append("jwks_refetch_suppressed: kid \(kid) unknown; the JWKS was refetched less than \(Int(Self.refetchInterval)) s ago")
            return try keys(deadline: deadline)
        }
        return try fetchKeys(deadline: deadline)
    }

    private func fetchKeys(deadline: Deadline) throws(ProviderError) -> JWKSet {
        let meta = try metadata(deadline: deadline)
        let response: HTTPResponseData
        do { response = try http.get(meta.jwksURI, deadline: deadline) } catch { throw .unreachable(error.description) }
        if response.status >= 500 {
            // A server error is an outage, not a verdict on the keys: stale-if-error applies (RFC 5861).
            throw .unreachable("JWKS \(meta.jwksURI) answered HTTP \(response.status)")
        }
        guard response.status == 200 else {
            throw .invalid(Refusal(.jwksInvalid, "JWKS \(meta.jwksURI) answered HTTP \(response.status)"))
        }
        switch JWKSet.parse(response.body) {
        case .failure(let r): throw .invalid(r)
        case .success(let k):
            store("jwks", response, fallback: Self.jwksTTL)
            keysValue = k
            return k
        }
    }

    private func store(_ name: String, _ response: HTTPResponseData, fallback: TimeInterval) {
        guard let cache, let body = String(validating: response.body, as: UTF8.self) else { return }
        let t = now().timeIntervalSince1970
        let lifetime = CacheFreshness.lifetime(cacheControl: response.header("Cache-Control"), default: fallback)
        cache.write(name, CacheEntry(fetchedAt: t, expiresAt: t + lifetime, body: body))
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

    /// The entry, or nil when missing or unreadable; a corrupt entry is deleted.
    func read(_ name: String) -> CacheEntry? {
        let p = path(name)
        guard let text = try? ProtectedFile.read(p, kind: .secret, maxBytes: 2 * HTTPClient.maxBodyBytes, requiredOwner: geteuid()) else {
            return nil
        }
        guard let entry = CacheEntry.decode(Data(text.utf8)) else {
            unlink(p)
            return nil
        }
        return entry
    }

    func write(_ name: String, _ entry: CacheEntry) {
        let final = path(name)
        let tmp = final + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let ok = writeAll(fd, Array(entry.encoded.utf8)) && fsync(fd) == 0
        close(fd)
        if !ok || rename(tmp, final) != 0 { unlink(tmp) }
    }

    /// True if this process may refetch now: atomically replaces the stamp file's time when the
    /// last refetch is at least `interval` old. A rename makes concurrent claims race to one winner
    /// per interval in practice; the worst case is two fetches, never a flood.
    func claimRefetch(now: Double, interval: TimeInterval) -> Bool {
        let stamp = path("jwks-refetch")
        var st = stat()
        if stat(stamp, &st) == 0 {
            let last = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            if now - last < interval && now >= last - 1 { return false }
        }
        let tmp = stamp + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return true }
        close(fd)
        if rename(tmp, stamp) != 0 { unlink(tmp) }
        return true
    }
}
