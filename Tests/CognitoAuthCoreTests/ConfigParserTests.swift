import CognitoAuthCore
import Testing

@Suite("Config parser")
struct ConfigParserTests {
    /// The three keys without a default.
    static let required = """
        region = eu-west-1
        user_pool_id = eu-west-1_AbC123
        client_id = 1example23456789
        """
    /// The smallest config that loads: the safe defaults need a domain list and a group list.
    static let minimal = required + """

        allowed_domains = example.com
        allowed_groups = linux-users
        """
    /// The line number of a line appended to `minimal`.
    static let next = 6

    func parse(_ text: String) throws(ConfigError) -> Config { try ConfigParser.parse(text, path: "/etc/cognito-auth/cognito-auth.conf") }

    func error(_ text: String) -> ConfigError? {
        do { _ = try parse(text); return nil } catch { return error }
    }

    @Test func defaultsMatchDesign() throws {
        let c = try parse(Self.minimal)
        #expect(c.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123")
        #expect(c.discoveryURL == c.issuer + "/.well-known/openid-configuration")
        #expect(c.redirectURIs.map(\.string) == ["http://localhost:8400/callback"])
        #expect(c.scopes == ["openid", "email"])
        #expect(c.loginTimeout == 110)
        #expect(c.httpTimeout == 10)
        #expect(c.usernameClaim == "email")
        #expect(c.accountMap == .localpart)
        #expect(c.allowedDomains == ["example.com"])
        #expect(c.requireEmailVerified)
        #expect(c.defaultPolicy == Policy(allowedGroups: ["linux-users"]))
        #expect(c.minUID == 1000)
        #expect(!c.allowRoot)
        #expect(c.clockSkew == 60)
        #expect(c.cacheDir == "/var/cache/cognito-auth")
        #expect(c.auditFormat == .kv)
        #expect(c.isPublicClient)
    }

    @Test func everyKeyParses() throws {
        let c = try parse(Self.required + """

            client_secret_file = /etc/cognito-auth/client-secret
            issuer = http://127.0.0.1:9000/eu-west-1_AbC123/
            discovery_url = http://127.0.0.1:9000/eu-west-1_AbC123/.well-known/openid-configuration
            ca_file = /etc/ssl/extra.pem
            redirect_uris = http://localhost:8400/callback, http://127.0.0.1:8401/cb
            scopes = openid email profile
            login_timeout = 90
            http_timeout = 5
            username_claim = custom:linux_user
            account_map = file:/etc/cognito-auth/accounts
            allowed_domains = Example.COM, corp.example.com
            require_email_verified = false
            allowed_groups = linux-admins, ops
            denied_groups = suspended
            max_auth_age = 600
            require_claims = custom:team=infra
            clock_skew = 30
            cache_dir = /var/tmp/ca
            audit_format = json
            min_uid = 2000
            allow_root = yes
            state_dir = /var/lib/x
            # a comment
            [service sudo]
            allowed_groups = linux-admins
            max_auth_age = 300
            """)
        #expect(c.issuer == "http://127.0.0.1:9000/eu-west-1_AbC123")
        #expect(c.redirectURIs.map(\.port) == [8400, 8401])
        #expect(c.redirectURIs[1].path == "/cb")
        #expect(c.scopes == ["openid", "email", "profile"])
        #expect(c.accountMap == .file("/etc/cognito-auth/accounts"))
        #expect(c.allowedDomains == ["example.com", "corp.example.com"])
        #expect(!c.requireEmailVerified)
        #expect(c.defaultPolicy.allowedGroups == ["linux-admins", "ops"])
        #expect(c.defaultPolicy.requireClaims == [Policy.ClaimRule(claim: "custom:team", value: "infra")])
        let sudo = c.policy(forService: "sudo")
        #expect(sudo.allowedGroups == ["linux-admins"])
        #expect(sudo.maxAuthAge == 300)
        #expect(sudo.deniedGroups == ["suspended"], "a service section inherits what it does not override")
        #expect(c.policy(forService: "sshd").maxAuthAge == 600)
        #expect(c.auditFormat == .json)
        #expect(c.minUID == 2000)
        #expect(c.allowRoot)
        #expect(c.stateDir == "/var/lib/x")
        #expect(!c.isPublicClient)
    }

