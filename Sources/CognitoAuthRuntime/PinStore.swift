import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Sticky-identity pins on disk: `<state_dir>/pins/<account>`, one small JSON file each, in
/// root-only directories reached by a trusted walk and used through their descriptors, so a
/// directory swapped in on the way cannot redirect a read or a write.
public struct PinStore {
    public let stateDir: String
    public var directory: String { stateDir + "/pins" }

    public init(stateDir: String) { self.stateDir = stateDir }

    /// What `pin` did.
    public enum Recorded: Sendable, Equatable {
        case recorded
        /// Another login pinned the account first, to this same person: nothing to do.
        case alreadyPinned
        /// Another login pinned the account first, to someone else (or to a pin that cannot be
        /// trusted): this login must be refused.
        case refused(Refusal)
        /// Not written (the admission stands; the audit line says why).
        case notRecorded(String)
    }

    func validName(_ account: String) -> Bool {
        // Accounts reaching here are valid login names; refuse anything that could leave the directory.
        AccountMapping.isValidLoginName(account)
    }

    func pinsDirectory(create: Bool) -> Result<TrustedDirectory, TrustedDirectory.Failure> {
        TrustedDirectory.open(stateDir, owner: geteuid(), create: create).flatMap {
            $0.subdirectory("pins", owner: geteuid(), create: create)
        }
    }

    public func lookup(_ account: String) -> IdentityPin.Lookup {
        guard validName(account) else { return .unreadable("not a valid account name") }
        switch pinsDirectory(create: false) {
        case .failure(let why): return why.missing ? .none : .unreadable(why.message)
        case .success(let dir): return read(account, in: dir)
        }
    }

    private func read(_ account: String, in dir: TrustedDirectory) -> IdentityPin.Lookup {
        var st = stat()
        if fstatat(dir.fd, account, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            return errno == ENOENT ? .none : .unreadable(errnoText())
        }
        do {
            let text = try ProtectedFile.read(account, in: dir, kind: .secret, maxBytes: 4096, requiredOwner: geteuid())
            guard let pin = IdentityPin.decode(Data(text.utf8)) else { return .unreadable("\(dir.path)/\(account) is corrupt") }
            return .pinned(pin)
        } catch {
            return .unreadable(error.description)
        }
    }

    /// Records the first admitted person of `account`, never replacing a pin another login wrote
    /// since this one looked: link(2) fails with EEXIST then, and that pin is read back and must
    /// name the same person.
    public func pin(_ account: String, _ pin: IdentityPin) -> Recorded {
        guard validName(account) else { return .notRecorded("not a valid account name") }
        let dir: TrustedDirectory
        switch pinsDirectory(create: true) {
        case .failure(let why): return .notRecorded(why.message)
        case .success(let d): dir = d
        }
        let tmp = "\(account).tmp.\(getpid())"
        let fd = openat(dir.fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .notRecorded("cannot write \(dir.path)/\(tmp): \(errnoText())") }
        let ok = writeAll(fd, Array(pin.encoded.utf8)) && fsync(fd) == 0
        close(fd)
        defer { unlinkat(dir.fd, tmp, 0) }
        guard ok else { return .notRecorded("cannot write \(dir.path)/\(tmp)") }
        if linkat(dir.fd, tmp, dir.fd, account, 0) == 0 { return .recorded }
        guard errno == EEXIST else { return .notRecorded("cannot create \(dir.path)/\(account): \(errnoText())") }
        let existing = read(account, in: dir)
        if case .none = existing { return .notRecorded("\(dir.path)/\(account) appeared and vanished while pinning") }
        let check = IdentityPin.check(existing, account: account, issuer: pin.issuer, sub: pin.sub)
        return check.passed ? .alreadyPinned : .refused(Refusal(check.code, "pinned by a concurrent sign-in: \(check.detail)"))
    }

    /// Removes the pin. true if there was one.
    public func unpin(_ account: String) throws(ConfigError) -> Bool {
        guard validName(account) else { throw ConfigError(file: directory, line: nil, key: nil, message: "'\(account)' is not a valid account name") }
        let dir: TrustedDirectory
        switch pinsDirectory(create: false) {
        case .failure(let why) where why.missing: return false
        case .failure(let why): throw ConfigError(file: directory, line: nil, key: nil, message: why.message)
        case .success(let d): dir = d
        }
        if unlinkat(dir.fd, account, 0) == 0 { return true }
        if errno == ENOENT { return false }
        throw ConfigError(file: "\(directory)/\(account)", line: nil, key: nil, message: "cannot remove: \(errnoText())")
    }
}
