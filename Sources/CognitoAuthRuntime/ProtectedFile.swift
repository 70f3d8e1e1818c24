import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A directory reached from `/` one component at a time, each opened with
/// `O_DIRECTORY|O_NOFOLLOW` relative to the one before and checked on its descriptor: owned by root
/// (or `owner`) and not writable by group or others. This is OpenSSH's `safe_path` rule, without an
/// exception for sticky directories such as /tmp: whoever can write a directory on the way can put
/// their own file (or symlink, or directory) in its place. Files inside are then opened, created,
/// renamed and removed relative to `fd`, so swapping a path component afterwards redirects nothing.
final class TrustedDirectory {
    let path: String
    let fd: Int32

    struct Failure: Error, Sendable, CustomStringConvertible {
        var message: String
        /// A component does not exist (callers may treat "no directory" as "nothing stored").
        var missing = false
        var description: String { message }
    }

    private init(path: String, fd: Int32) { self.path = path; self.fd = fd }
    deinit { close(fd) }

    /// Walks to `path`. With `create`, the last component is made (mode 0700) when missing; its
    /// parent must already exist.
    static func open(_ path: String, owner: uid_t, create: Bool = false) -> Result<TrustedDirectory, Failure> {
        guard let names = components(path) else {
            return .failure(Failure(message: "\(path) is not an absolute path without . or .. components"))
        }
        var fd = Glibc.open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Failure(message: "cannot open /: \(errnoText())")) }
        if let why = unsafe(fd, "/", owner: owner) { close(fd); return .failure(why) }
        var here = ""
        for (i, name) in names.enumerated() {
            here += "/" + name
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create, i == names.count - 1 {
                if mkdirat(fd, name, 0o700) != 0 && errno != EEXIST {
                    let why = Failure(message: "cannot create \(here): \(errnoText())")
                    close(fd)
                    return .failure(why)
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            if next < 0 {
                let why = openFailure(parent: fd, name: name, path: here, errno: errno)
                close(fd)
                return .failure(why)
            }
            close(fd)
            fd = next
            if let why = unsafe(fd, here, owner: owner) { close(fd); return .failure(why) }
        }
        return .success(TrustedDirectory(path: path, fd: fd))
    }

    /// `child` of this directory, through its descriptor, with the same checks.
    func subdirectory(_ name: String, owner: uid_t, create: Bool) -> Result<TrustedDirectory, Failure> {
        let p = path == "/" ? "/" + name : path + "/" + name
        var fd = openat(self.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0, errno == ENOENT, create {
            if mkdirat(self.fd, name, 0o700) != 0 && errno != EEXIST {
                return .failure(Failure(message: "cannot create \(p): \(errnoText())"))
            }
            fd = openat(self.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard fd >= 0 else { return .failure(Self.openFailure(parent: self.fd, name: name, path: p, errno: errno)) }
        if let why = Self.unsafe(fd, p, owner: owner) { close(fd); return .failure(why) }
        return .success(TrustedDirectory(path: p, fd: fd))
    }

    /// Owner and mode bits of the directory itself (for callers that want it private, e.g. 0700).
    var ownerAndMode: (uid: uid_t, mode: mode_t) {
        var st = stat()
        return fstat(fd, &st) == 0 ? (st.st_uid, st.st_mode & 0o7777) : (uid_t.max, 0o7777)
    }

    /// The names of an absolute path; nil for a relative one or one with `.`/`..` (a walk that
    /// climbs back up is not worth supporting in a path that must be trusted).
    static func components(_ path: String) -> [String]? {
        guard path.hasPrefix("/") else { return nil }
        let names = path.split(separator: "/").map(String.init)
        guard !names.contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        return names
    }

    static func unsafe(_ fd: Int32, _ path: String, owner: uid_t) -> Failure? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return Failure(message: "cannot stat \(path): \(errnoText())") }
        let mode = st.st_mode & 0o7777
        if st.st_uid != 0 && st.st_uid != owner {
            return Failure(message: "\(path) is owned by uid \(st.st_uid), not root; no directory above a protected file may be")
        }
        if mode & S_IWOTH != 0 {
            return Failure(message: "\(path) is world-writable (mode \(Syntax.octal4(UInt32(mode)))); no directory above a protected file may be (sticky or not)")
        }
        if mode & S_IWGRP != 0 {
            return Failure(message: "\(path) is group-writable (mode \(Syntax.octal4(UInt32(mode)))); no directory above a protected file may be (chmod g-w)")
        }
        return nil
    }

    static func openFailure(parent: Int32, name: String, path: String, errno e: Int32) -> Failure {
        var st = stat()
        if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            if (st.st_mode & S_IFMT) == S_IFLNK { return Failure(message: "\(path) is a symbolic link; refusing to follow it") }
            if (st.st_mode & S_IFMT) != S_IFDIR { return Failure(message: "\(path) is not a directory") }
        }
        if e == ENOENT { return Failure(message: "\(path) does not exist", missing: true) }
        return Failure(message: "cannot open \(path): \(String(cString: strerror(e)))")
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// Reads files that decide who gets in (config, client secret, account map, pins, cached keys).
/// The file is opened relative to a `TrustedDirectory` (so every directory above it is root-owned
/// and not group/world-writable), with `O_NOFOLLOW|O_NONBLOCK` (a FIFO or device put in its place
/// cannot block the read), and checked on its descriptor: a regular file, owned by root, not
/// writable by group or others (for secrets not readable by them either), and small.
public enum ProtectedFile {
    public enum Kind { case config, secret }

    public static func read(_ path: String, kind: Kind, maxBytes: Int = 65_536, requiredOwner: uid_t = 0) throws(ConfigError) -> String {
        let (dir, name) = try directory(of: path, owner: requiredOwner)
        return try read(name, in: dir, kind: kind, maxBytes: maxBytes, requiredOwner: requiredOwner)
    }

    /// Every check of `read` without reading: for files another library opens by path (`ca_file`
    /// goes to libcurl); with the whole path trusted, only root could swap it in between.
    public static func verify(_ path: String, kind: Kind, requiredOwner: uid_t = 0) throws(ConfigError) {
        let (dir, name) = try directory(of: path, owner: requiredOwner)
        let (fd, _) = try open(name, in: dir, kind: kind, maxBytes: Int.max, requiredOwner: requiredOwner)
        close(fd)
    }

    /// The bytes of a file under the same rules as `read` (libnss_cognito.so.2, for NSSModulePaths).
    public static func readBytes(_ path: String, kind: Kind, maxBytes: Int, requiredOwner: uid_t = 0) throws(ConfigError) -> [UInt8] {
        let (dir, name) = try directory(of: path, owner: requiredOwner)
        return try readBytes(name, in: dir, kind: kind, maxBytes: maxBytes, requiredOwner: requiredOwner)
    }

    /// `name` inside `dir`, read through the directory's descriptor.
    static func read(_ name: String, in dir: TrustedDirectory, kind: Kind, maxBytes: Int, requiredOwner: uid_t) throws(ConfigError) -> String {
        let path = dir.path == "/" ? "/" + name : dir.path + "/" + name
        let bytes = try readBytes(name, in: dir, kind: kind, maxBytes: maxBytes, requiredOwner: requiredOwner)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, line: nil, key: nil, message: "is not valid UTF-8")
        }
        return text
    }

    static func readBytes(_ name: String, in dir: TrustedDirectory, kind: Kind, maxBytes: Int, requiredOwner: uid_t) throws(ConfigError) -> [UInt8] {
        let path = dir.path == "/" ? "/" + name : dir.path + "/" + name
        func fail(_ m: String) -> ConfigError { ConfigError(file: path, line: nil, key: nil, message: m) }
        let (fd, size) = try open(name, in: dir, kind: kind, maxBytes: maxBytes, requiredOwner: requiredOwner)
        defer { close(fd) }
        // One byte more than fstat said, to notice a file that grows while being read.
        var buffer = [UInt8](repeating: 0, count: size + 1)
        var total = 0
        while total < buffer.count {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.read(fd, base + total, raw.count - total)
            }
            if n < 0 { if errno == EINTR { continue }; throw fail("read failed: \(errnoText())") }
            if n == 0 { break }
            total += n
        }
        guard total <= size else { throw fail("grew while being read") }
        return Array(buffer[0..<total])
    }

    private static func directory(of path: String, owner: uid_t) throws(ConfigError) -> (TrustedDirectory, String) {
        var absolute = path
        if !absolute.hasPrefix("/") {
            // `cognito-auth test --config x.conf`: the walk needs the whole path.
            absolute = FileManager.default.currentDirectoryPath + "/" + path
        }
        let slash = absolute.utf8.lastIndex(of: UInt8(ascii: "/")) ?? absolute.utf8.startIndex
        let parent = String(absolute[..<slash])
        let name = String(absolute[absolute.utf8.index(after: slash)...])
        guard !name.isEmpty, name != ".", name != "..", !absolute.hasSuffix("/") else {
            throw ConfigError(file: path, line: nil, key: nil, message: "does not name a file")
        }
        switch TrustedDirectory.open(parent.isEmpty ? "/" : parent, owner: owner) {
        case .success(let d): return (d, name)
        case .failure(let why): throw ConfigError(file: path, line: nil, key: nil, message: why.message)
        }
    }

    /// Opens and checks; the caller closes the descriptor. Returns it with the file's size.
    private static func open(_ name: String, in dir: TrustedDirectory, kind: Kind, maxBytes: Int, requiredOwner: uid_t) throws(ConfigError) -> (Int32, Int) {
        let path = dir.path == "/" ? "/" + name : dir.path + "/" + name
        func fail(_ m: String) -> ConfigError { ConfigError(file: path, line: nil, key: nil, message: m) }
        let fd = openat(dir.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ELOOP { throw fail("is a symbolic link; refusing to follow it") }
            throw fail("cannot open: \(String(cString: strerror(e)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { let m = "cannot stat: \(errnoText())"; close(fd); throw fail(m) }
        let mode = st.st_mode & 0o7777
        var problem: String?
        if (st.st_mode & S_IFMT) != S_IFREG {
            problem = "is not a regular file"
        } else if st.st_uid != requiredOwner {
            problem = "is owned by uid \(st.st_uid), must be owned by root"
        } else if mode & (S_IWGRP | S_IWOTH) != 0 {
            problem = "has mode \(Syntax.octal4(UInt32(mode))); it must not be writable by group or others (chmod go-w)"
        } else if kind == .secret, mode & (S_IRWXG | S_IRWXO) != 0 {
            problem = "has mode \(Syntax.octal4(UInt32(mode))); a secret must not be readable by group or others (chmod 600)"
        } else if st.st_size > maxBytes {
            problem = "is \(st.st_size) bytes, over the \(maxBytes)-byte limit"
        }
        if let problem { close(fd); throw fail(problem) }
        return (fd, Int(st.st_size))
    }
}

/// Configuration with everything it refers to loaded: the client secret and the account map.
public struct LoadedConfig: Sendable {
    public var config: Config
    public var clientSecret: String?
    public var accountMap: AccountMapFile?
    /// `flow = relay`: the fleet's host secret from `relay_secret_file` (sent only as a Bearer token to the relay).
    public var relaySecret: String? = nil

    public static func load(path: String, requiredOwner: uid_t = 0) throws(ConfigError) -> LoadedConfig {
        let text = try ProtectedFile.read(path, kind: .config, requiredOwner: requiredOwner)
        let config = try ConfigParser.parse(text, path: path)
        func oneLineSecret(_ file: String, key: String) throws(ConfigError) -> String {
            let raw = try ProtectedFile.read(file, kind: .secret, maxBytes: 4096, requiredOwner: requiredOwner)
            let trimmed = raw.trimmed()
            guard !trimmed.isEmpty, !trimmed.contains("\n") else {
                throw ConfigError(file: file, line: nil, key: key, message: "must hold the secret on one line")
            }
            return trimmed
        }
        var secret = config.clientSecret
        if let file = config.clientSecretFile { secret = try oneLineSecret(file, key: "client_secret_file") }
        var relaySecret: String?
        if case .relay(_, let file) = config.flow {
            relaySecret = try oneLineSecret(file, key: "relay_secret_file")
            // It goes into an HTTP header: printable ASCII only, so it cannot add a header line.
            guard relaySecret?.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) == true else {
                throw ConfigError(file: file, line: nil, key: "relay_secret_file", message: "must be printable ASCII without spaces")
            }
        }
        var map: AccountMapFile?
        if case .file(let mapPath) = config.accountMap {
            map = try AccountMapFile.parse(try ProtectedFile.read(mapPath, kind: .config, maxBytes: 1_048_576, requiredOwner: requiredOwner), path: mapPath)
        }
        // Trust anchors decide whom the helper believes to be the IdP: same rule, though libcurl reads it.
        if let ca = config.caFile { try ProtectedFile.verify(ca, kind: .config, requiredOwner: requiredOwner) }
        if config.provision.enabled { try checkNSSModule(config, path: path) }
        return LoadedConfig(config: config, clientSecret: secret, accountMap: map, relaySecret: relaySecret)
    }

    /// With provision = on_first_login the installed NSS module must read this state_dir's store
    /// and this config (ARCHITECTURE.md §12): a config error otherwise, naming the key and the fix.
    static func checkNSSModule(_ config: Config, path: String) throws(ConfigError) {
        let module = config.provision.nssModule
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let bytes: [UInt8]
        // /lib is a symbolic link to usr/lib on merged-/usr systems: resolve the path first, then
        // walk the result, which must be root's all the way down like any file read here.
        var resolved = module
        if let r = realpath(module, nil) { resolved = String(cString: r); free(r) }
        do { bytes = try ProtectedFile.readBytes(resolved, kind: .config, maxBytes: 8 << 20) } catch {
            throw ConfigError(file: path, line: nil, key: "provision_nss_module",
                              message: "provision = on_first_login needs libnss_cognito.so.2 (it answers sshd before authentication): \(error.description); install it there, or name it with provision_nss_module")
        }
        guard let paths = NSSModulePaths.parse(bytes) else {
            throw ConfigError(file: path, line: nil, key: "provision_nss_module", message: "\(module) is not a libnss_cognito.so.2 of this version (no compiled-in paths)")
        }
        if let error = paths.check(config, configPath: absolute, modulePath: module) { throw error }
    }
}
