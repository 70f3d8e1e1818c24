@testable import CognitoAuthCore
import Foundation
import Testing

@Suite("Sticky identity")
struct IdentityPinTests {
    let pin = IdentityPin(issuer: "https://i", sub: "sub-1", email: "alice@example.com", pinnedAt: 1_800_000_000)

    @Test func firstSignInPasses() {
        #expect(IdentityPin.check(.none, account: "alice", issuer: "https://i", sub: "sub-1").passed)
    }
    @Test func samePersonPasses() {
        #expect(IdentityPin.check(.pinned(pin), account: "alice", issuer: "https://i", sub: "sub-1").passed)
    }
    @Test func anotherSubIsRefusedWithTheUnpinCommand() {
        let r = IdentityPin.check(.pinned(pin), account: "alice", issuer: "https://i", sub: "sub-2")
        #expect(r.code == .identityChanged)
        #expect(r.detail.contains("cognito-auth unpin alice"))
        #expect(r.detail.contains("sub-1") && r.detail.contains("sub-2"))
    }
    @Test func anotherIssuerIsRefused() {
        #expect(IdentityPin.check(.pinned(pin), account: "alice", issuer: "https://other", sub: "sub-1").code == .identityChanged)
    }
    @Test func missingSubOrUnreadablePinFailsClosed() {
        #expect(IdentityPin.check(.pinned(pin), account: "alice", issuer: "https://i", sub: nil).code == .identityChanged)
        #expect(IdentityPin.check(.unreadable("mode 0666"), account: "alice", issuer: "https://i", sub: "sub-1").code == .pinUnreadable)
    }
    @Test func encodingRoundTrips() throws {
        #expect(IdentityPin.decode(Data(pin.encoded.utf8)) == pin)
        #expect(IdentityPin.decode(Data("{}".utf8)) == nil)
        #expect(IdentityPin.decode(Data(#"{"issuer":"i","sub":"","email":"e","pinned_at":1}"#.utf8)) == nil)
    }
}

@Suite("Login decision")
struct LoginDeciderTests {
    let config = try! ConfigParser.parse("""
        region = us-east-1
        user_pool_id = us-east-1_X
        client_id = c
        issuer = http://127.0.0.1:1/us-east-1_X
        allowed_domains = example.com
        allowed_groups = linux-admins
        [service sudo]
        max_auth_age = 300
        """, path: "/c")

    func verdict(_ claims: [String: JSONValue]) -> TokenVerdict {
        TokenVerdict(checks: [.pass("all", "")], token: VerifiedIDToken(header: [:], claims: claims), unverifiedClaims: claims)
    }
    func decide(_ claims: [String: JSONValue], user: String? = "alice", service: String = "sshd",
                exists: Bool = true, uid: UInt32 = 1001, config: Config? = nil, pin: IdentityPin.Lookup = .none) -> Decision {
        LoginDecider.decide(.init(verdict: verdict(claims), config: config ?? self.config, service: service, requestedUser: user,
                                  mapFile: nil, account: { _ in exists ? LocalAccountInfo(uid: uid) : nil }, pin: { _ in pin },
                                  now: Date(timeIntervalSince1970: 1_800_000_000))).0
    }
    func config(_ extra: String) throws -> Config {
        try ConfigParser.parse("""
            region = us-east-1
            user_pool_id = us-east-1_X
            client_id = c
            issuer = http://127.0.0.1:1/us-east-1_X
            allowed_domains = example.com
            allowed_groups = linux-admins
            \(extra)
            """, path: "/c")
    }
    let alice: [String: JSONValue] = ["email": .string("alice@example.com"), "sub": .string("s1"),
                                      "cognito:groups": .array([.string("linux-admins")]), "auth_time": .number(1_799_999_000)]

    @Test func allowed() { #expect(decide(alice).outcome == .allowed) }
    @Test func mappedToAnotherAccount() { #expect(decide(alice, user: "bob").reason == .accountMismatch) }
    @Test func noLocalAccountIsUnknownUser() { #expect(decide(alice, exists: false).outcome == .unknownUser) }
    @Test func rootIsRefusedWithoutAllowRoot() throws {
        let d = decide(alice, uid: 0)
        #expect(d.outcome == .policyDenied && d.reason == .systemAccount)
        #expect(d.detail.contains("allow_root"))
        // allow_root admits uid 0 even though min_uid is higher, and nothing else below min_uid.
        let withRoot = try config("allow_root = yes")
        #expect(decide(alice, uid: 0, config: withRoot).outcome == .allowed)
        #expect(decide(alice, uid: 999, config: withRoot).reason == .systemAccount)
    }
    @Test func systemAccountsBelowMinUIDAreRefused() throws {
        #expect(decide(alice, uid: 999).reason == .systemAccount)
        #expect(decide(alice, uid: 1).reason == .systemAccount)
        #expect(decide(alice, uid: 1000).outcome == .allowed)
        #expect(decide(alice, uid: 499, config: try config("min_uid = 500")).reason == .systemAccount)
        #expect(decide(alice, uid: 500, config: try config("min_uid = 500")).outcome == .allowed)
    }
    @Test func refusalsDoNotTellWhichAccountsExist() {
        // An account that does not exist, a system account and someone else's account: the person
        // reads the same words for each.
        let unknown = decide(alice, exists: false), system = decide(alice, uid: 2), other = decide(alice, user: "bob")
        #expect(unknown.userMessage == other.userMessage)
        #expect(system.userMessage == other.userMessage)
    }
    @Test func servicePolicyApplies() {
        let d = decide(alice, service: "sudo")
        #expect(d.outcome == .policyDenied && d.reason == .authTooOld)
        #expect(d.detail.hasPrefix("max_auth_age (service sudo)"))
    }
    @Test func pinMismatchBeforePolicy() {
        let d = decide(alice, pin: .pinned(IdentityPin(issuer: config.issuer, sub: "other", email: "x", pinnedAt: 0)))
        #expect(d.outcome == .denied && d.reason == .identityChanged)
    }
    @Test func missingIdentityClaim() {
        var c = alice; c["email"] = nil
        #expect(decide(c).reason == .missingClaim)
    }
    @Test func failedTokenCheckIsDeniedWithItsReason() {
        let v = TokenVerdict(checks: [.fail("signature", Refusal(.badSignature, "x"))], token: nil, unverifiedClaims: alice)
        let d = LoginDecider.decide(.init(verdict: v, config: config, service: "sshd", requestedUser: "alice", mapFile: nil,
                                          account: { _ in LocalAccountInfo(uid: 1001) }, now: Date())).0
        #expect(d.outcome == .denied && d.reason == .badSignature && d.email == "alice@example.com")
    }
}
