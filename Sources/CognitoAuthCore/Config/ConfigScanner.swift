import FoundationEssentials

/// The line scanning and value readers shared by the host config (`ConfigParser`) and the relay's
/// (`RelayConfigParser`): `key = value`, `#` comments, `[service NAME]` sections where the caller
/// allows them, unknown or repeated keys refused with file, line and key. Pure: text in, entries out.
public enum ConfigScanner {
    public struct Entry: Sendable { public var value: String; public var line: Int }

    public struct Scanned: Sendable {
        public var top: [String: Entry] = [:]
        public var sections: [String: [String: Entry]] = [:]
        public var sectionOrder: [String] = []
    }

    /// `sectionKeys` empty: the file has no sections, and a `[` line is an error.
    public static func scan(_ text: String, path: String, maxBytes: Int,
                            topLevelKeys: Set<String>, sectionKeys: Set<String>) throws(ConfigError) -> Scanned {
        func fail(_ line: Int?, _ key: String?, _ message: String) -> ConfigError {
            ConfigError(file: path, line: line, key: key, message: message)
        }
        guard text.utf8.count <= maxBytes else { throw fail(nil, nil, "file is larger than \(maxBytes) bytes") }
        var out = Scanned()
        var currentSection: String?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNo = index + 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.trimmed()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if trimmed.hasPrefix("[") {
                guard !sectionKeys.isEmpty else { throw fail(lineNo, nil, "this file has no sections") }
                guard trimmed.hasSuffix("]") else { throw fail(lineNo, nil, "section header must end with ']'") }
                let inner = trimmed.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true)
                guard inner.count == 2, inner[0] == "service", ConfigParser.isSectionName(inner[1]) else {
                    throw fail(lineNo, nil, "expected a section header of the form [service NAME]")
                }
                let name = String(inner[1])
                guard out.sections[name] == nil else { throw fail(lineNo, nil, "section [service \(name)] appears twice") }
                out.sections[name] = [:]
                out.sectionOrder.append(name)
                currentSection = name
                continue
            }
            guard let eq = trimmed.firstIndex(of: "=") else { throw fail(lineNo, nil, "expected 'key = value'") }
            let key = trimmed[..<eq].trimmed()
            let value = trimmed[trimmed.index(after: eq)...].trimmed()
            guard !key.isEmpty else { throw fail(lineNo, nil, "missing key before '='") }
            if let section = currentSection {
                guard sectionKeys.contains(key) else {
                    if topLevelKeys.contains(key) {
                        throw fail(lineNo, key, "cannot be set inside [service \(section)]; only \(sectionKeys.sorted().joined(separator: ", ")) can")
                    }
                    throw fail(lineNo, key, "unknown key")
                }
                guard out.sections[section]?[key] == nil else { throw fail(lineNo, key, "set twice in [service \(section)]") }
                out.sections[section]?[key] = Entry(value: value, line: lineNo)
            } else {
                guard topLevelKeys.contains(key) else { throw fail(lineNo, key, "unknown key") }
                guard out.top[key] == nil else { throw fail(lineNo, key, "set twice (first on line \(out.top[key]?.line ?? 0))") }
                out.top[key] = Entry(value: value, line: lineNo)
            }
        }
        return out
    }

    /// Typed readers over the scanned top-level entries; every error names file, line and key.
    public struct Reader: Sendable {
        public var path: String
        public var top: [String: Entry]
        public init(path: String, top: [String: Entry]) { self.path = path; self.top = top }

        public func fail(_ line: Int?, _ key: String?, _ message: String) -> ConfigError {
            ConfigError(file: path, line: line, key: key, message: message)
        }
        public func line(_ key: String) -> Int? { top[key]?.line }

        public func required(_ key: String) throws(ConfigError) -> String {
            guard let e = top[key] else { throw fail(nil, key, "required key is missing") }
            guard !e.value.isEmpty else { throw fail(e.line, key, "must not be empty") }
            return e.value
        }
        public func optional(_ key: String) throws(ConfigError) -> String? {
            guard let e = top[key] else { return nil }
            guard !e.value.isEmpty else { throw fail(e.line, key, "must not be empty") }
            return e.value
        }
        public func seconds(_ key: String, default def: Int, range: ClosedRange<Int>, in entries: [String: Entry]? = nil) throws(ConfigError) -> Int {
            guard let e = (entries ?? top)[key] else { return def }
            guard Syntax.isDigits(e.value), let n = Int(e.value), range.contains(n) else {
                throw fail(e.line, key, "must be a whole number of seconds in \(range.lowerBound)...\(range.upperBound), got '\(e.value)'")
            }
            return n
        }
        public func number(_ key: String, default def: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
            guard let e = top[key] else { return def }
            guard Syntax.isDigits(e.value), let n = Int(e.value), range.contains(n) else {
                throw fail(e.line, key, "must be a whole number in \(range.lowerBound)...\(range.upperBound), got '\(e.value)'")
            }
            return n
        }
        public func boolean(_ key: String, default def: Bool) throws(ConfigError) -> Bool {
            guard let e = top[key] else { return def }
            switch e.value.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw fail(e.line, key, "must be true or false, got '\(e.value)'")
            }
        }
        public func endpoint(_ key: String, _ value: String) throws(ConfigError) -> String {
            guard EndpointRule.isAcceptable(value) else {
                throw fail(line(key), key, "must be an https:// URL (http:// is accepted only for a loopback host), got '\(value)'")
            }
            return value
        }
        public func absolutePath(_ key: String) throws(ConfigError) -> String? {
            guard let p = try optional(key) else { return nil }
            guard p.hasPrefix("/") else { throw fail(line(key), key, "must be an absolute path") }
            return p
        }

        /// The keys naming the user pool, the same on hosts and on the relay: `region`,
        /// `user_pool_id`, `client_id`, `issuer` (default Cognito's), `discovery_url`, `ca_file`.
        public func identityProvider() throws(ConfigError) -> IdentityProviderKeys {
            let region = try required("region")
            guard Syntax.isRegion(Substring(region)) else {
                throw fail(line("region"), "region", "is not an AWS region name, got '\(region)'")
            }
            let poolId = try required("user_pool_id")
            guard Syntax.isUserPoolId(poolId) else {
                throw fail(line("user_pool_id"), "user_pool_id", "must look like <region>_<id>, got '\(poolId)'")
            }
            let clientId = try required("client_id")
            guard Syntax.isClientId(clientId) else {
                throw fail(line("client_id"), "client_id", "contains characters an app client id cannot have")
            }
            let issuer: String
            if let override = try optional("issuer") {
                issuer = try endpoint("issuer", override.hasSuffix("/") ? String(override.dropLast()) : override)
            } else {
                issuer = "https://cognito-idp.\(region).amazonaws.com/\(poolId)"
            }
            let discovery: String
            if let d = try optional("discovery_url") {
                discovery = try endpoint("discovery_url", d)
            } else {
                discovery = issuer + "/.well-known/openid-configuration"
            }
            return IdentityProviderKeys(region: region, userPoolId: poolId, clientId: clientId, issuer: issuer,
                                        discoveryURL: discovery, caFile: try absolutePath("ca_file"))
        }
    }
}

public struct IdentityProviderKeys: Sendable, Equatable {
    public var region: String
    public var userPoolId: String
    public var clientId: String
    public var issuer: String
    public var discoveryURL: String
    public var caFile: String?
}
