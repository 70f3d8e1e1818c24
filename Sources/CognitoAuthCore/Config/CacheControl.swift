import FoundationEssentials

/// How long a fetched discovery document or JWKS stays fresh.
public enum CacheFreshness {
    /// `Cache-Control: max-age=N` when present (clamped to 1 minute … 7 days so a bad header can
    /// neither disable the cache nor pin a key for weeks); `no-store`/`no-cache` mean the minimum.
    public static func lifetime(cacheControl: String?, default fallback: TimeInterval) -> TimeInterval {
        guard let header = cacheControl?.lowercased() else { return fallback }
        var result: TimeInterval?
        for directive in header.split(separator: ",") {
            let d = directive.trimmed()
            if d == "no-store" || d == "no-cache" { return 60 }
            if d.hasPrefix("max-age="), let n = Int(Self.unquoted(d.dropFirst(8))), n >= 0 {
                result = TimeInterval(n)
            }
        }
        guard let r = result else { return fallback }
        return min(max(r, 60), 7 * 24 * 3600)
    }

    /// A directive value without its surrounding double quotes.
    static func unquoted<S: StringProtocol>(_ s: S) -> String {
        var v = Substring(s)
        while v.first == "\"" { v = v.dropFirst() }
        while v.last == "\"" { v = v.dropLast() }
        return String(v)
    }
}

/// A cached HTTP body with the time it was fetched and the time it goes stale. Stored as one JSON
/// object so one atomic rename replaces all of it.
public struct CacheEntry: Sendable, Equatable {
    public var fetchedAt: Double
    public var expiresAt: Double
    public var body: String

    public init(fetchedAt: Double, expiresAt: Double, body: String) {
        self.fetchedAt = fetchedAt; self.expiresAt = expiresAt; self.body = body
    }

    public func isFresh(now: Double) -> Bool { now >= fetchedAt - 300 && now < expiresAt }

    public var encoded: String {
        JSONValue.object(["fetched_at": .number(fetchedAt), "expires_at": .number(expiresAt), "body": .string(body)]).jsonText
    }

    /// nil for anything that is not exactly what `encoded` writes: a corrupt entry is refetched.
    public static func decode<D: DataProtocol>(_ data: D) -> CacheEntry? {
        guard let o = JSONValue.parseObject(data), o.count == 3,
              let f = o["fetched_at"]?.numberValue, let e = o["expires_at"]?.numberValue,
              let b = o["body"]?.stringValue, e >= f else { return nil }
        return CacheEntry(fetchedAt: f, expiresAt: e, body: b)
    }
}
