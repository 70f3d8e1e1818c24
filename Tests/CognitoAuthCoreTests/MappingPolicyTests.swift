import CognitoAuthCore
import Foundation
import Testing

@Suite("Account mapping")
struct AccountMappingTests {
    func localpart(_ email: String, domains: [String] = ["example.com"]) -> Result<String, Refusal> {
        AccountMapping.map(identity: email, mode: .localpart, allowedDomains: domains, mapFile: nil)
    }

    @Test func localpartLowercases() {
        #expect(localpart("Alice@Example.COM", domains: ["example.com"]) == .success("alice"))
    }
    @Test func domainMustBeListedExactly() {
        #expect(localpart("alice@evil.com", domains: ["example.com"]).failureCode == .domainNotAllowed)
        #expect(localpart("alice@sub.example.com", domains: ["example.com"]).failureCode == .domainNotAllowed)
        #expect(localpart("alice@example.com.evil.com", domains: ["example.com"]).failureCode == .domainNotAllowed)
    }
    @Test(arguments: ["alice+tag@example.com", "root;rm@example.com", "-x@example.com", "a b@example.com",
                      "@example.com", "noatsign", String(repeating: "a", count: 40) + "@example.com"])
    func invalidLoginNamesAreRefusedNotSanitized(_ email: String) {
        #expect(localpart(email).failureCode == .invalidLoginName, "\(email)")
    }
    @Test func kelvinSignIsNotK() {
        // U+212A KELVIN SIGN lower-cases to ASCII k in Unicode; it must not reach the account kelvin.
        #expect(localpart("\u{212A}elvin@example.com").failureCode == .invalidLoginName)
        #expect(localpart("kelvin@example.com") == .success("kelvin"))
        #expect(localpart("alice@EXAMPLE.\u{212A}OM", domains: ["example.kom"]).failureCode == .invalidLoginName)
        #expect(AccountMapping.map(identity: "\u{212A}elvin", mode: .exact, allowedDomains: [], mapFile: nil).failureCode == .invalidLoginName)
    }
    @Test func identitiesMustBePrintableASCII() {
        for bad in ["ali ce@example.com", "alice@example.com\n", "alice\u{0}@example.com", "alïce@example.com", "alice@exämple.com"] {
            #expect(localpart(bad).failureCode == .invalidLoginName, "\(bad)")
        }
        #expect(AccountMapping.map(identity: "alice\n", mode: .exact, allowedDomains: [], mapFile: nil).failureCode == .invalidLoginName)
    }
    @Test func loginNamePatternIsAnchored() {
        // An ICU `$` also matches before a final newline: "alice\n" passed the old pattern.
        #expect(!AccountMapping.isValidLoginName("alice\n"))
        #expect(!AccountMapping.isValidLoginName("\nalice"))
        #expect(!AccountMapping.isValidLoginName(""))
        #expect(AccountMapping.isValidLoginName("alice") && AccountMapping.isValidLoginName("_svc.x-1"))
        #expect(!AccountMapping.isValidLoginName(String(repeating: "a", count: 33)))
        #expect(AccountMapping.isValidLoginName(String(repeating: "a", count: 32)))
    }
    @Test func mapFileComparesBytesNotCanonicalForms() throws {
        // "é" precomposed and "e" + combining acute are canonically equal Swift Strings; neither may
        // match the other, and non-ASCII lines are refused outright.
        #expect(throws: ConfigError.self) { try AccountMapFile.parse("caf\u{E9}@example.com cafe\n", path: "/m") }
        let map = try AccountMapFile.parse("cafe@example.com cafe\n", path: "/m")
        #expect(AccountMapping.map(identity: "cafe\u{301}@example.com", mode: .file("/m"), allowedDomains: [], mapFile: map).failureCode == .invalidLoginName)
        #expect(map.user(for: "caf\u{E9}@example.com") == nil)
        #expect(map.user(for: "CAFE@example.com") == "cafe")
        #expect(map.user(for: "\u{212A}afe@example.com") == nil)
    }
    @Test func exactRequiresValidName() {
        #expect(AccountMapping.map(identity: "alice", mode: .exact, allowedDomains: [], mapFile: nil) == .success("alice"))
        #expect(AccountMapping.map(identity: "Alice", mode: .exact, allowedDomains: [], mapFile: nil).failureCode == .invalidLoginName)
    }
    @Test func mapFile() throws {
        let map = try AccountMapFile.parse("# people\nAlice@Example.com  alice\nbob@example.com\tbobby\n", path: "/m")
        #expect(AccountMapping.map(identity: "alice@example.com", mode: .file("/m"), allowedDomains: [], mapFile: map) == .success("alice"))
        #expect(AccountMapping.map(identity: "carol@example.com", mode: .file("/m"), allowedDomains: [], mapFile: map).failureCode == .notInAccountMap)
    }
    @Test func mapFileErrorsNameTheLine() {
        #expect(throws: ConfigError(file: "/m", line: 2, key: nil, message: "alice@example.com is already mapped on line 1")) {
            try AccountMapFile.parse("alice@example.com a\nALICE@example.com b\n", path: "/m")
        }
        #expect(throws: ConfigError.self) { try AccountMapFile.parse("alice@example.com Bad!Name\n", path: "/m") }
        #expect(throws: ConfigError.self) { try AccountMapFile.parse("only-one-field\n", path: "/m") }
    }
}

