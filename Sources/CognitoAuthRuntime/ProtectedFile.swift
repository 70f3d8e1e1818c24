import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Reads files that decide who gets in (config, client secret, account map). They must be regular
/// files, not symlinks, owned by root, not writable by group or others (and for secrets not readable
/// by them either), and small.
public enum ProtectedFile {
    public enum Kind { case config, secret }

    public static func read(_ path: String, kind: Kind, maxBytes: Int = 65_536, requiredOwner: uid_t = 0) throws(ConfigError) -> String {
        func fail(_ m: String) -> ConfigError { ConfigError(file: path, line: nil, key: nil, message: m) }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
        if fd < 0 {
            let e = errno
            if e == ELOOP { throw fail("is a symbolic link; refusing to follow it") }
            throw fail("cannot open: \(String(cString: strerror(e)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail("cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw fail("is not a regular file") }
        guard st.st_uid == requiredOwner else { throw fail("is owned by uid \(st.st_uid), must be owned by root") }
        guard st.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            throw fail("has mode \(Syntax.octal4(UInt32(st.st_mode))); it must not be writable by group or others (chmod go-w)")
        }
        if kind == .secret, st.st_mode & (S_IRWXG | S_IRWXO) != 0 {
            throw fail("has mode \(Syntax.octal4(UInt32(st.st_mode))); a secret must not be readable by group or others (chmod 600)")
        }
        guard st.st_size <= maxBytes else { throw fail("is \(st.st_size) bytes, over the \(maxBytes)-byte limit") }
        var buffer = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var total = 0
        while total < buffer.count {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.read(fd, base + total, raw.count - total)
            }
            if n < 0 { if errno == EINTR { continue }; throw fail("read failed: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            total += n
        }
        guard total <= maxBytes else { throw fail("grew past the \(maxBytes)-byte limit while being read") }
        guard let text = String(validating: buffer[0..<total], as: UTF8.self) else { throw fail("is not valid UTF-8") }
        return text
    }
}

/// Configuration with everything it refers to loaded: the client secret and the account map.
public struct LoadedConfig: Sendable {
    public var config: Config
    public var clientSecret: String?
    public var accountMap: AccountMapFile?

    public static func load(path: String, requiredOwner: uid_t = 0) throws(ConfigError) -> LoadedConfig {
        let text = try ProtectedFile.read(path, kind: .config, requiredOwner: requiredOwner)
        let config = try ConfigParser.parse(text, path: path)
        var secret = config.clientSecret
        if let file = config.clientSecretFile {
            let raw = try ProtectedFile.read(file, kind: .secret, maxBytes: 4096, requiredOwner: requiredOwner)
            let trimmed = raw.trimmed()
            guard !trimmed.isEmpty, !trimmed.contains("\n") else {
                throw ConfigError(file: file, line: nil, key: "client_secret_file", message: "must hold the secret on one line")
            }
            secret = trimmed
        }
        var map: AccountMapFile?
        if case .file(let mapPath) = config.accountMap {
            map = try AccountMapFile.parse(try ProtectedFile.read(mapPath, kind: .config, maxBytes: 1_048_576, requiredOwner: requiredOwner), path: mapPath)
        }
        return LoadedConfig(config: config, clientSecret: secret, accountMap: map)
    }
}
