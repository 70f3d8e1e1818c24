import FoundationEssentials

/// An error in the configuration, naming file, line and key so the admin can go straight to it.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String
    public init(file: String, line: Int?, key: String?, message: String) {
        self.file = file; self.line = line; self.key = key; self.message = message
    }
    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let key { s += ": \(key)" }
        // One line whatever the file holds: a key or value is quoted back with its control bytes
        // made visible (found by scripts/fuzz config).
        return Syntax.visible(s + ": " + message)
    }
}

/// Parses `cognito-auth.conf`: `key = value`, `#` comments, comma-separated lists, and
/// `[service NAME]` sections that override policy keys for one PAM service. Pure: text in, value out.
public enum ConfigParser {
    public static let maxBytes = 65_536

    static let topLevelKeys: Set<String> = [
        "region", "user_pool_id", "client_id", "client_secret_file", "client_secret", "issuer",
        "discovery_url", "ca_file", "redirect_uris", "scopes", "login_timeout", "http_timeout",
        "username_claim", "account_map", "allowed_domains", "require_email_verified",
        "allowed_groups", "denied_groups", "max_auth_age", "require_claims", "clock_skew",
        "cache_dir", "state_dir", "audit_format", "min_uid", "allow_root",
        "flow", "qr", "relay_url", "relay_secret_file",
        "provision", "provision_uid_range", "provision_group", "provision_shell", "provision_callers", "group_map",
        "provision_nss_module",
    ]
    static let serviceKeys: Set<String> = ["allowed_groups", "denied_groups", "max_auth_age", "require_claims"]

    typealias Entry = ConfigScanner.Entry

    public static func parse(_ text: String, path: String) throws(ConfigError) -> Config {
        func fail(_ line: Int?, _ key: String?, _ message: String) -> ConfigError {
            ConfigError(file: path, line: line, key: key, message: message)
        }
        let scanned = try ConfigScanner.scan(text, path: path, maxBytes: maxBytes,
                                             topLevelKeys: topLevelKeys, sectionKeys: serviceKeys)
        let top = scanned.top
        let services = scanned.sections
        let serviceOrder = scanned.sectionOrder
        let reader = ConfigScanner.Reader(path: path, top: top)
        func required(_ key: String) throws(ConfigError) -> String { try reader.required(key) }
        func optional(_ key: String) throws(ConfigError) -> String? { try reader.optional(key) }
        func integer(_ key: String, default def: Int, range: ClosedRange<Int>, in entries: [String: Entry]? = nil) throws(ConfigError) -> Int {
            try reader.seconds(key, default: def, range: range, in: entries)
        }
        func number(_ key: String, default def: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
            try reader.number(key, default: def, range: range)
        }
        func boolean(_ key: String, default def: Bool) throws(ConfigError) -> Bool { try reader.boolean(key, default: def) }

        let provider = try reader.identityProvider()
        let region = provider.region, poolId = provider.userPoolId, clientId = provider.clientId
        let secret = try optional("client_secret")
        let secretFile = try optional("client_secret_file")
        if secret != nil && secretFile != nil {
            throw fail(top["client_secret"]?.line, "client_secret", "set either client_secret or client_secret_file, not both")
        }
        if let secretFile, !secretFile.hasPrefix("/") {
            throw fail(top["client_secret_file"]?.line, "client_secret_file", "must be an absolute path")
        }

        let issuer = provider.issuer, discovery = provider.discoveryURL, caFile = provider.caFile

        var redirects: [RedirectURI] = []
        if let e = top["redirect_uris"] {
            for item in list(e.value) {
                guard let r = RedirectURI.parse(item) else {
                    throw fail(e.line, "redirect_uris", "'\(item)' must be http://localhost:PORT/PATH or http://127.0.0.1:PORT/PATH")
                }
                redirects.append(r)
            }
            guard !redirects.isEmpty else { throw fail(e.line, "redirect_uris", "must list at least one URI") }
        } else if let r = RedirectURI.parse("http://localhost:8400/callback") {
            redirects = [r]
        }

        var scopes = ["openid", "email"]
        if let e = top["scopes"] {
            scopes = e.value.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).map(String.init)
            guard scopes.contains("openid") else { throw fail(e.line, "scopes", "must include openid (no ID token without it)") }
            for s in scopes where !Syntax.isScopeToken(s) {
                throw fail(e.line, "scopes", "'\(s)' is not a valid scope token")
            }
        }

        let loginTimeout = try integer("login_timeout", default: 110, range: 10...3600)
        let httpTimeout = try integer("http_timeout", default: 10, range: 1...120)
        let clockSkew = try integer("clock_skew", default: 60, range: 0...600)
        let usernameClaim = try optional("username_claim") ?? "email"