    @Test func unknownKeyNamesFileLineAndKey() {
        let e = error(Self.minimal + "\nallowed_group = admins")
        #expect(e?.line == Self.next)
        #expect(e?.key == "allowed_group")
        #expect(e?.description == "/etc/cognito-auth/cognito-auth.conf:6: allowed_group: unknown key")
    }

    @Test(arguments: ["region", "user_pool_id", "client_id"])
    func missingRequiredKey(_ key: String) {
        let text = Self.minimal.split(separator: "\n").filter { !$0.hasPrefix(key + " ") }.joined(separator: "\n")
        let e = error(text)
        #expect(e?.key == key)
        #expect(e?.message.contains("required") == true)
    }

    @Test(arguments: [
        ("login_timeout = soon", "login_timeout"),
        ("login_timeout = 5", "login_timeout"),
        ("http_timeout = -1", "http_timeout"),
        ("require_email_verified = maybe", "require_email_verified"),
        ("account_map = ldap", "account_map"),
        ("account_map = file:relative", "account_map"),
        ("audit_format = xml", "audit_format"),
        ("redirect_uris = https://example.com/cb", "redirect_uris"),
        ("redirect_uris = http://localhost/cb", "redirect_uris"),
        ("issuer = http://idp.example.com/pool", "issuer"),
        ("discovery_url = ftp://127.0.0.1/x", "discovery_url"),
        ("scopes = email profile", "scopes"),
        ("allowed_groups = ,", "allowed_groups"),
        ("require_claims = team", "require_claims"),
        ("client_secret_file = secret.txt", "client_secret_file"),
        ("allowed_domains = not a domain", "allowed_domains"),
        ("clock_skew = 100000", "clock_skew"),
        ("min_uid = -1", "min_uid"),
        ("min_uid = 1000x", "min_uid"),
        ("allow_root = sometimes", "allow_root"),
        ("allowed_groups = *, linux-admins", "allowed_groups"),
    ])
    func badValueNamesLineAndKey(_ line: String, _ key: String) {
        // The bad line comes right after the required keys (line 4); the safe-default keys it does
        // not itself set follow it.
        var text = Self.required + "\n" + line
        if key != "allowed_domains" { text += "\nallowed_domains = example.com" }
        if key != "allowed_groups" { text += "\nallowed_groups = *" }
        let e = error(text)
        #expect(e?.key == key, "\(line)")
        #expect(e?.line == 4, "\(line)")
    }

    @Test func localpartWithoutAllowedDomainsIsAnError() {
        let e = error(Self.required + "\nallowed_groups = linux-users")
        #expect(e?.key == "allowed_domains")
        #expect(e?.message.contains("allowed_domains = ") == true, "the message names the fix")
        let explicit = error(Self.required + "\naccount_map = localpart\nallowed_groups = linux-users")
        #expect(explicit?.key == "account_map" && explicit?.line == 4)
        // The other mappings do not use a domain.
        #expect(error(Self.required + "\naccount_map = exact\nallowed_groups = linux-users") == nil)
        #expect(error(Self.required + "\naccount_map = file:/etc/cognito-auth/accounts\nallowed_groups = linux-users") == nil)
    }

    @Test func noAllowedGroupsIsAnError() {
        let e = error(Self.required + "\nallowed_domains = example.com")
        #expect(e?.key == "allowed_groups")
        #expect(e?.message.contains("allowed_groups = *") == true, "the message names both ways out")
        // A service section's list does not stand in for the host-wide one.
        #expect(error(Self.required + "\nallowed_domains = example.com\n[service sudo]\nallowed_groups = a")?.key == "allowed_groups")
    }

