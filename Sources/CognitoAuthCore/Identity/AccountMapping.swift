import FoundationEssentials

/// Turns the person's Cognito identity (the `username_claim` value) into a local account name.
/// Never "sanitizes" a name into a different one: anything that is not already a valid login name
/// is refused with a reason. Identities and names are ASCII and compared byte for byte: Unicode
/// case folding (U+212A KELVIN SIGN lower-cases to `k`) or canonical equivalence would let two
/// different identities reach the same account.
public enum AccountMapping {
    public static func isValidLoginName(_ s: String) -> Bool { Syntax.isLoginName(s) }

    public static func map(identity: String, mode: Config.AccountMap, allowedDomains: [String],
                           mapFile: AccountMapFile?) -> Result<String, Refusal> {
        guard Syntax.isPrintableASCII(identity) else {
            return .failure(Refusal(.invalidLoginName, "identity \(quoted(identity)) is not printable ASCII"))
        }
        switch mode {
        case .localpart:
            let email = Syntax.asciiLowercased(identity)
            guard let at = email.utf8.lastIndex(of: UInt8(ascii: "@")), at != email.utf8.startIndex else {
                return .failure(Refusal(.invalidLoginName, "'\(identity)' is not an email address"))
            }
            let local = String(email[..<at])
            let domain = String(email[email.utf8.index(after: at)...])
            guard allowedDomains.contains(where: { $0.utf8.elementsEqual(domain.utf8) }) else {
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
            guard let user = mapFile?.user(for: identity) else {
                return .failure(Refusal(.notInAccountMap, "\(identity) has no line in \(path)"))
            }
            return .success(user)
        }
    }

    /// A value for a log line: control and non-ASCII characters shown as escapes.
    static func quoted(_ s: String) -> String {
        var out = "'"
        for u in s.unicodeScalars {
            if u.value >= 0x20 && u.value < 0x7F { out.unicodeScalars.append(u) } else { out += "\\u{\(String(u.value, radix: 16))}" }
        }
        return out + "'"
    }
}

/// The `account_map = file:PATH` format: lines `email local_user`, `#` comments. Emails are ASCII,
/// matched case-insensitively in ASCII only, and compared as bytes.
public struct AccountMapFile: Sendable, Equatable {
    /// Lower-cased email bytes → local user.
    let entries: [[UInt8]: String]

    public var count: Int { entries.count }

    public func user(for identity: String) -> String? {
        guard Syntax.isPrintableASCII(identity) else { return nil }
        return entries[Array(Syntax.asciiLowercased(identity).utf8)]
    }

    public static func parse(_ text: String, path: String) throws(ConfigError) -> AccountMapFile {
        var map: [[UInt8]: String] = [:]
        var firstLine: [[UInt8]: Int] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmed()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else {
                throw ConfigError(file: path, line: i + 1, key: nil, message: "expected 'email local_user'")
            }
            let user = String(fields[1])
            guard Syntax.isPrintableASCII(fields[0]), fields[0].utf8.contains(UInt8(ascii: "@")) else {
                throw ConfigError(file: path, line: i + 1, key: nil, message: "\(AccountMapping.quoted(String(fields[0]))) is not an ASCII email address")
            }
            guard AccountMapping.isValidLoginName(user) else {
                throw ConfigError(file: path, line: i + 1, key: nil, message: "'\(user)' is not a valid login name")
            }
            let email = Array(Syntax.asciiLowercased(fields[0]).utf8)
            if let first = firstLine[email] {
                throw ConfigError(file: path, line: i + 1, key: nil, message: "\(String(decoding: email, as: UTF8.self)) is already mapped on line \(first)")
            }
            firstLine[email] = i + 1
            map[email] = user
        }
        return AccountMapFile(entries: map)
    }
}
