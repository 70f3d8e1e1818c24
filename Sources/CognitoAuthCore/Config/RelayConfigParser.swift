import FoundationEssentials

/// `relay.conf`, the configuration of `cognito-auth-relay` (ARCHITECTURE.md §7).
public struct RelayConfig: Sendable, Equatable {
    public enum Store: Sendable, Equatable {
        case memory
        case postgresql(PostgresURL)
    }
    /// `postgres_tls`: how the PostgreSQL store's connections use TLS. `require` verifies the
    /// server's certificate and name (against `postgres_ca_file`, or the system store). There is no
    /// `prefer`: whoever sits between relay and database can answer "no TLS" and read the codes.
    public enum PostgresTLS: String, Sendable, Equatable, CaseIterable {
        case require, disable
    }
    public var path: String
    public var listenHost: String
    public var listenPort: Int
    /// What people open, without a trailing slash; `/d` and `/callback` hang off it.
    public var publicURL: String
    public var provider: IdentityProviderKeys
    public var hostSecretFile: String
    public var store: Store
    public var codeLifetime: Int
    public var maxCodeAttempts: Int
    /// Only with `store = postgresql://…`; default `require`, or `disable` for a loopback host.
    public var postgresTLS: PostgresTLS = .disable
    public var postgresCAFile: String? = nil

    public var verificationURI: String { publicURL + "/d" }
    public var callbackURI: String { publicURL + "/callback" }
    public var publicURLIsHTTPS: Bool { publicURL.hasPrefix("https://") }
    /// For log lines: never the database password.
    public var storeDescription: String {
        switch store {
        case .memory: return "memory"
        case .postgresql(let url): return url.description
        }
    }

    public init(path: String, listenHost: String, listenPort: Int, publicURL: String, provider: IdentityProviderKeys,
                hostSecretFile: String, store: Store, codeLifetime: Int, maxCodeAttempts: Int) {
        self.path = path; self.listenHost = listenHost; self.listenPort = listenPort; self.publicURL = publicURL
        self.provider = provider; self.hostSecretFile = hostSecretFile; self.store = store
        self.codeLifetime = codeLifetime; self.maxCodeAttempts = maxCodeAttempts
    }
}

/// `postgresql://USER[:PASS]@HOST:PORT/DB`, split without a URL library; PASS is taken as written
/// (letters, digits and `-._~!$&'()*+,;=`), never percent-decoded.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String

    public init(user: String, password: String?, host: String, port: Int, database: String) {
        self.user = user; self.password = password; self.host = host; self.port = port; self.database = database
    }

    public static func parse(_ s: String) -> PostgresURL? {
        let scheme = "postgresql://"
        guard s.hasPrefix(scheme) else { return nil }
        let rest = s.dropFirst(scheme.count)
        guard let at = rest.lastIndex(of: "@") else { return nil }
        let userinfo = rest[..<at]
        let hostPart = rest[rest.index(after: at)...]
        guard let slash = hostPart.firstIndex(of: "/") else { return nil }
        let hostPort = hostPart[..<slash]
        let db = hostPart[hostPart.index(after: slash)...]
        guard let colon = hostPort.lastIndex(of: ":") else { return nil }
        let host = hostPort[..<colon]
        let portText = hostPort[hostPort.index(after: colon)...]
        guard Syntax.isDigits(portText), let port = Int(portText), (1...65535).contains(port) else { return nil }
        func plain(_ t: Substring) -> Bool {
            Syntax.all(t, minCount: 1) { Syntax.isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
        }
        guard plain(host), plain(db) else { return nil }
        var user = userinfo
        var password: String?
        if let c = userinfo.firstIndex(of: ":") {
            user = userinfo[..<c]
            let p = userinfo[userinfo.index(after: c)...]
            // No percent-decoding: a password of URL-safe characters says what it is.
            guard Syntax.all(p, minCount: 1, { Syntax.isAlnum($0) || "-._~!$&'()*+,;=".utf8.contains($0) }) else { return nil }
            password = String(p)
        }
        guard plain(user) else { return nil }
        return PostgresURL(user: String(user), password: password, host: String(host), port: port, database: String(db))
    }

    /// Never shows the password.
    public var description: String { "postgresql://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)" }
}

