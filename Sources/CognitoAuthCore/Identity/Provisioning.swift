import FoundationEssentials

/// Why a store file or a key's value was refused.
public struct StoreProblem: Error, Sendable, Equatable, CustomStringConvertible, ExpressibleByStringInterpolation {
    public var message: String
    public init(_ message: String) { self.message = message }
    public init(stringLiteral value: String) { message = value }
    public var description: String { message }
}

/// One line of the store's passwd file (passwd(5)); the password field is always `*`.
public struct PasswdEntry: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var gecos: String
    public var home: String
    public var shell: String
    public init(name: String, uid: UInt32, gid: UInt32, gecos: String = "", home: String, shell: String) {
        self.name = name; self.uid = uid; self.gid = gid; self.gecos = gecos; self.home = home; self.shell = shell
    }
    public var line: String { "\(name):*:\(uid):\(gid):\(gecos):\(home):\(shell)" }
}

/// One line of the store's group file (group(5)). A group that exists in /etc/group (a
/// `group_map` target such as `sudo`) appears here with the host's gid and only the members the
/// store adds; initgroups merges both.
public struct GroupEntry: Sendable, Equatable {
    public var name: String
    public var gid: UInt32
    public var members: [String]
    public init(name: String, gid: UInt32, members: [String]) { self.name = name; self.gid = gid; self.members = members }
    public var line: String { "\(name):*:\(gid):\(members.joined(separator: ","))" }
}

/// `group_map = COGNITO_GROUP:LOCAL_GROUP, …`.
public struct GroupMapping: Sendable, Equatable {
    public var cognitoGroup: String
    public var localGroup: String
    public init(cognitoGroup: String, localGroup: String) { self.cognitoGroup = cognitoGroup; self.localGroup = localGroup }

    public static func parse(_ items: [String]) -> Result<[GroupMapping], StoreProblem> {
        var out: [GroupMapping] = []
        for item in items {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmed() }
            guard parts.count == 2, !parts[0].isEmpty, Syntax.isPrintableASCII(parts[0]) else {
                return .failure("'\(item)' must be COGNITO_GROUP:LOCAL_GROUP")
            }
            guard Syntax.isLoginName(parts[1]) else { return .failure("'\(parts[1])' is not a valid local group name") }
            out.append(GroupMapping(cognitoGroup: parts[0], localGroup: parts[1]))
        }
        return .success(out)
    }
}

/// The store's text formats, parsed as strictly as `pam/nss_cognito.c` does: one bad line and the
/// whole file is refused, so the helper never rewrites a store the NSS module would not serve.
public enum StoreText {
    public static func parsePasswd(_ text: String) -> Result<[PasswdEntry], StoreProblem> {
        guard let lines = lines(text) else { return .failure("does not end with a newline") }
        var out: [PasswdEntry] = []
        for (i, line) in lines.enumerated() {
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 7, Syntax.isLoginName(f[0]), let uid = id(f[2]), let gid = id(f[3]),
                  f[4] != Provisioning.provisionalGecos, f[5].hasPrefix("/"), f[6].hasPrefix("/"), f.allSatisfy(printable) else {
                return .failure("line \(i + 1) is not name:*:uid:gid:gecos:/home:/shell")
            }
            out.append(PasswdEntry(name: f[0], uid: uid, gid: gid, gecos: f[4], home: f[5], shell: f[6]))
        }
        return .success(out)
    }

    public static func parseGroup(_ text: String) -> Result<[GroupEntry], StoreProblem> {
        guard let lines = lines(text) else { return .failure("does not end with a newline") }
        var out: [GroupEntry] = []
        for (i, line) in lines.enumerated() {
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let members = f.count == 4 && !f[3].isEmpty ? f[3].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : []
            guard f.count == 4, Syntax.isLoginName(f[0]), printable(f[1]), let gid = id(f[2]),
                  members.allSatisfy({ Syntax.isLoginName($0) }) else {
                return .failure("line \(i + 1) is not name:*:gid:member,…")
            }
            out.append(GroupEntry(name: f[0], gid: gid, members: members))
        }
        return .success(out)
    }

    public static func render(_ entries: [PasswdEntry]) -> String { entries.map { $0.line + "\n" }.joined() }
    public static func render(_ entries: [GroupEntry]) -> String { entries.map { $0.line + "\n" }.joined() }

    /// /etc/passwd or /etc/group read leniently: (name, id) of each line with a numeric third field.
    /// Split at each 0x0A byte, as the NSS module does (Swift's "\r\n" is one Character, so a
    /// split at "\n" would join a CRLF line to the next and hide that line's id).
    public static func hostIDs(_ text: String) -> [(name: String, id: UInt32)] {
        text.utf8.split(separator: UInt8(ascii: "\n")).compactMap { bytes in
            let line = String(decoding: bytes, as: UTF8.self)
            let f = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard f.count >= 3, let n = id(String(f[2])) else { return nil }
            return (String(f[0]), n)
        }
    }

