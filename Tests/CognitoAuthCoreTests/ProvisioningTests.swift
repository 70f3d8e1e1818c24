@testable import CognitoAuthCore
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