public enum RelayConfigParser {
    public static let maxBytes = 65_536
    static let keys: Set<String> = [
        "listen", "public_url", "region", "user_pool_id", "client_id", "issuer", "discovery_url", "ca_file",
        "host_secret_file", "store", "code_lifetime", "max_code_attempts", "postgres_tls", "postgres_ca_file",
    ]

    public static func parse(_ text: String, path: String) throws(ConfigError) -> RelayConfig {
        let scanned = try ConfigScanner.scan(text, path: path, maxBytes: maxBytes, topLevelKeys: keys, sectionKeys: [])
        let r = ConfigScanner.Reader(path: path, top: scanned.top)

        let listen = try r.optional("listen") ?? "127.0.0.1:8300"
        guard let colon = listen.lastIndex(of: ":"),
              Syntax.isDigits(listen[listen.index(after: colon)...]),
              let port = Int(listen[listen.index(after: colon)...]), (1...65535).contains(port),
              isListenHost(listen[..<colon]) else {
            throw r.fail(r.line("listen"), "listen", "must be ADDRESS:PORT (an IPv4 address or localhost), got '\(listen)'")
        }
        var publicURL = try r.required("public_url")
        if publicURL.hasSuffix("/") { publicURL.removeLast() }
        publicURL = try r.endpoint("public_url", publicURL)
        guard !publicURL.contains("?"), !publicURL.contains("#") else {
            throw r.fail(r.line("public_url"), "public_url", "must not carry a query or a fragment")
        }
        let provider = try r.identityProvider()
        guard let secretFile = try r.absolutePath("host_secret_file") else {
            throw r.fail(nil, "host_secret_file", "required key is missing")
        }
        var store = RelayConfig.Store.memory
        if let s = try r.optional("store"), s != "memory" {
            guard let url = PostgresURL.parse(s) else {
                throw r.fail(r.line("store"), "store", "must be memory or postgresql://USER[:PASS]@HOST:PORT/DB")
            }
            store = .postgresql(url)
        }
        var config = RelayConfig(
            path: path, listenHost: String(listen[..<colon]), listenPort: port, publicURL: publicURL, provider: provider,
            hostSecretFile: secretFile, store: store,
            codeLifetime: try r.seconds("code_lifetime", default: 600, range: 10...3600),
            maxCodeAttempts: try r.number("max_code_attempts", default: 5, range: 1...100))
        let tlsText = try r.optional("postgres_tls")
        let caFile = try r.absolutePath("postgres_ca_file")
        switch store {
        case .memory:
            if tlsText != nil || caFile != nil {
                let key = tlsText != nil ? "postgres_tls" : "postgres_ca_file"
                throw r.fail(r.line(key), key, "is used only with store = postgresql://…")
            }
        case .postgresql(let url):
            if let t = tlsText {
                guard let mode = RelayConfig.PostgresTLS(rawValue: t) else {
                    throw r.fail(r.line("postgres_tls"), "postgres_tls", "must be require or disable, got '\(t)'")
                }
                config.postgresTLS = mode
            } else {
                // A database on this machine is reached without a network in between.
                config.postgresTLS = isLoopback(url.host) ? .disable : .require
            }
            if caFile != nil, config.postgresTLS == .disable {
                throw r.fail(r.line("postgres_ca_file"), "postgres_ca_file", "needs postgres_tls = require")
            }
            config.postgresCAFile = caFile
        }
        return config
    }

    /// 127.0.0.0/8, ::1 and localhost: the only hosts `postgres_tls` defaults to `disable` for.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { Syntax.isDigits($0) && (1...3).contains($0.count) && (Int($0) ?? 256) <= 255 }
    }

    static func isListenHost(_ s: Substring) -> Bool {
        if s == "localhost" { return true }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { Syntax.isDigits($0) && $0.count <= 3 && (Int($0) ?? 256) <= 255 }
    }

    /// The accepted host secrets: one a line (several while rotating), `#` comments, at least 32 bytes each.
    public static func hostSecrets(_ text: String, path: String) throws(ConfigError) -> [String] {
        var out: [String] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmed()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.utf8.count >= 32, Syntax.all(line, { $0 > 0x20 && $0 < 0x7F }) else {
                throw ConfigError(file: path, line: i + 1, key: "host_secret_file",
                                  message: "each host secret must be at least 32 printable characters without spaces")
            }
            out.append(line)
        }
        guard !out.isEmpty else { throw ConfigError(file: path, line: nil, key: "host_secret_file", message: "holds no host secret") }
        return out
    }
}
