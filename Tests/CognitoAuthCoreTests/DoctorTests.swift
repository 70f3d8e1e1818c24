import CognitoAuthCore
import Foundation
import Testing

/// A good `sshd -T` excerpt (OpenSSH 9.2 prints lower-case keywords, one per line).
private let goodSshd = """
port 22
usepam yes
logingracetime 120
kbdinteractiveauthentication yes
passwordauthentication no
pubkeyauthentication yes
authenticationmethods keyboard-interactive
hostkey /etc/ssh/ssh_host_rsa_key
hostkey /etc/ssh/ssh_host_ed25519_key
"""

private func sshd(_ replacing: [String: String]) -> SshdSettings {
    var lines = goodSshd.split(separator: "\n").map(String.init)
    for (k, v) in replacing {
        lines.removeAll { $0.hasPrefix(k + " ") }
        lines.append("\(k) \(v)")
    }
    return SshdSettings.parse(lines.joined(separator: "\n"))
}

private func finding(_ fs: [DoctorFinding], _ check: String) -> DoctorFinding? { fs.first { $0.check == check } }

@Suite("doctor: sshd -T")
struct SshdCheckTests {
    @Test func parsesKeywordsAndRepeats() {
        let s = SshdSettings.parse("UsePAM yes\nhostkey /a\nhostkey /b\n\nsubsystem sftp /usr/lib/openssh/sftp-server\n")
        #expect(s.first("usepam") == "yes")
        #expect(s.values["hostkey"] == ["/a", "/b"])
        #expect(s.first("subsystem") == "sftp /usr/lib/openssh/sftp-server")
    }

    @Test func goodSettingsPass() {
        let fs = SshdCheck.judge(SshdSettings.parse(goodSshd), loginTimeout: 110, where: "/etc/ssh/sshd_config")
        #expect(fs.count == 4)
        #expect(fs.allSatisfy { $0.status == .pass }, "\(fs)")
        #expect(DoctorVerdict.exitCode(fs) == 0)
    }

    @Test func kbdInteractiveOffFailsWithTheLineToSet() throws {
        let fs = SshdCheck.judge(sshd(["kbdinteractiveauthentication": "no"]), loginTimeout: 110, where: "/etc/ssh/sshd_config")
        let f = try #require(finding(fs, "sshd KbdInteractiveAuthentication"))
        #expect(f.status == .fail)
        #expect(f.fix?.hasPrefix("KbdInteractiveAuthentication yes") == true)
        #expect(DoctorVerdict.exitCode(fs) == 1)
    }

    @Test func olderChallengeResponseKeywordCounts() {
        let s = SshdSettings.parse("usepam yes\nchallengeresponseauthentication yes\nlogingracetime 120\nauthenticationmethods any\n")
        #expect(finding(SshdCheck.judge(s, loginTimeout: 110, where: "x"), "sshd KbdInteractiveAuthentication")?.status == .pass)
    }

    @Test func usePamOffFails() {
        let f = finding(SshdCheck.judge(sshd(["usepam": "no"]), loginTimeout: 110, where: "x"), "sshd UsePAM")
        #expect(f?.status == .fail)
        #expect(f?.fix?.hasPrefix("UsePAM yes") == true)
    }

