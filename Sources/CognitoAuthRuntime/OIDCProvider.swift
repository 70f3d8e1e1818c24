import CognitoAuthCore
import Crypto
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

public enum ProviderError: Error, Sendable, CustomStringConvertible {
    /// Could not reach the IdP (→ unavailable).
    case unreachable(String)
    /// The IdP answered something unusable (→ unavailable, the admin must look).
    case invalid(Refusal)
    /// The login's deadline passed before the IdP answered (→ timeout).
    case timedOut(String)

    public var description: String {
        switch self {
        case .unreachable(let m): return "unreachable: \(m)"
        case .invalid(let r): return r.description
        case .timedOut(let m): return "timed out: \(m)"
        }
    }

    /// What the login ends as.
    public var outcome: Outcome {
        if case .timedOut = self { return .timeout }
        return .unavailable
    }

    init(_ error: TransportError) {
        self = error.loginDeadline ? .timedOut(error.description) : .unreachable(error.description)
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
        switch DiskCache.open(directory: config.cacheDir, namespace: config.issuer) {
        case .success(let c): cache = c
        case .failure(let why): cache = nil; notes.append("cache_disabled: \(why.detail)")
        }
    }

    /// `deadline` is the login's (the CLI's checks pass one of login_timeout from now).
    public func metadata(deadline: Deadline) throws(ProviderError) -> ProviderMetadata {
        if let m = metadataValue { return m }
        let t = now().timeIntervalSince1970
        if let entry = cache?.read("discovery"), entry.isFresh(now: t),
           case .success(let m) = ProviderMetadata.parse(Data(entry.body.utf8), expectedIssuer: config.issuer) {
            metadataValue = m
            return m
        }
        let response: HTTPResponseData
        do { response = try http.get(config.discoveryURL, deadline: deadline) } catch { throw ProviderError(error) }
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
                notes.append("jwks_stale_if_error: JWKS unreachable (\(why)); using keys cached \(wholeSeconds(t - entry.fetchedAt)) s ago")
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
        do { response = try http.get(meta.jwksURI, deadline: deadline) } catch { throw ProviderError(error) }
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

/// A root-owned 0700 directory of small files named after the issuer's hash, reached by a trusted
/// walk and used only through its descriptor.
final class DiskCache {
    let directory: TrustedDirectory
    let prefix: String

    private init(directory: TrustedDirectory, prefix: String) { self.directory = directory; self.prefix = prefix }

    /// Opens (creating the last component if needed) and checks the directory; why not, otherwise.
    static func open(directory path: String, namespace: String) -> Result<DiskCache, Refusal> {
        let dir: TrustedDirectory
        switch TrustedDirectory.open(path, owner: geteuid(), create: true) {
        case .failure(let why): return .failure(Refusal(.internalError, why.message))
        case .success(let d): dir = d
        }
        let (uid, mode) = dir.ownerAndMode
        guard uid == geteuid(), mode & 0o077 == 0 else {
            return .failure(Refusal(.internalError, "\(path) must be owned by the helper's user with mode 0700 (has "
                                    + Syntax.octal4(UInt32(mode)) + ", uid \(uid))"))
        }
        let prefix = Syntax.hex(SHA256.hash(data: Array(namespace.utf8)).prefix(8))
        return .success(DiskCache(directory: dir, prefix: prefix))
    }

    func name(_ entry: String) -> String { "\(prefix)-\(entry).json" }

    /// The entry, or nil when missing or unreadable; a corrupt entry is deleted.
    func read(_ entry: String) -> CacheEntry? {
        let file = name(entry)
        guard let text = try? ProtectedFile.read(file, in: directory, kind: .secret, maxBytes: 2 * HTTPClient.maxBodyBytes,
                                                 requiredOwner: geteuid()) else {
            return nil
        }
        guard let decoded = CacheEntry.decode(Data(text.utf8)) else {
            unlinkat(directory.fd, file, 0)
            return nil
        }
        return decoded
    }

    func write(_ entry: String, _ value: CacheEntry) {
        let final = name(entry)
        let tmp = final + ".tmp.\(getpid())"
        let fd = openat(directory.fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let ok = writeAll(fd, Array(value.encoded.utf8)) && fsync(fd) == 0
        close(fd)
        if !ok || renameat(directory.fd, tmp, directory.fd, final) != 0 { unlinkat(directory.fd, tmp, 0) }
    }

    /// True if this process may refetch now: atomically replaces the stamp file's time when the
    /// last refetch is at least `interval` old. A rename makes concurrent claims race to one winner
    /// per interval in practice; the worst case is two fetches, never a flood.
    func claimRefetch(now: Double, interval: TimeInterval) -> Bool {
        let stamp = name("jwks-refetch")
        var st = stat()
        if fstatat(directory.fd, stamp, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            let last = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            if now - last < interval && now >= last - 1 { return false }
        }
        let tmp = stamp + ".tmp.\(getpid())"
        let fd = openat(directory.fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return true }
        close(fd)
        if renameat(directory.fd, tmp, directory.fd, stamp) != 0 { unlinkat(directory.fd, tmp, 0) }
        return true
    }
}
