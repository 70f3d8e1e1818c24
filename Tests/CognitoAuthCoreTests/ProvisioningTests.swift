@testable import CognitoAuthCore
import Foundation
import Testing

struct ProvisioningTests {
    static let conf = ConfigParserTests.minimal
    func parse(_ extra: String) throws(ConfigError) -> Config {
        try ConfigParser.parse(Self.conf + "\n" + extra, path: "/etc/cognito-auth/cognito-auth.conf")
    }

    @Test func provisionKeysParseWithDefaults() throws {
        let c = try parse("provision = on_first_login\ngroup_map = linux-admins:sudo, linux-users:users")
        #expect(c.provision.enabled && c.provision.uidRange == 200_000...299_999)
        #expect(c.provision.group == "cognito" && c.provision.shell == "/bin/bash" && c.provision.callers == ["sshd", "sshd-session", "sshd-auth"])
        #expect(c.provision.groupMap == [GroupMapping(cognitoGroup: "linux-admins", localGroup: "sudo"),
                                         GroupMapping(cognitoGroup: "linux-users", localGroup: "users")])
        #expect(try parse("").provision.enabled == false)
    }

    @Test(arguments: ["provision = yes", "provision_uid_range = 500-900", "provision_uid_range = 0-10",
                      "provision_uid_range = 300000-200000", "provision_group = Bad:Name", "provision_shell = bash",
                      "group_map = admins", "group_map = a:B", "provision_callers = /usr/sbin/sshd"])
    func badProvisionValuesAreRefused(_ line: String) {
        #expect(throws: ConfigError.self) { try parse(line) }
    }

    @Test func rangeBelowMinUidIsRefused() {
        #expect(throws: ConfigError.self) { try parse("min_uid = 250000\nprovision = on_first_login") }
    }

    static let host = Provisioning.Host(passwdText: "root:x:0:0::/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/bash\n",
                                        groupText: "root:x:0:\nusers:x:100:\n")

    @Test func uidIsTheHashProbedPastTakenOnes() throws {
        let s = ProvisionSettings(enabled: true, uidRange: 1000...1009)
        let first = try #require(Provisioning.entry(for: "carol", settings: s, host: Self.host, passwd: [], groups: []))
        #expect(first.uid == 1000 + Provisioning.hash("carol") % 10)
        #expect(first.home == "/home/carol" && first.shell == "/bin/bash")
        let taken = PasswdEntry(name: "dave", uid: first.uid, gid: 1, home: "/home/dave", shell: "/bin/sh")
        let next = try #require(Provisioning.entry(for: "carol", settings: s, host: Self.host, passwd: [taken], groups: []))
        #expect(next.uid == (first.uid == 1009 ? 1000 : first.uid + 1))
        // The same store gives the same answer; a full range gives none.
        #expect(Provisioning.entry(for: "carol", settings: s, host: Self.host, passwd: [taken], groups: []) == next)
        let full = (1000...1009).map { PasswdEntry(name: "u\($0)", uid: UInt32($0), gid: 1, home: "/h", shell: "/s") }
        #expect(Provisioning.entry(for: "carol", settings: s, host: Self.host, passwd: full, groups: []) == nil)
        #expect(Provisioning.entry(for: "Carol", settings: s, host: Self.host, passwd: [], groups: []) == nil)
    }

    @Test func hashIsFNV1a() {
        #expect(Provisioning.hash("") == 2_166_136_261)
        #expect(Provisioning.hash("a") == 0xE40C292C)
    }

    @Test func recentEntryOnTheProbePathIsARace() {
        let s = 1000...1009 as ClosedRange<UInt32>
        let start = 1000 + Provisioning.hash("carol") % 10
        let other = PasswdEntry(name: "dave", uid: start, gid: 1, home: "/home/dave", shell: "/bin/sh")
        let chosen = start == 1009 ? 1000 : start + 1
        #expect(Provisioning.recentlyTaken("carol", uid: chosen, range: s, passwd: [other], created: ["dave": 100], now: 200, window: 900) == other)
        #expect(Provisioning.recentlyTaken("carol", uid: chosen, range: s, passwd: [other], created: ["dave": 100], now: 5000, window: 900) == nil)
    }

    @Test func raceWindowGrowsWithLoginTimeoutAndBoundsLoginGraceTime() {
        // login_timeout may be 3600 s: a fixed 900 s window would not outlast such a connection.
        #expect(Provisioning.raceWindow(loginTimeout: 3600) == 3720)
        #expect(Provisioning.raceWindow(loginTimeout: 110) == 230)
        for t in [10, 110, 3600] {
            #expect(Double(Provisioning.maxLoginGraceTime(loginTimeout: t)) < Provisioning.raceWindow(loginTimeout: t))
        }
        let s = 1000...1009 as ClosedRange<UInt32>
        let start = 1000 + Provisioning.hash("carol") % 10
        let other = PasswdEntry(name: "dave", uid: start, gid: 1, home: "/home/dave", shell: "/bin/sh")
        let chosen = start == 1009 ? 1000 : start + 1
        // Written 2000 s ago: inside the window of a 3600 s login_timeout.
        let w = Provisioning.raceWindow(loginTimeout: 3600)
        #expect(Provisioning.recentlyTaken("carol", uid: chosen, range: s, passwd: [other], created: ["dave": 100], now: 2100, window: w) == other)
    }

    @Test func hostAccountOnTheProbePathIsARaceOnlyWhilePasswdIsFresh() {
        let s = 1000...1009 as ClosedRange<UInt32>
        let start = 1000 + Provisioning.hash("carol") % 10
        let chosen = start == 1009 ? 1000 : start + 1
        let host = Provisioning.Host(passwdText: "root:x:0:0::/root:/bin/bash\nnewbie:x:\(start):100::/home/newbie:/bin/sh\n", groupText: "")
        // useradd took the uid sshd was told, 10 s ago: refused.
        #expect(Provisioning.hostTakenMeanwhile("carol", uid: chosen, range: s, host: host, hostChangedAt: 990, now: 1000, window: 230)?.name == "newbie")
        // /etc/passwd unchanged for longer than any connection lasts: the account was there at lookup too.
        #expect(Provisioning.hostTakenMeanwhile("carol", uid: chosen, range: s, host: host, hostChangedAt: 0, now: 1000, window: 230) == nil)
        // Not on the probe path before the chosen uid: nothing to fear.
        #expect(Provisioning.hostTakenMeanwhile("carol", uid: start, range: s, host: Self.host, hostChangedAt: 990, now: 1000, window: 230) == nil)
    }

    @Test func provisionalMarkIsNeverAStoreLine() throws {
        let marked = "carol:*:200001:200000:\(Provisioning.provisionalGecos):/home/carol:/bin/bash\n"
        #expect(throws: StoreProblem.self) { try StoreText.parsePasswd(marked).get() }
        #expect(try StoreText.parsePasswd("carol:*:200001:200000::/home/carol:/bin/bash\n").get().count == 1)
        // The same mark as pam/provisional.h, which the C module and pam_cognito.so use.
        let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("pam/provisional.h")
        let text = try String(contentsOf: header, encoding: .utf8)
        #expect(text.contains("#define COGNITO_PROVISIONAL_GECOS \"\(Provisioning.provisionalGecos)\""))
    }

    @Test func nssModulePathsAreReadFromTheModuleBytes() throws {
        let bytes = Array("\u{7f}ELF junk\0COGNITO_STORE_DIR=/var/lib/cognito-auth/accounts\0COGNITO_CONFIG=/etc/cognito-auth/cognito-auth.conf\0tail".utf8)
        let p = try #require(NSSModulePaths.parse(bytes))
        #expect(p == NSSModulePaths(storeDir: "/var/lib/cognito-auth/accounts", config: "/etc/cognito-auth/cognito-auth.conf"))
        #expect(NSSModulePaths.parse(Array("no markers here".utf8)) == nil)
        #expect(NSSModulePaths.parse(Array("COGNITO_STORE_DIR=relative\0COGNITO_CONFIG=/c\0".utf8)) == nil)
        #expect(NSSModulePaths.parse(Array("COGNITO_STORE_DIR=/a\0COGNITO_STORE_DIR=/b\0COGNITO_CONFIG=/c\0".utf8)) == nil)
        #expect(NSSModulePaths.parse(Array("COGNITO_STORE_DIR=/a\0COGNITO_CONFIG=/c".utf8)) == nil, "no NUL: cut short")
    }

    @Test func stateDirOtherThanTheModulesIsAConfigErrorNamingTheKey() throws {
        let module = NSSModulePaths(storeDir: "/var/lib/cognito-auth/accounts", config: "/etc/cognito-auth/cognito-auth.conf")
        let path = "/etc/cognito-auth/cognito-auth.conf"
        #expect(module.check(try parse("provision = on_first_login"), configPath: path, modulePath: "/m") == nil)
        #expect(module.check(try parse("provision = on_first_login\nstate_dir = /var/lib/cognito-auth/"), configPath: path, modulePath: "/m") == nil)
        let e = try #require(module.check(try parse("provision = on_first_login\nstate_dir = /srv/state"), configPath: path, modulePath: "/m"))
        #expect(e.key == "state_dir" && e.message.contains("set state_dir = /var/lib/cognito-auth"))
        let other = try #require(module.check(try parse("provision = on_first_login"), configPath: "/etc/other.conf", modulePath: "/m"))
        #expect(other.key == "provision" && other.message.contains("/etc/cognito-auth/cognito-auth.conf"))
        #expect(try parse("provision_nss_module = /usr/lib64/libnss_cognito.so.2").provision.nssModule == "/usr/lib64/libnss_cognito.so.2")
        #expect(throws: ConfigError.self) { try parse("provision_nss_module = libnss_cognito.so.2") }
    }

    @Test func groupsAddPrimaryAndMappedAndDropUnmapped() throws {
        let s = ProvisionSettings(enabled: true, uidRange: 200_000...200_099,
                                  groupMap: [GroupMapping(cognitoGroup: "linux-admins", localGroup: "users"),
                                             GroupMapping(cognitoGroup: "ops", localGroup: "opsgroup")])
        let mapped = Provisioning.mappedGroups(["linux-admins", "other"], map: s.groupMap)
        #expect(mapped == ["users"])
        let g = try #require(Provisioning.groups(for: "carol", mapped: mapped, settings: s, host: Self.host, store: []))
        #expect(g.first { $0.name == "users" } == GroupEntry(name: "users", gid: 100, members: ["carol"]))
        #expect(g.first { $0.name == "cognito" }?.members == ["carol"])
        let later = try #require(Provisioning.groups(for: "carol", mapped: ["opsgroup"], settings: s, host: Self.host, store: g))
        #expect(later.first { $0.name == "users" }?.members == [])
        #expect(later.first { $0.name == "opsgroup" }.map { s.uidRange.contains($0.gid) } == true)
    }

    @Test(arguments: ["bob:*:1:1::/h", "bob:*:x:1::/h:/s", "bob:*:1:1::h:/s", "Bob:*:1:1::/h:/s"])
    func strictPasswdParsing(_ line: String) {
        #expect((try? StoreText.parsePasswd("bob:*:1:1::/h:/s\n").get())?.count == 1)
        #expect((try? StoreText.parsePasswd("bob:*:1:1::/h:/s\n" + line + "\n").get()) == nil, "one bad line refuses the file")
        #expect((try? StoreText.parsePasswd("bob:*:1:1::/h:/s").get()) == nil, "a file cut short is refused")
    }

    @Test func groupRoundTrip() throws {
        let text = "cognito:*:200001:carol,dave\nusers:*:100:\n"
        let g = try StoreText.parseGroup(text).get()
        #expect(StoreText.render(g) == text)
        #expect((try? StoreText.parseGroup("x:*:1:Bad\n").get()) == nil)
    }
}