    /// The lines of a file that must end in a newline (a file cut short is refused as a whole).
    private static func lines(_ text: String) -> [String]? {
        if text.isEmpty { return [] }
        guard text.utf8.last == UInt8(ascii: "\n") else { return nil }
        return text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
            .map { String(decoding: $0, as: UTF8.self) }
    }

    static func id(_ s: String) -> UInt32? {
        guard s.utf8.count <= 10, Syntax.isDigits(s), let v = UInt64(s), v < UInt64(UInt32.max) else { return nil }
        return UInt32(v)
    }
    static func printable(_ s: String) -> Bool { s.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F } }
}

/// Pure provisioning decisions: which entry a name gets and which groups a person is in. The uid
/// computation is the one `pam/nss_cognito.c` does for sshd before authentication, so the entry
/// sshd was told is the entry that gets written.
public enum Provisioning {
    /// The pw_gecos of the NSS module's provisional answer (`COGNITO_PROVISIONAL_GECOS` in
    /// pam/provisional.h): pam_cognito.so's acct_mgmt refuses a PAM_USER whose entry carries it
    /// unless its own auth admitted the name. No store line may carry it.
    public static let provisionalGecos = "cognito-auth provisional entry"

    /// How long after an entry is written a concurrent sign-in may still hold, in sshd, the uid it
    /// was told before authentication: sshd drops an unauthenticated connection at LoginGraceTime,
    /// which `doctor` requires to be at most `login_timeout + 60` (and not 0) with provisioning on.
    /// Another minute on top covers sshd's teardown and the helper's exit.
    public static func raceWindow(loginTimeout: Int) -> Double { Double(loginTimeout) + 120 }

    /// The window a sign-in looks back over: `raceWindow`, or longer when the process that asked
    /// NSS for the name (sshd's connection, the helper's parent or grandparent) started earlier.
    /// 5 s of slack covers /proc's start-time rounding.
    public static func lookBack(loginTimeout: Int, now: Double, callerStarted: Double?) -> Double {
        max(raceWindow(loginTimeout: loginTimeout), callerStarted.map { now - $0 + 5 } ?? 0)
    }

    /// A uid on `name`'s probe path, up to and including `uid`, that `users remove` freed less than
    /// `window` seconds ago from another name: sshd may have been told a later uid while it was
    /// still taken. (A name's own old uid is the one it is told either way.) nil if none.
    public static func freedMeanwhile(_ name: String, uid: UInt32, range: ClosedRange<UInt32>,
                                      freed: [(uid: UInt32, at: Double, name: String)], now: Double, window: Double) -> UInt32? {
        let recent = Set(freed.filter { now - $0.at < window && $0.name != name }.map(\.uid))
        guard !recent.isEmpty else { return nil }
        for c in candidates(name, range: range) {
            if recent.contains(c) { return c }
            if c == uid { return nil }
        }
        return nil
    }

    /// The most LoginGraceTime may be with provisioning on (so that `raceWindow` bounds it).
    public static func maxLoginGraceTime(loginTimeout: Int) -> Int { loginTimeout + 60 }

    /// FNV-1a (32 bit) of the name's bytes.
    public static func hash(_ s: String) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in s.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    /// The ids tried for `name`, in order: hash into the range, then upwards, wrapping.
    public static func candidates(_ name: String, range: ClosedRange<UInt32>) -> some Sequence<UInt32> {
        let size = UInt64(range.upperBound) - UInt64(range.lowerBound) + 1
        let start = UInt64(hash(name)) % size
        return (0..<size).lazy.map { UInt32(UInt64(range.lowerBound) + (start + $0) % size) }
    }

    public static func firstFree(_ name: String, range: ClosedRange<UInt32>, taken: Set<UInt32>) -> UInt32? {
        // At most taken.count + 1 candidates need to be looked at.
        candidates(name, range: range).prefix(taken.count + 1).first { !taken.contains($0) }
    }

    public struct Host: Sendable {
        public var passwd: [(name: String, id: UInt32)]
        public var group: [(name: String, id: UInt32)]
        public init(passwdText: String, groupText: String) {
            passwd = StoreText.hostIDs(passwdText); group = StoreText.hostIDs(groupText)
        }
    }

    /// gid of a local group: /etc/group's, else the store's, else the first free one in the range.
    public static func gid(of group: String, range: ClosedRange<UInt32>, host: Host, store: [GroupEntry]) -> UInt32? {
        if let g = host.group.first(where: { $0.name == group }) { return g.id }
        if let g = store.first(where: { $0.name == group }) { return g.gid }
        return firstFree(group, range: range, taken: Set(host.group.map(\.id) + store.map(\.gid)))
    }

