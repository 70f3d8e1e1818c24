import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The provisioning store (ARCHITECTURE.md §12): `<state_dir>/accounts/` (root 0755) with
/// `passwd` and `group` (root 0644, what `libnss_cognito.so.2` serves to everyone), `meta`
/// (root 0600: when each account was written, whether it is locked) and `lock` (flock(2) held by
/// every writer). Files are replaced by write-temp + fsync + rename, so a reader sees the old file
/// or the new one, never a part. Reached by the same trusted walk as every other file here.
public struct AccountStore {
    public let stateDir: String
    public var directory: String { stateDir + "/accounts" }
    static let maxBytes = 4 << 20

    public init(stateDir: String) { self.stateDir = stateDir }

    public struct Snapshot: Sendable {
        public var passwd: [PasswdEntry] = []
        public var groups: [GroupEntry] = []
        /// name → (written at, locked)
        public var meta: [String: (created: Double, locked: Bool)] = [:]
        /// uids `users remove` freed, when, and whose (meta lines `~ TIME UID NAME`; kept a day).
        public var freed: [(uid: UInt32, at: Double, name: String)] = []
    }

    func fail(_ m: String) -> StoreProblem { StoreProblem("\(directory): \(m)") }

    /// The accounts directory; with `create`, made (0755) with state_dir opened for traversal.
    func open(create: Bool) -> Result<TrustedDirectory, TrustedDirectory.Failure> {
        TrustedDirectory.open(stateDir, owner: 0, create: create).flatMap { state in
            // Unprivileged programs read passwd and group: state_dir must be searchable (pins/ stays 0700).
            if create, state.ownerAndMode.mode & 0o011 != 0o011 { _ = fchmod(state.fd, state.ownerAndMode.mode | 0o011) }
            return state.subdirectory("accounts", owner: 0, create: create).map { dir in
                if create, dir.ownerAndMode.mode != 0o755 { _ = fchmod(dir.fd, 0o755) }
                return dir
            }
        }
    }