    @Test func allowedGroupsStarAdmitsEveryPoolUser() throws {
        let c = try parse(Self.required + "\nallowed_domains = example.com\nallowed_groups = *\n[service sudo]\nallowed_groups = admins")
        #expect(c.defaultPolicy.allowedGroups == nil)
        #expect(c.policy(forService: "sudo").allowedGroups == ["admins"])
        let open = SafeDefaults.findings(c).first { $0.check == "allowed_groups" }
        #expect(open?.status == .warn)
        #expect(SafeDefaults.findings(try parse(Self.minimal)).allSatisfy { $0.status == .pass })
    }

    @Test func allowRootIsAWarningInDoctor() throws {
        let c = try parse(Self.minimal + "\nallow_root = yes")
        #expect(SafeDefaults.findings(c).first { $0.check == "allow_root" }?.status == .warn)
    }

    @Test func namesAreCheckedWholeAndInASCII() {
        #expect(error(Self.minimal + "\nallowed_domains2 = x")?.key == "allowed_domains2")
        #expect(!Syntax.isRegion("eu-west-1 "))
        #expect(!Syntax.isRegion("eu-west-"))
        #expect(Syntax.isRegion("us-gov-west-1"))
        #expect(Syntax.isUserPoolId("eu-west-1_AbC123") && !Syntax.isUserPoolId("eu-west-1_") && !Syntax.isUserPoolId("eu-west-1_a-b"))
        #expect(!Syntax.isDomainName("\u{212A}.example.com") && !Syntax.isDomainName("example") && !Syntax.isDomainName("-a.example.com"))
        #expect(Syntax.isDomainName("corp.example.com"))
        #expect(!Syntax.isClientId("abc\n") && !Syntax.isClientId(String(repeating: "a", count: 129)))
        #expect(!Syntax.isScopeToken("a\"b") && Syntax.isScopeToken("aws.cognito.signin.user.admin"))
    }

    @Test func duplicateKeyIsAnError() {
        let e = error(Self.minimal + "\nclient_id = other")
        #expect(e?.key == "client_id")
        #expect(e?.line == Self.next)
    }

    @Test func secretInTwoPlacesIsAnError() {
        #expect(error(Self.minimal + "\nclient_secret = a\nclient_secret_file = /x")?.key == "client_secret")
    }

    @Test func serviceSectionAcceptsOnlyPolicyKeys() {
        let e = error(Self.minimal + "\n[service sudo]\nclient_id = x")
        #expect(e?.line == Self.next + 1)
        #expect(e?.message.contains("cannot be set inside [service sudo]") == true)
        #expect(error(Self.minimal + "\n[service]\n")?.line == Self.next)
        #expect(error(Self.minimal + "\n[service a]\n[service a]\n")?.line == Self.next + 1)
    }

    @Test func badPoolIdAndRegion() {
        #expect(error("region = europe\nuser_pool_id = eu-west-1_X\nclient_id = a")?.key == "region")
        #expect(error("region = eu-west-1\nuser_pool_id = pool\nclient_id = a")?.key == "user_pool_id")
    }

    @Test func endpointRuleAllowsHttpOnlyToLoopback() {
        #expect(EndpointRule.isAcceptable("https://cognito-idp.us-east-1.amazonaws.com/x"))
        #expect(EndpointRule.isAcceptable("http://127.0.0.1:9/x"))
        #expect(EndpointRule.isAcceptable("http://localhost:9/x"))
        #expect(EndpointRule.isAcceptable("http://[::1]:9/x"))
        #expect(!EndpointRule.isAcceptable("http://example.com/x"))
        #expect(!EndpointRule.isAcceptable("http://127.0.0.1.example.com/x"))
        #expect(!EndpointRule.isAcceptable("https://user:pw@example.com/x"))
        #expect(!EndpointRule.isAcceptable("file:///etc/passwd"))
    }
}