    @Test(arguments: [(0, 110, DoctorFinding.Status.fail), (171, 110, .fail), (3600, 3000, .fail), (170, 110, .pass),
                      (120, 110, .pass), (3010, 3000, .pass)])
    func provisioningNeedsABoundedLoginGraceTime(grace: Int, timeout: Int, expected: DoctorFinding.Status) {
        let f = finding(SshdCheck.judge(sshd(["logingracetime": String(grace)]), loginTimeout: timeout, where: "x", provisioning: true),
                        "sshd LoginGraceTime")
        #expect(f?.status == expected)
        if expected == .fail { #expect(f?.message.contains("provision = on_first_login") == true) }
    }

    @Test(arguments: [(30, 110, DoctorFinding.Status.fail), (110, 110, .fail), (111, 110, .pass), (170, 110, .pass),
                      (171, 110, .warn), (0, 110, .warn), (120, 600, .fail)])
    func loginGraceTimeMustExceedLoginTimeout(grace: Int, timeout: Int, expected: DoctorFinding.Status) {
        let f = finding(SshdCheck.judge(sshd(["logingracetime": String(grace)]), loginTimeout: timeout, where: "x"), "sshd LoginGraceTime")
        #expect(f?.status == expected)
        if expected != .pass {
            #expect(f?.fix?.hasPrefix("LoginGraceTime \(timeout + 10)") == true)
        }
        if expected == .fail {
            #expect(f?.message.contains("login_timeout (\(timeout) s)") == true)
        }
    }

    @Test func bothFindingsOfTheIssueAreReported() {
        let fs = SshdCheck.judge(sshd(["kbdinteractiveauthentication": "no", "logingracetime": "30"]), loginTimeout: 110, where: "x")
        #expect(fs.filter { $0.status == .fail }.map(\.check).sorted() == ["sshd KbdInteractiveAuthentication", "sshd LoginGraceTime"])
    }

    @Test(arguments: [
        ("keyboard-interactive", DoctorFinding.Status.pass),
        ("keyboard-interactive:pam", .pass),
        ("publickey,keyboard-interactive", .pass),
        ("publickey", .fail),
        ("publickey password", .fail),
        ("publickey keyboard-interactive", .warn),
    ])
    func authenticationMethods(_ value: String, _ expected: DoctorFinding.Status) {
        let f = finding(SshdCheck.judge(sshd(["authenticationmethods": value]), loginTimeout: 110, where: "x"), "sshd AuthenticationMethods")
        #expect(f?.status == expected, "\(value): \(String(describing: f))")
    }

    @Test func sshdRefusingTheMethodsIsAFailure() {
        let fs = SshdCheck.judge(sshd(["authenticationmethods": "any"]), loginTimeout: 110, where: "x",
                                 authMethodsRefusal: "Disabled method \"keyboard-interactive\"")
        let f = finding(fs, "sshd AuthenticationMethods")
        #expect(f?.status == .fail && f?.message.contains("would not start") == true)
    }

    @Test func anyWarnsOnlyWhenKeysOrPasswordsAlsoAdmit() {
        let open = SshdCheck.judge(sshd(["authenticationmethods": "any"]), loginTimeout: 110, where: "x")
        #expect(finding(open, "sshd AuthenticationMethods")?.status == .warn)
        let closed = SshdCheck.judge(sshd(["authenticationmethods": "any", "pubkeyauthentication": "no"]), loginTimeout: 110, where: "x")
        #expect(finding(closed, "sshd AuthenticationMethods")?.status == .pass)
    }
}

// MARK: - PAM

/// Debian bookworm's /etc/pam.d/common-auth (comments trimmed).
private let commonAuth = """
auth\t[success=1 default=ignore]\tpam_unix.so nullok
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
auth\toptional\t\t\tpam_cap.so
"""

private let files = ["common-auth": commonAuth, "common-account": "account required pam_unix.so\n"]

private func resolve(_ name: String) -> (path: String, text: String)? {
    files[name].map { ("/etc/pam.d/\(name)", $0) }
}

private func judge(_ text: String?, service: String = "sshd", required: Bool = true,
                   config: String? = "/etc/cognito-auth/cognito-auth.conf") -> [DoctorFinding] {
    PamStackCheck.judge(.init(service: service, path: "/etc/pam.d/\(service)", required: required, expectedConfig: config),
                        text: text, readError: text == nil ? "No such file or directory" : nil, resolve: resolve)
}

private func stack(_ text: String) -> PamStack {
    PamStack.build(type: "auth", file: PamFile.parse(text, file: "/etc/pam.d/test"), resolve: resolve)
}

@Suite("doctor: pam.d parsing and libpam's decision rules")
struct PamStackTests {
    @Test func parsesCommentsContinuationsBracketsIncludesAndDashes() throws {
        let f = PamFile.parse("""
        # comment
        auth [success=2 default=ignore\tnew_authtok_reqd=done] pam_unix.so nullok # trailing
        -auth optional pam_gnome_keyring.so
        auth required \\
             pam_cognito.so config=/etc/x.conf debug
        @include common-auth
        account required pam_nologin.so [arg with spaces]
        bogus required pam_x.so
        """, file: "/p")
        #expect(f.entries.count == 5)
        #expect(f.problems.count == 1 && f.problems[0].contains("unknown type 'bogus'"))
        guard case .module(let unix) = f.entries[0], case .module(let gk) = f.entries[1],
              case .module(let cog) = f.entries[2], case .includeAll(let inc, _, let incLine, _) = f.entries[3],
              case .module(let acct) = f.entries[4] else {
            Issue.record("unexpected entries \(f.entries)")
            return
        }
        #expect(unix.control == .actions(["success": .jump(2), "default": .ignore, "new_authtok_reqd": .done]))
        #expect(unix.arguments == ["nullok"] && unix.line == 2)
        #expect(gk.dashed && gk.type == "auth" && gk.control == .optional)
        #expect(cog.line == 4 && cog.moduleName == "pam_cognito.so" && cog.arguments == ["config=/etc/x.conf", "debug"])
        #expect(inc == "common-auth" && incLine == 6)
        #expect(acct.arguments == ["[arg with spaces]"])
    }