@Suite("Policy")
struct PolicyTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    func claims(_ groups: [String]?, authTime: Double? = nil, extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var c = extra
        if let groups { c["cognito:groups"] = .array(groups.map { .string($0) }) }
        if let authTime { c["auth_time"] = .number(authTime) }
        return c
    }
    func firstFailure(_ p: Policy, _ c: [String: JSONValue]) -> ReasonCode? {
        p.evaluate(claims: c, now: now).first { !$0.passed }?.code
    }

    @Test func anyPoolUserWhenNoAllowedGroups() { #expect(firstFailure(Policy(), claims(nil)) == nil) }
    @Test func allowedGroupsIsAnyOf() {
        let p = Policy(allowedGroups: ["linux-admins", "ops"])
        #expect(firstFailure(p, claims(["staff", "ops"])) == nil)
        #expect(firstFailure(p, claims(["staff"])) == .groupNotAllowed)
        #expect(firstFailure(p, claims([])) == .groupNotAllowed)
        #expect(firstFailure(p, claims(nil)) == .groupNotAllowed)
    }
    @Test func groupNamesAreCaseSensitive() {
        #expect(firstFailure(Policy(allowedGroups: ["linux-admins"]), claims(["Linux-Admins"])) == .groupNotAllowed)
    }
    @Test func deniedGroupsWinOverAllowed() {
        #expect(firstFailure(Policy(allowedGroups: ["linux-admins"], deniedGroups: ["suspended"]), claims(["linux-admins", "suspended"])) == .groupDenied)
    }
    @Test func maxAuthAge() {
        let p = Policy(maxAuthAge: 300)
        #expect(firstFailure(p, claims(nil, authTime: now.timeIntervalSince1970 - 299)) == nil)
        #expect(firstFailure(p, claims(nil, authTime: now.timeIntervalSince1970 - 301)) == .authTooOld)
        #expect(firstFailure(p, claims(nil)) == .authTooOld, "missing auth_time")
    }
    @Test func requireClaims() {
        let p = Policy(requireClaims: [.init(claim: "custom:team", value: "infra")])
        #expect(firstFailure(p, claims(nil, extra: ["custom:team": .string("infra")])) == nil)
        #expect(firstFailure(p, claims(nil, extra: ["custom:team": .array([.string("x"), .string("infra")])])) == nil)
        #expect(firstFailure(p, claims(nil, extra: ["custom:team": .string("sales")])) == .claimMismatch)
        #expect(firstFailure(p, claims(nil)) == .claimMismatch)
    }
}

extension Result where Failure == Refusal {
    var failureCode: ReasonCode? { if case .failure(let r) = self { return r.code } else { return nil } }
}
