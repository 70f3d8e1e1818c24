import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Sticky-identity pins on disk: `<state_dir>/pins/<account>`, one small JSON file each, in
/// root-only directories, replaced atomically.
public struct PinStore {
    public let stateDir: String
    public var directory: String { stateDir + "/pins" }

    public init(stateDir: String) { self.stateDir = stateDir }

    func path(_ account: String) -> String? {
        // Accounts reaching here are valid login names; refuse anything that could leave the directory.
        guard AccountMapping.isValidLoginName(account) else { return nil }
        return "\(directory)/\(account)"
    }

    public func lookup(_ account: String) -> IdentityPin.Lookup {
        guard let p = path(account) else { return .unreadable("not a valid account name") }
        var st = stat()
        if lstat(p, &st) != 0 {
            return errno == ENOENT ? .none : .unreadable(String(cString: strerror(errno)))
        }
        do {
            let text = try ProtectedFile.read(p, kind: .secret, maxBytes: 4096, requiredOwner: geteuid())
            guard let pin = IdentityPin.decode(Data(text.utf8)) else { return .unreadable("\(p) is corrupt") }
            return .pinned(pin)
        } catch {
            return .unreadable(error.description)
        }
    }

    /// Records the first admitted person of `account`. Returns a reason when it could not.
    public func pin(_ account: String, _ pin: IdentityPin) -> String? {
        guard let p = path(account) else { return "not a valid account name" }
        for dir in [stateDir, directory] {
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { return "cannot create \(dir): \(String(cString: strerror(errno)))" }
            var st = stat()
            guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid(),
                  st.st_mode & (S_IWGRP | S_IWOTH) == 0 else { return "\(dir) must be a directory owned by root, not group/world-writable" }
        }
        let tmp = p + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot write \(tmp): \(String(cString: strerror(errno)))" }
        let ok = writeAll(fd, Array(pin.encoded.utf8)) && fsync(fd) == 0
        close(fd)
        // link(2) instead of rename: never replace a pin another login wrote in the meantime.
        defer { unlink(tmp) }
        guard ok else { return "cannot write \(tmp)" }
        if link(tmp, p) != 0 && errno != EEXIST { return "cannot create \(p): \(String(cString: strerror(errno)))" }
        return nil
    }

    /// Removes the pin. true if there was one.
    public func unpin(_ account: String) throws(ConfigError) -> Bool {
        guard let p = path(account) else { throw ConfigError(file: directory, line: nil, key: nil, message: "'\(account)' is not a valid account name") }
        if unlink(p) == 0 { return true }
        if errno == ENOENT { return false }
        throw ConfigError(file: p, line: nil, key: nil, message: "cannot remove: \(String(cString: strerror(errno)))")
    }
}