    @Test func keywordsExpandLikeLinuxPam() {
        #expect(PamControl.required.action(for: "auth_err") == .bad)
        #expect(PamControl.required.action(for: "ignore") == .ignore)
        #expect(PamControl.requisite.action(for: "auth_err") == .die)
        #expect(PamControl.sufficient.action(for: "success") == .done)
        #expect(PamControl.sufficient.action(for: "auth_err") == .ignore)
        #expect(PamControl.optional.action(for: "auth_err") == .ignore)
        #expect(PamControl.actions(["success": .ok]).action(for: "auth_err") == .bad, "no default in brackets means bad")
    }

    @Test func commonAuthAdmitsExactlyWithThePassword() {
        let s = stack("@include common-auth\n")
        #expect(s.entries.count == 4)
        #expect(s.entries[0].via == ["/etc/pam.d/test:1"])
        let unix = { (ok: Bool) in s.admits { e in
            switch e.line.moduleName {
            case "pam_unix.so": return ok ? .success : .failure
            case "pam_deny.so": return .failure
            case "pam_permit.so": return .success
            default: return .ignore
            }
        } }
        #expect(unix(true))
        #expect(!unix(false))
    }

    @Test func anEmptyOrAllIgnoringStackFails() {
        #expect(!stack("").admits { _ in .success })
        #expect(!stack("auth optional pam_env.so\n").admits { _ in .ignore })
    }

    @Test func substackConfinesDone() {
        // `done` inside the substack ends only the substack; the later required pam_deny still runs.
        let s = PamStack.build(type: "auth", file: PamFile.parse("auth substack inner\nauth required pam_deny.so\n", file: "/p")) { name in
            name == "inner" ? ("/inner", "auth sufficient pam_permit.so\n") : nil
        }
        #expect(s.entries.count == 2 && s.entries[0].substack?.count == 1)
        #expect(!s.admits { e in e.line.moduleName == "pam_deny.so" ? .failure : .success })
    }
}

@Suite("doctor: the pam_cognito.so line and its place in the stack")
struct PamStackCheckTests {
    @Test func cognitoInsteadOfCommonAuthPasses() {
        let fs = judge("auth required pam_cognito.so\n# @include common-auth\n@include common-account\n")
        #expect(fs.allSatisfy { $0.status == .pass }, "\(fs)")
        #expect(fs.contains { $0.message.contains("/etc/pam.d/sshd:1: `auth required pam_cognito.so` — required") })
        #expect(fs.contains { $0.message.hasPrefix("stack order") })
    }

    @Test func requisiteAndBracketsThatFailClosedPass() {
        #expect(judge("auth requisite pam_cognito.so\n").allSatisfy { $0.status == .pass })
        #expect(judge("auth [success=done default=die] pam_cognito.so\n").allSatisfy { $0.status == .pass })
    }