        var accountMap = Config.AccountMap.localpart
        if let e = top["account_map"] {
            switch e.value {
            case "localpart": accountMap = .localpart
            case "exact": accountMap = .exact
            case let v where v.hasPrefix("file:"):
                let p = String(v.dropFirst(5))
                guard p.hasPrefix("/") else { throw fail(e.line, "account_map", "file: needs an absolute path") }
                accountMap = .file(p)
            default: throw fail(e.line, "account_map", "must be localpart, exact or file:PATH, got '\(e.value)'")
            }
        }
        let domains = top["allowed_domains"].map { list($0.value).map { Syntax.asciiLowercased($0) } } ?? []
        for d in domains where !Syntax.isDomainName(d) {
            throw fail(top["allowed_domains"]?.line, "allowed_domains", "'\(d)' is not a domain name")
        }
        if accountMap == .localpart && domains.isEmpty {
            throw fail(top["account_map"]?.line, top["account_map"] == nil ? "allowed_domains" : "account_map",
                       "account_map = localpart (the default) needs allowed_domains: without it anyone in the pool "
                       + "with any email address (postgres@gmail.com) maps to a local account; add "
                       + "'allowed_domains = yourcompany.example', or use account_map = file:PATH")
        }
        let minUID = try number("min_uid", default: 1000, range: 0...4_294_967_294)
        let allowRoot = try boolean("allow_root", default: false)
        let requireVerified = try boolean("require_email_verified", default: true)
        let cacheDir = try optional("cache_dir") ?? "/var/cache/cognito-auth"
        guard cacheDir.hasPrefix("/") else { throw fail(top["cache_dir"]?.line, "cache_dir", "must be an absolute path") }
        let stateDir = try optional("state_dir") ?? "/var/lib/cognito-auth"
        guard stateDir.hasPrefix("/") else { throw fail(top["state_dir"]?.line, "state_dir", "must be an absolute path") }
        var auditFormat = Config.AuditFormat.kv
        if let e = top["audit_format"] {
            guard let f = Config.AuditFormat(rawValue: e.value) else { throw fail(e.line, "audit_format", "must be kv or json, got '\(e.value)'") }
            auditFormat = f
        }