    /// The entry `name` gets (and that the NSS module answers sshd with before authentication).
    public static func entry(for name: String, settings: ProvisionSettings, host: Host,
                             passwd: [PasswdEntry], groups: [GroupEntry]) -> PasswdEntry? {
        guard Syntax.isLoginName(name),
              let uid = firstFree(name, range: settings.uidRange, taken: Set(host.passwd.map(\.id) + passwd.map(\.uid))),
              let gid = gid(of: settings.group, range: settings.uidRange, host: host, store: groups) else { return nil }
        return PasswdEntry(name: name, uid: uid, gid: gid, home: "/home/\(name)", shell: settings.shell)
    }

    /// An entry on `name`'s probe path before `uid` that was written less than `window` seconds
    /// ago: while this sign-in was under way, sshd may have been told that uid. nil if none.
    public static func recentlyTaken(_ name: String, uid: UInt32, range: ClosedRange<UInt32>, passwd: [PasswdEntry],
                                     created: [String: Double], now: Double, window: Double) -> PasswdEntry? {
        let byUID = Dictionary(passwd.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        for c in candidates(name, range: range) {
            if c == uid { return nil }
            if let e = byUID[c], let t = created[e.name], now - t < window { return e }
        }
        return nil
    }

    /// A host account on `name`'s probe path before `uid`, when /etc/passwd changed less than
    /// `window` seconds ago: useradd may have taken, while this sign-in was under way, the uid sshd
    /// was told before authentication (the probe now skips it). nil if none.
    public static func hostTakenMeanwhile(_ name: String, uid: UInt32, range: ClosedRange<UInt32>, host: Host,
                                          hostChangedAt: Double, now: Double, window: Double) -> (name: String, id: UInt32)? {
        guard now - hostChangedAt < window else { return nil }
        let byID = Dictionary(host.passwd.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for c in candidates(name, range: range) {
            if c == uid { return nil }
            if let e = byID[c] { return e }
        }
        return nil
    }

    /// The local groups `cognito:groups` maps to, in `group_map` order, without repeats.
    public static func mappedGroups(_ cognitoGroups: [String], map: [GroupMapping]) -> [String] {
        var out: [String] = []
        for m in map where cognitoGroups.contains(m.cognitoGroup) && !out.contains(m.localGroup) { out.append(m.localGroup) }
        return out
    }

    /// The store's groups with `user` in `settings.group` and in exactly the mapped groups among
    /// the `group_map` targets (other memberships are left as they are). Missing groups are
    /// created: with the host's gid when /etc/group has them, else with one from the range.
    public static func groups(for user: String, mapped: [String], settings: ProvisionSettings, host: Host,
                              store: [GroupEntry]) -> [GroupEntry]? {
        var out = store
        let managed = Set(settings.groupMap.map(\.localGroup))
        for name in [settings.group] + mapped where !out.contains(where: { $0.name == name }) {
            guard let gid = gid(of: name, range: settings.uidRange, host: host, store: out) else { return nil }
            out.append(GroupEntry(name: name, gid: gid, members: []))
        }
        for i in out.indices {
            let name = out[i].name
            let wanted = name == settings.group || mapped.contains(name)
            if wanted, !out[i].members.contains(user) { out[i].members.append(user) }
            if !wanted, managed.contains(name) { out[i].members.removeAll { $0 == user } }
        }
        return out
    }

    /// The store without `user`: its passwd line and its memberships.
    public static func removing(_ user: String, passwd: [PasswdEntry], groups: [GroupEntry]) -> ([PasswdEntry], [GroupEntry]) {
        (passwd.filter { $0.name != user },
         groups.map { var g = $0; g.members.removeAll { $0 == user }; return g })
    }
}

/// The `provision*` and `group_map` keys (DESIGN.md §12).
public struct ProvisionSettings: Sendable, Equatable {
    public var enabled: Bool
    public var uidRange: ClosedRange<UInt32>
    public var group: String
    public var shell: String
    public var callers: [String]
    public var groupMap: [GroupMapping]
    /// `provision_nss_module`: the installed libnss_cognito.so.2, whose compiled-in store and
    /// config paths the helper checks against its own (NSSModulePaths).
    public var nssModule: String
    public init(enabled: Bool = false, uidRange: ClosedRange<UInt32> = 200_000...299_999, group: String = "cognito",
                shell: String = "/bin/bash", callers: [String] = ["sshd", "sshd-session", "sshd-auth"], groupMap: [GroupMapping] = [],
                nssModule: String = NSSModulePaths.defaultModule) {
        self.enabled = enabled; self.uidRange = uidRange; self.group = group; self.shell = shell
        self.callers = callers; self.groupMap = groupMap; self.nssModule = nssModule
    }
}