    @Test func missingLineFailsForSshdWithTheLineAndWhereToPutIt() throws {
        let fs = judge("# PAM for sshd\n@include common-auth\naccount required pam_nologin.so\n")
        let f = try #require(fs.first { $0.status == .fail })
        #expect(f.message.contains("no pam_cognito.so line"))
        #expect(f.fix?.contains("add before line 2 (`@include common-auth`):\nauth required pam_cognito.so") == true)
        #expect(DoctorVerdict.exitCode(fs) == 1)
    }

    @Test func missingLineOnlyWarnsForSudo() {
        let fs = judge("@include common-auth\n", service: "sudo", required: false)
        #expect(fs.count == 1 && fs[0].status == .warn)
        let absent = judge(nil, service: "sudo", required: false)
        #expect(absent.count == 1 && absent[0].status == .warn)
        #expect(judge(nil)[0].status == .fail)
    }

    @Test func beforeCommonAuthWarnsThatThePasswordIsAlsoNeeded() throws {
        let fs = judge("auth required pam_cognito.so\n@include common-auth\n")
        #expect(!fs.contains { $0.status == .fail })
        let w = try #require(fs.first { $0.status == .warn })
        #expect(w.message.contains("a Cognito sign-in alone does not admit"))
        #expect(w.message.contains("pam_unix.so"))
        #expect(w.fix == "to admit with Cognito alone, comment out or remove:\nline 2: @include common-auth")
    }

    @Test func sufficientPamUnixBeforeItIsABypass() throws {
        let fs = judge("auth sufficient pam_unix.so\nauth required pam_cognito.so\n")
        let w = try #require(fs.first { $0.message.contains("bypasses") })
        #expect(w.status == .warn)
        #expect(w.message.contains("`auth sufficient pam_unix.so` (/etc/pam.d/sshd:1)"))
        #expect(w.fix == "remove it, or move it after pam_cognito.so:\nline 1: auth sufficient pam_unix.so")
    }

    @Test func sufficientCognitoBeforeCommonAuthFallsThroughToThePassword() throws {
        let fs = judge("auth sufficient pam_cognito.so\n@include common-auth\n")
        let w = try #require(fs.first { $0.message.contains("bypasses") })
        #expect(w.fix?.contains("auth required pam_cognito.so") == true)
    }

    @Test func permitBeforeItAdmitsAnyone() throws {
        let fs = judge("auth sufficient pam_permit.so\nauth required pam_cognito.so\n")
        let f = try #require(fs.first { $0.status == .fail })
        #expect(f.message.contains("admits anyone"))
        #expect(f.fix?.contains("line 1: auth sufficient pam_permit.so") == true)
    }

    @Test func denyBeforeItRefusesEveryone() throws {
        let fs = judge("auth requisite pam_deny.so\nauth required pam_cognito.so\n")
        #expect(try #require(fs.first { $0.status == .fail }).message.contains("refuses every login"))
    }

    @Test func pamAuthUpdatesJumpOnSuccessCounts() {
        // What `pam-auth-update --enable cognito-auth` writes for the profile's [success=end default=die].
        let stack = "auth [success=2 default=die] pam_cognito.so\nauth [success=1 default=ignore] pam_unix.so nullok\n"
            + "auth requisite pam_deny.so\nauth required pam_permit.so\n"
        let fs = judge(stack)
        #expect(!fs.contains { $0.status == .fail }, "\(fs)")
        #expect(fs.contains { $0.message.contains("a sign-in counts (success=") })
        // A jump that lands on pam_deny is still caught, by the simulation.
        #expect(judge("auth [success=1 default=die] pam_cognito.so\nauth required pam_permit.so\nauth requisite pam_deny.so\n")
            .contains { $0.status == .fail })
    }

    @Test func optionalAndIgnoredFailuresAreFlagged() {
        #expect(judge("auth optional pam_cognito.so\n").contains { $0.status == .warn && $0.message.contains("optional") })
        #expect(judge("auth [success=ok default=ignore] pam_cognito.so\nauth required pam_permit.so\n").contains { $0.status == .fail })
        #expect(judge("auth [success=ignore default=bad] pam_cognito.so\n").contains { $0.status == .fail && $0.message.contains("does not count") })
    }

