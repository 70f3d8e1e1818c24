import Foundation

/// Turns the person's Cognito identity (the `username_claim` value) into a local account name.
/// Never "sanitizes" a name into a different one: anything that is not already a valid login name
/// is refused with a reason.
public enum AccountMapping {
    /// A conservative POSIX login name: what Debian's adduser accepts, without the trailing `$` of
    /// machine accounts.
    public static func isValidLoginName(_ s: String) -> Bool {
        s.range(of: #"^[a-z_][a-z0-9_.-]{0,31}$"#, options: .regularExpression) != nil
    }

    public static func map(identity: String, mode: Config.AccountMap, allowedDomains: [String],
                           mapFile: [String: String]?) -> Result<String, Refusal> {
        switch mode {
        case .localpart:
            let email = identity.lowercased()
            guard let at = email.lastIndex(of: "@"), at != email.startIndex else {
                return .failure(Refusal(.invalidLoginName, "'\(identity)' is not an email address"))
            }
            let local = String(email[..<at])
            let domain = String(email[email.index(after: at)...])
            if !allowedDomains.isEmpty && !allowedDomains.contains(domain) {
                return .failure(Refusal(.domainNotAllowed, "email domain \(domain) is not in allowed_domains"))
            }
            guard isValidLoginName(local) else {
                return .failure(Refusal(.invalidLoginName, "'\(local)' (from \(identity)) is not a valid login name"))
            }
            return .success(local)
        case .exact:
            guard isValidLoginName(identity) else {
                return .failure(Refusal(.invalidLoginName, "'\(identity)' is not a valid login name"))
            }
            return .success(identity)
        case .file(let path):
            guard let user = mapFile?[identity.lowercased()] else {
                return .failure(Refusal(.notInAccountMap, "\(identity) has no line in \(path)"))
            }
            return .success(user)
        }
    }
}

/// The `account_map = file:PATH` format: lines `email local_user`, `#` comments.
public enum AccountMapFile {
    public static func parse(_ text: String, path: String) throws(ConfigError) -> [String: String] {
        var map: [String: String] = [:]
        var firstLine: [String: Int] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else {
                throw ConfigError(file: path, line: i + 1, key: nil, message: "expected 'email local_user'")
            }
            let email = fields[0].lowercased(), user = String(fields[1])
            guard email.contains("@") else { throw ConfigError(file: path, line: i + 1, key: nil, message: "'\(fields[0])' is not an email address") }
            guard AccountMapping.isValidLoginName(user) else {
                throw ConfigError(file: path, line: i + 1, key: nil, message: "'\(user)' is not a valid login name")
            }
            if let first = firstLine[email] {
                throw ConfigError(file: path, line: i + 1, key: nil, message: "\(email) is already mapped on line \(first)")
            }
            firstLine[email] = i + 1
            map[email] = user
        }
        return map
    }
}