@Suite("Provisioning races: freed uids, the caller's start, CRLF")
struct ProvisioningRaceTests {
    let range: ClosedRange<UInt32> = 200_000...299_999

    @Test func aUIDFreedOnTheProbePathWhileTheSignInWasUnderWayIsRefused() {
        let path = Array(Provisioning.candidates("carol", range: range).prefix(3))
        // carol was told path[1] while path[0] was taken; path[0] was freed since: she now computes path[0].
        #expect(Provisioning.freedMeanwhile("carol", uid: path[0], range: range, freed: [(path[0], 990, "dave")], now: 1000, window: 230) == path[0])
        // Freed long ago: sshd saw it free too.
        #expect(Provisioning.freedMeanwhile("carol", uid: path[0], range: range, freed: [(path[0], 10, "dave")], now: 1000, window: 230) == nil)
        // carol's own old uid, freed by removing her: she is told it either way.
        #expect(Provisioning.freedMeanwhile("carol", uid: path[0], range: range, freed: [(path[0], 990, "carol")], now: 1000, window: 230) == nil)
        // A freed uid after carol's own is not on her path so far.
        #expect(Provisioning.freedMeanwhile("carol", uid: path[0], range: range, freed: [(path[2], 990, "dave")], now: 1000, window: 230) == nil)
    }

    @Test func theLookBackCoversAConnectionOlderThanTheRaceWindow() {
        #expect(Provisioning.lookBack(loginTimeout: 110, now: 10_000, callerStarted: nil) == 230)
        #expect(Provisioning.lookBack(loginTimeout: 110, now: 10_000, callerStarted: 9_990) == 230)
        #expect(Provisioning.lookBack(loginTimeout: 110, now: 10_000, callerStarted: 8_000) == 2_005)
    }

    @Test func crlfLinesInEtcPasswdDoNotHideTheNextLine() {
        let ids = StoreText.hostIDs("root:x:0:0::/root:/bin/sh\r\nhidden:x:200123:200123::/h:/bin/sh\n")
        #expect(ids.map(\.id) == [0, 200_123])
    }
}