    @Test func unknownModuleArgumentFails() throws {
        let fs = judge("auth required pam_cognito.so confg=/etc/x.conf debug\n")
        let f = try #require(fs.first { $0.status == .fail })
        #expect(f.message.contains("'confg=/etc/x.conf'"))
        #expect(f.fix == "change line 1 to:\nauth required pam_cognito.so debug")
    }

    @Test func configArgumentMustNameTheCheckedConfig() throws {
        let fs = judge("auth required /lib/security/pam_cognito.so config=/etc/other.conf\n", config: "/etc/cognito-auth/test.conf")
        let w = try #require(fs.first { $0.status == .warn })
        #expect(w.message.contains("reads /etc/other.conf, but doctor checked /etc/cognito-auth/test.conf"))
        #expect(w.fix == "change line 1 to:\nauth required /lib/security/pam_cognito.so config=/etc/cognito-auth/test.conf")
        // No config= means the default path.
        #expect(judge("auth required pam_cognito.so\n", config: "/etc/x.conf").contains { $0.status == .warn })
        #expect(judge("auth required pam_cognito.so config=relative.conf\n").contains { $0.status == .fail })
    }

    @Test func foundThroughAnIncludeAndTwiceIsNoticed() {
        let fs = PamStackCheck.judge(.init(service: "sshd", path: "/etc/pam.d/sshd", required: true, expectedConfig: nil),
                                     text: "auth include cognito\nauth required pam_cognito.so\n") { name in
            name == "cognito" ? ("/etc/pam.d/cognito", "auth required pam_cognito.so\n") : nil
        }
        #expect(fs.first?.message.contains("/etc/pam.d/cognito:1, included from /etc/pam.d/sshd:1") == true)
        #expect(fs.contains { $0.status == .warn && $0.message.contains("appears 2 times") })
    }

    @Test func unreadableIncludeIsReported() {
        let fs = judge("auth required pam_cognito.so\n@include no-such-file\n")
        #expect(fs.contains { $0.status == .warn && $0.message.contains("cannot read the included file no-such-file") })
    }
}

// MARK: - files, clock, ports, exit codes

@Suite("doctor: file modes, clock, ports, verdict")
struct DoctorHostTests {
    func file(_ mode: UInt32, uid: UInt32 = 0, kind: FileFacts.Kind = .regular) -> FileFacts { FileFacts(kind: kind, uid: uid, mode: mode) }

    @Test func configRules() {
        #expect(FileCheck.judge("/c", role: .config(inlineSecret: false), facts: file(0o644)).status == .pass)
        let writable = FileCheck.judge("/c", role: .config(inlineSecret: false), facts: file(0o664))
        #expect(writable.status == .fail && writable.fix == "chmod go-w /c")
        let owned = FileCheck.judge("/c", role: .config(inlineSecret: false), facts: file(0o600, uid: 1000))
        #expect(owned.status == .fail && owned.fix == "chown root:root /c && chmod go-w /c")
        #expect(FileCheck.judge("/c", role: .config(inlineSecret: true), facts: file(0o644)).status == .warn)
        #expect(FileCheck.judge("/c", role: .config(inlineSecret: false), facts: file(0o777, kind: .symlink)).status == .fail)
        #expect(FileCheck.judge("/c", role: .config(inlineSecret: false), facts: nil).status == .fail)
    }

    @Test func secretRules() {
        #expect(FileCheck.judge("/s", role: .clientSecret, facts: file(0o600)).status == .pass)
        let f = FileCheck.judge("/s", role: .clientSecret, facts: file(0o640))
        #expect(f.status == .fail && f.fix == "chmod 600 /s" && f.area == .config)
    }