        func policy(_ entries: [String: Entry], base: Policy) throws(ConfigError) -> Policy {
            var p = base
            if let e = entries["allowed_groups"] {
                let groups = list(e.value)
                if groups == ["*"] {
                    p.allowedGroups = nil
                } else {
                    guard !groups.isEmpty else {
                        throw fail(e.line, "allowed_groups", "must list at least one group, or be * to admit every pool user")
                    }
                    guard !groups.contains("*") else {
                        throw fail(e.line, "allowed_groups", "* admits every pool user and cannot be combined with group names")
                    }
                    p.allowedGroups = groups
                }
            }
            if let e = entries["denied_groups"] { p.deniedGroups = list(e.value) }
            if entries["max_auth_age"] != nil {
                p.maxAuthAge = try integer("max_auth_age", default: 0, range: 0...31_536_000, in: entries)
            }
            if let e = entries["require_claims"] {
                var claims: [Policy.ClaimRule] = []
                for item in list(e.value) {
                    guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                        throw fail(e.line, "require_claims", "'\(item)' must be claim=value")
                    }
                    let name = item[..<eq].trimmed()
                    let value = item[item.index(after: eq)...].trimmed()
                    guard !name.isEmpty, !value.isEmpty else { throw fail(e.line, "require_claims", "'\(item)' must be claim=value") }
                    claims.append(Policy.ClaimRule(claim: name, value: value))
                }
                p.requireClaims = claims
            }
            return p
        }
        guard top["allowed_groups"] != nil else {
            throw fail(nil, "allowed_groups", "required: name the Cognito groups that may sign in here "
                       + "(allowed_groups = linux-users, linux-admins), or allowed_groups = * to admit every pool user")
        }
        let defaultPolicy = try policy(top, base: Policy())
        var servicePolicies: [String: Policy] = [:]
        for name in serviceOrder {
            servicePolicies[name] = try policy(services[name] ?? [:], base: defaultPolicy)
        }

        let flow = try parseFlow(top, fail: fail, url: { key, value, _ throws(ConfigError) in try reader.endpoint(key, value) })
        var qr = QRMode.auto
        if let e = top["qr"] {
            guard let m = QRMode(rawValue: e.value) else { throw fail(e.line, "qr", "must be auto, always or never, got '\(e.value)'") }
            qr = m
        }
        let provision = try provisionSettings(top.mapValues { ($0.value, $0.line) }, minUID: UInt32(minUID), path: path)

        var config = Config(
            path: path, region: region, userPoolId: poolId, clientId: clientId,
            clientSecret: secret, clientSecretFile: secretFile, issuer: issuer, discoveryURL: discovery,
            caFile: caFile, redirectURIs: redirects, scopes: scopes, loginTimeout: loginTimeout,
            httpTimeout: httpTimeout, usernameClaim: usernameClaim, accountMap: accountMap,
            allowedDomains: domains, requireEmailVerified: requireVerified, clockSkew: clockSkew,
            cacheDir: cacheDir, stateDir: stateDir, auditFormat: auditFormat,
            minUID: UInt32(minUID), allowRoot: allowRoot, defaultPolicy: defaultPolicy,
            servicePolicies: servicePolicies)
        config.flow = flow
        config.qr = qr
        config.provision = provision
        return config
    }

    /// `flow`, and the relay's two keys, which only `flow = relay` takes (and then needs).
    private static func parseFlow(_ top: [String: Entry], fail: (Int?, String?, String) -> ConfigError,
                                  url: (String, String, Int?) throws(ConfigError) -> String) throws(ConfigError) -> Config.Flow {
        let name = top["flow"]?.value ?? "code"
        let relayURL = top["relay_url"], secretFile = top["relay_secret_file"]
        switch name {
        case "code", "device":
            if let e = relayURL ?? secretFile {
                throw fail(e.line, relayURL != nil ? "relay_url" : "relay_secret_file", "is used only with flow = relay")
            }
            return name == "code" ? .code : .device
        case "relay":
            guard let u = relayURL, !u.value.isEmpty else { throw fail(top["flow"]?.line, "relay_url", "flow = relay needs relay_url") }
            guard let f = secretFile, !f.value.isEmpty else {
                throw fail(top["flow"]?.line, "relay_secret_file", "flow = relay needs relay_secret_file (the fleet's host secret, root-only)")
            }
            guard f.value.hasPrefix("/") else { throw fail(f.line, "relay_secret_file", "must be an absolute path") }
            let checked = try url("relay_url", u.value, u.line)
            guard URLComponents(string: checked)?.query == nil, URLComponents(string: checked)?.fragment == nil else {
                throw fail(u.line, "relay_url", "must not carry a query or fragment")
            }
            return .relay(url: checked, secretFile: f.value)
        default:
            throw fail(top["flow"]?.line, "flow", "must be code, device or relay, got '\(name)'")
        }
    }

    /// The keys of DESIGN.md §12. The uid range must lie at or above `min_uid` (the safe defaults
    /// apply to provisioned accounts too) and never include 0.
    static func provisionSettings(_ top: [String: (value: String, line: Int)], minUID: UInt32, path: String) throws(ConfigError) -> ProvisionSettings {
        func fail(_ key: String, _ message: String) -> ConfigError {
            ConfigError(file: path, line: top[key]?.line, key: key, message: message)
        }
        var p = ProvisionSettings()
        if let v = top["provision"]?.value {
            switch v {
            case "off": p.enabled = false
            case "on_first_login": p.enabled = true
            default: throw fail("provision", "must be off or on_first_login, got '\(v)'")
            }
        }
        if let v = top["provision_uid_range"]?.value {
            let parts = v.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmed() }
            guard parts.count == 2, let lo = StoreText.id(parts[0]), let hi = StoreText.id(parts[1]), lo <= hi, lo > 0 else {
                throw fail("provision_uid_range", "must be LOW-HIGH with 0 < LOW <= HIGH < 4294967295, got '\(v)'")
            }
            p.uidRange = lo...hi
        }
        if p.uidRange.lowerBound < minUID {
            throw fail(top["provision_uid_range"] == nil ? "min_uid" : "provision_uid_range",
                       "provision_uid_range \(p.uidRange.lowerBound)-\(p.uidRange.upperBound) starts below min_uid \(minUID): provisioned accounts would be refused as system accounts")
        }
        if let v = top["provision_group"]?.value {
            guard Syntax.isLoginName(v) else { throw fail("provision_group", "'\(v)' is not a valid group name") }
            p.group = v
        }
        if let v = top["provision_shell"]?.value {
            guard v.hasPrefix("/"), !v.contains(":"), StoreText.printable(v) else { throw fail("provision_shell", "must be an absolute path, got '\(v)'") }
            p.shell = v
        }
        if let v = top["provision_callers"]?.value {
            let names = list(v)
            guard !names.isEmpty, names.allSatisfy({ !$0.contains("/") && Syntax.isPrintableASCII($0) }) else {
                throw fail("provision_callers", "must list program names (the basename of /proc/PID/exe), e.g. sshd")
            }
            p.callers = names
        }
        if let v = top["provision_nss_module"]?.value {
            guard v.hasPrefix("/"), !v.hasSuffix("/") else { throw fail("provision_nss_module", "must be the absolute path of libnss_cognito.so.2, got '\(v)'") }
            p.nssModule = v
        }
        if let v = top["group_map"]?.value {
            switch GroupMapping.parse(list(v)) {
            case .success(let m): p.groupMap = m
            case .failure(let why): throw fail("group_map", why.message)
            }
        }
        return p
    }

    static func list(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmed() }.filter { !$0.isEmpty }
    }

    static func isSectionName(_ s: Substring) -> Bool {
        s.utf8.count <= 64 && Syntax.all(s, minCount: 1) { Syntax.isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }
}