    private func readFile(_ name: String, in dir: TrustedDirectory, kind: ProtectedFile.Kind) -> Result<String, StoreProblem> {
        var st = stat()
        if fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            return errno == ENOENT ? .success("") : .failure(fail("\(name): \(errnoText())"))
        }
        do { return .success(try ProtectedFile.read(name, in: dir, kind: kind, maxBytes: Self.maxBytes, requiredOwner: 0)) } catch {
            return .failure(StoreProblem(error.description))
        }
    }

    func read(_ dir: TrustedDirectory) -> Result<Snapshot, StoreProblem> {
        var snap = Snapshot()
        switch readFile("passwd", in: dir, kind: .config).flatMap(StoreText.parsePasswd) {
        case .success(let p): snap.passwd = p
        case .failure(let why): return .failure(StoreProblem("\(directory)/passwd: \(why.message)"))
        }
        switch readFile("group", in: dir, kind: .config).flatMap(StoreText.parseGroup) {
        case .success(let g): snap.groups = g
        case .failure(let why): return .failure(StoreProblem("\(directory)/group: \(why.message)"))
        }
        switch readFile("meta", in: dir, kind: .secret) {
        case .failure(let why): return .failure(why)
        case .success(let text):
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ")
                guard f.count == 3 || (f.count == 4 && f[0] == "~"), let t = Double(f[1]), t.isFinite, t >= 0, t < 1e12 else {
                    return .failure(StoreProblem("\(directory)/meta is corrupt"))
                }
                if f.count == 4, f[2].utf8.count <= 10, Syntax.isDigits(f[2]), let uid = UInt32(f[2]), Syntax.isLoginName(String(f[3])) {
                    snap.freed.append((uid, t, String(f[3])))
                } else if f.count == 3, f[2] == "0" || f[2] == "1", f[0] != "~" {
                    snap.meta[String(f[0])] = (t, f[2] == "1")
                } else {
                    return .failure(StoreProblem("\(directory)/meta is corrupt"))
                }
            }
        }
        return .success(snap)
    }

    /// The store as it is; an absent store is an empty one.
    public func snapshot() -> Result<Snapshot, StoreProblem> {
        switch open(create: false) {
        case .failure(let why): return why.missing ? .success(Snapshot()) : .failure(StoreProblem(why.message))
        case .success(let dir): return read(dir)
        }
    }

    public func lookup(_ name: String) -> PasswdEntry? {
        guard case .success(let s) = snapshot() else { return nil }
        return s.passwd.first { $0.name == name }
    }

    static func host() -> Result<Provisioning.Host, StoreProblem> {
        do {
            return .success(Provisioning.Host(passwdText: try ProtectedFile.read("/etc/passwd", kind: .config, maxBytes: maxBytes),
                                              groupText: try ProtectedFile.read("/etc/group", kind: .config, maxBytes: maxBytes)))
        } catch { return .failure(StoreProblem(error.description)) }
    }

    /// When /etc/passwd last changed (its mtime, or its inode's change time if later); now if unknown.
    static func hostPasswdChanged(now: Double) -> Double {
        var st = stat()
        guard stat("/etc/passwd", &st) == 0 else { return now }
        return max(Double(st.st_mtim.tv_sec), Double(st.st_ctim.tv_sec))
    }

    /// The name NSS has for a uid from a source other than this store (files, LDAP, sssd…), if any.
    static func nssOwner(of uid: uid_t) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        while true {
            let rc = getpwuid_r(uid, &pwd, &buffer, buffer.count, &result)
            if rc == ERANGE, buffer.count < 1_048_576 { buffer = [CChar](repeating: 0, count: buffer.count * 2); continue }
            // A failed lookup cannot say the uid is free.
            guard rc == 0 else { return "(lookup failed: \(String(cString: strerror(rc))))" }
            return result.map { String(cString: $0.pointee.pw_name) }
        }
    }

    /// The entry a not-yet-provisioned name would get now (what the NSS module tells sshd).
    public func planned(_ name: String, settings: ProvisionSettings) -> PasswdEntry? {
        guard settings.enabled, case .success(let s) = snapshot(), case .success(let host) = Self.host(),
              !s.passwd.contains(where: { $0.name == name }), !host.passwd.contains(where: { $0.name == name }) else { return nil }
        return Provisioning.entry(for: name, settings: settings, host: host, passwd: s.passwd, groups: s.groups)
    }

    public enum Admitted: Sendable, Equatable {
        case provisioned(PasswdEntry)
        case refreshed([String])
        /// Not an account of the store (a host account): nothing to do.
        case notManaged
    }

    /// On an allowed sign-in: writes the new account (`create`), or refreshes the mapped groups of
    /// one the store already has. Under the lock; a refusal leaves the store as it was.
    /// `loginTimeout` sizes the race window (Provisioning.raceWindow).
    public func admit(_ name: String, create: Bool, cognitoGroups: [String], settings: ProvisionSettings,
                      loginTimeout: Int, now: Double) -> Result<Admitted, Refusal> {
        func refuse(_ m: String, _ code: ReasonCode = .provisionFailed) -> Result<Admitted, Refusal> { .failure(Refusal(code, m)) }
        guard Syntax.isLoginName(name) else { return refuse("'\(name)' is not a valid login name") }
        let dir: TrustedDirectory
        switch open(create: create) {
        case .success(let d): dir = d
        case .failure(let why) where why.missing && !create: return .success(.notManaged)
        case .failure(let why): return refuse(why.message)
        }
        return withLock(dir) { () -> Result<Admitted, Refusal> in
            var snap: Snapshot
            switch read(dir) {
            case .success(let s): snap = s
            case .failure(let why): return refuse(why.message)
            }
            let host: Provisioning.Host
            switch Self.host() {
            case .success(let h): host = h
            case .failure(let why): return refuse(why.message)
            }
            let mapped = Provisioning.mappedGroups(cognitoGroups, map: settings.groupMap)
            let existing = snap.passwd.first { $0.name == name }
            if existing == nil && !create { return .success(.notManaged) }
            if snap.meta[name]?.locked == true { return refuse("\(name) is locked (cognito-auth users lock)", .accountLocked) }
            guard let groups = Provisioning.groups(for: name, mapped: mapped, settings: settings, host: host, store: snap.groups) else {
                return refuse("no free gid in provision_uid_range \(settings.uidRange.lowerBound)-\(settings.uidRange.upperBound)")
            }
            if existing != nil {
                if groups != snap.groups, let why = write("group", StoreText.render(groups), mode: 0o644, in: dir) { return refuse(why.message) }
                return .success(.refreshed(mapped))
            }
            if host.passwd.contains(where: { $0.name == name }) { return refuse("\(name) appeared in /etc/passwd meanwhile") }
            guard let entry = Provisioning.entry(for: name, settings: settings, host: host, passwd: snap.passwd, groups: snap.groups) else {
                return refuse("no free uid in provision_uid_range \(settings.uidRange.lowerBound)-\(settings.uidRange.upperBound)")
            }
            let window = Provisioning.lookBack(loginTimeout: loginTimeout, now: now, callerStarted: Self.callerStarted())
            if let other = Provisioning.recentlyTaken(name, uid: entry.uid, range: settings.uidRange, passwd: snap.passwd,
                                                      created: snap.meta.mapValues(\.created), now: now, window: window) {
                return refuse("uid \(other.uid) was taken by \(other.name) while this sign-in was under way; sign in again")
            }
            if let other = Provisioning.hostTakenMeanwhile(name, uid: entry.uid, range: settings.uidRange, host: host,
                                                           hostChangedAt: Self.hostPasswdChanged(now: now), now: now, window: window) {
                return refuse("uid \(other.id) is \(other.name)'s in /etc/passwd, which changed while this sign-in was under way; sign in again")
            }
            if let freed = Provisioning.freedMeanwhile(name, uid: entry.uid, range: settings.uidRange, freed: snap.freed,
                                                       now: now, window: window) {
                return refuse("uid \(freed) was freed (cognito-auth users remove) while this sign-in was under way; sign in again")
            }
            // /etc/passwd is probed; other NSS sources (LDAP, sssd) are not: never write a uid they have.
            if let owner = Self.nssOwner(of: entry.uid) {
                return refuse("uid \(entry.uid) already belongs to \(owner) (NSS); choose a provision_uid_range no other source uses")
            }
            if let why = HomeDirectory.create(entry) { return refuse(why.message) }
            snap.passwd.append(entry)
            snap.meta[name] = (now, false)
            // group and meta first: a passwd line never names a group that is not there yet.
            if let why = write("group", StoreText.render(groups), mode: 0o644, in: dir)
                ?? write("meta", renderMeta(snap, now: now), mode: 0o600, in: dir)
                ?? write("passwd", StoreText.render(snap.passwd), mode: 0o644, in: dir) { return refuse(why.message) }
            return .success(.provisioned(entry))
        }
    }

    /// `users remove`: the passwd line, the memberships and the meta line. true if there was one.
    public func remove(_ name: String) -> Result<Bool, StoreProblem> {
        change(name) { snap in
            // The uid is free again: a sign-in under way for a name whose probe path crosses it may
            // have been told a later one, so it is remembered for a while (Provisioning.freedMeanwhile).
            for e in snap.passwd where e.name == name { snap.freed.append((e.uid, Date().timeIntervalSince1970, e.name)) }
            (snap.passwd, snap.groups) = Provisioning.removing(name, passwd: snap.passwd, groups: snap.groups)
            snap.meta[name] = nil
        }
    }

    /// `users lock`: the account keeps its uid, sign-ins are refused and its shell is nologin.
    public func lock(_ name: String) -> Result<Bool, StoreProblem> {
        change(name) { snap in
            for i in snap.passwd.indices where snap.passwd[i].name == name { snap.passwd[i].shell = "/usr/sbin/nologin" }
            snap.meta[name] = (snap.meta[name]?.created ?? 0, true)
        }
    }

    private func change(_ name: String, _ edit: (inout Snapshot) -> Void) -> Result<Bool, StoreProblem> {
        let dir: TrustedDirectory
        switch open(create: false) {
        case .success(let d): dir = d
        case .failure(let why): return why.missing ? .success(false) : .failure(StoreProblem(why.message))
        }
        return withLock(dir) { () -> Result<Bool, StoreProblem> in
            var snap: Snapshot
            switch read(dir) {
            case .success(let s): snap = s
            case .failure(let why): return .failure(why)
            }
            guard snap.passwd.contains(where: { $0.name == name }) else { return .success(false) }
            edit(&snap)
            if let why = write("meta", renderMeta(snap, now: Date().timeIntervalSince1970), mode: 0o600, in: dir)
                ?? write("passwd", StoreText.render(snap.passwd), mode: 0o644, in: dir)
                ?? write("group", StoreText.render(snap.groups), mode: 0o644, in: dir) { return .failure(why) }
            return .success(true)
        }
    }

    func renderMeta(_ snap: Snapshot, now: Double) -> String {
        snap.meta.sorted { $0.key < $1.key }.map { "\($0.key) \(Int($0.value.created)) \($0.value.locked ? 1 : 0)\n" }.joined()
            + snap.freed.filter { now - $0.at < 86_400 }.map { "~ \(Int($0.at)) \($0.uid) \($0.name)\n" }.joined()
    }

    /// When the process that asked NSS for the name started: the earlier of the helper's parent
    /// (the PAM caller; under sshd, the child it forks for PAM) and grandparent (sshd's connection
    /// process), from /proc. nil when /proc does not say.
    static func callerStarted() -> Double? {
        guard let btime = bootTime() else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard ticks > 0 else { return nil }
        var starts: [Double] = []
        var pid = getppid()
        for _ in 0..<2 {
            guard pid > 1, let (start, parent) = processStart(pid) else { break }
            starts.append(btime + start / ticks)
            pid = parent
        }
        return starts.min()
    }

    /// /proc/PID/stat's starttime (field 22, clock ticks since boot) and ppid (field 4).
    static func processStart(_ pid: pid_t) -> (Double, pid_t)? {
        guard let text = readProcFile("/proc/\(pid)/stat"),
              let close = text.utf8.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after the command's closing parenthesis start at field 3 (state).
        let f = text[text.utf8.index(after: close)...].split(separator: " ")
        guard f.count > 19, let ppid = Int32(f[1]), let start = Double(f[19]), start.isFinite, start >= 0 else { return nil }
        return (start, ppid)
    }

    /// A /proc file's text (they are generated, never larger than a page or two here).
    static func readProcFile(_ path: String) -> String? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65_536 {
            let n = chunk.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress, raw.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func bootTime() -> Double? {
        guard let text = readProcFile("/proc/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6)).flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        }
        return nil
    }

    private func withLock<T>(_ dir: TrustedDirectory, _ body: () -> Result<T, Refusal>) -> Result<T, Refusal> {
        let fd = openat(dir.fd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failure(Refusal(.provisionFailed, fail("lock: \(errnoText())").message)) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { return .failure(Refusal(.provisionFailed, fail("lock: \(errnoText())").message)) }
        }
        return body()
    }

    private func withLock<T>(_ dir: TrustedDirectory, _ body: () -> Result<T, StoreProblem>) -> Result<T, StoreProblem> {
        withLock(dir) { body().mapError { Refusal(.provisionFailed, $0.message) } }.mapError { StoreProblem($0.detail) }
    }

    /// write-temp + fsync + rename, all relative to the directory's descriptor. nil on success.
    private func write(_ name: String, _ text: String, mode: mode_t, in dir: TrustedDirectory) -> StoreProblem? {
        let tmp = ".\(name).tmp.\(getpid())"
        unlinkat(dir.fd, tmp, 0)
        let fd = openat(dir.fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { return fail("\(tmp): \(errnoText())") }
        let ok = fchmod(fd, mode) == 0 && writeAll(fd, Array(text.utf8)) && fsync(fd) == 0
        close(fd)
        guard ok, renameat(dir.fd, tmp, dir.fd, name) == 0 else {
            let why = fail("cannot write \(name): \(errnoText())")
            unlinkat(dir.fd, tmp, 0)
            return why
        }
        _ = fsync(dir.fd)
        return nil
    }
}

/// The home directory of a new account: `/home/NAME` (mode 0750) with a copy of /etc/skel, owned
/// by the account. An existing directory is left as it is.
enum HomeDirectory {
    static func create(_ entry: PasswdEntry) -> StoreProblem? {
        let fm = FileManager.default
        var st = stat()
        if lstat(entry.home, &st) == 0 {
            // An old home (a removed account's, a host account's) is never handed to a new owner.
            guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == entry.uid else {
                return StoreProblem("\(entry.home) exists and is not a directory owned by uid \(entry.uid) (owner \(st.st_uid)); move it away or chown it")
            }
            return nil
        }
        do {
            if fm.fileExists(atPath: "/etc/skel") {
                try fm.copyItem(atPath: "/etc/skel", toPath: entry.home)
            } else {
                try fm.createDirectory(atPath: entry.home, withIntermediateDirectories: false)
            }
            for sub in try fm.subpathsOfDirectory(atPath: entry.home) {
                guard lchown(entry.home + "/" + sub, entry.uid, entry.gid) == 0 else { throw HomeError(why: errnoText()) }
            }
            guard lchown(entry.home, entry.uid, entry.gid) == 0, chmod(entry.home, 0o750) == 0 else { throw HomeError(why: errnoText()) }
            return nil
        } catch {
            try? fm.removeItem(atPath: entry.home)
            return StoreProblem("cannot create \(entry.home): \(error)")
        }
    }
    struct HomeError: Error, CustomStringConvertible { var why: String; var description: String { why } }
}