    @Test func directoryRules() {
        #expect(FileCheck.judge("/d", role: .cacheDir, facts: file(0o700, kind: .directory)).status == .pass)
        #expect(FileCheck.judge("/d", role: .cacheDir, facts: file(0o755, kind: .directory)).status == .warn)
        #expect(FileCheck.judge("/d", role: .cacheDir, facts: nil, parentExists: true).status == .pass)
        #expect(FileCheck.judge("/d", role: .stateDir, facts: nil, parentExists: false).status == .fail)
        #expect(FileCheck.judge("/d", role: .stateDir, facts: file(0o777, kind: .directory)).status == .fail)
        #expect(FileCheck.judge("/d", role: .stateDir, facts: file(0o600)).status == .fail)
    }

    @Test func httpDates() {
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
        #expect(HTTPDate.parse("Tue, 29 Feb 2028 12:00:00 GMT") == 1_835_438_400)
        for bad in ["", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:37 UTC",
                    "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                    "Sun, +6 Nov 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT"] {
            #expect(HTTPDate.parse(bad) == nil, "\(bad)")
        }
    }

    @Test(arguments: [(0.4, 60, DoctorFinding.Status.pass), (-60.8, 60, .pass), (-61.5, 60, .fail), (-70, 60, .fail), (90, 60, .warn),
                      (4000, 60, .fail), (-5, 0, .fail)])
    func clock(offset: Double, skew: Int, expected: DoctorFinding.Status) {
        #expect(ClockCheck.judge(offset: offset, clockSkew: skew, source: "the IdP").status == expected)
    }

    @Test func ports() {
        let free = PortCheck.Probe(uri: "http://localhost:8400/callback", port: 8400, error: nil)
        let busy = PortCheck.Probe(uri: "http://localhost:8401/callback", port: 8401, error: "Address already in use")
        let some = PortCheck.judge([free, busy])
        #expect(some.map(\.status) == [.pass, .warn])
        let none = PortCheck.judge([busy])
        #expect(none.last?.status == .fail)
    }

    @Test func exitCodes() {
        let ok = DoctorFinding.pass(.sshd, "a", "b")
        #expect(DoctorVerdict.exitCode([ok, .warn(.pam, "p", "w")]) == 0)
        #expect(DoctorVerdict.exitCode([ok, .fail(.pam, "p", "f")]) == 1)
        #expect(DoctorVerdict.exitCode([.fail(.idp, "i", "x"), .fail(.sshd, "s", "x")]) == 3)
        #expect(DoctorVerdict.exitCode([.fail(.idp, "i", "x"), .fail(.config, "c", "x")]) == 2)
    }

    @Test func findingPrintsSymbolAndFix() {
        let f = DoctorFinding.fail(.sshd, "sshd UsePAM", "is no", fix: "UsePAM yes\nsecond line")
        #expect(f.description == "✗ sshd UsePAM: is no\n    fix: UsePAM yes\n         second line")
    }
}

struct ProvisionAccountStackTests {
    func judge(_ text: String, common: String = "account [success=1 default=ignore] pam_unix.so\naccount requisite pam_deny.so\naccount required pam_permit.so\n") -> DoctorFinding {
        let stack = PamStack.build(type: "account", file: PamFile.parse(text, file: "/etc/pam.d/sshd")) { name in
            name == "common-account" ? ("/etc/pam.d/common-account", common) : nil
        }
        return ProvisionCheck.accountStack(stack, path: "/etc/pam.d/sshd")
    }

    @Test func accountLineIsRequiredWithProvisioning() {
        #expect(judge("auth required pam_cognito.so\n@include common-account\n").status == .fail)
        #expect(judge("auth required pam_cognito.so\naccount required pam_cognito.so\n@include common-account\n").status == .pass)
        // pam-auth-update's profile puts it in common-account.
        #expect(judge("@include common-account\n", common: "account required pam_unix.so\naccount required pam_cognito.so\n").status == .pass)
        // optional, sufficient, or PAM_PERM_DENIED ignored: a provisional-only entry would pass.
        #expect(judge("account optional pam_cognito.so\n").status == .fail)
        #expect(judge("account sufficient pam_cognito.so\n").status == .fail)
        #expect(judge("account [success=ok default=ignore] pam_cognito.so\n").status == .fail)
        #expect(judge("account [perm_denied=die default=ignore] pam_cognito.so\n").status == .pass)
    }
}
