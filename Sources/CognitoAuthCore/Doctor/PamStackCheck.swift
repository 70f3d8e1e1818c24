import FoundationEssentials

/// How the stack simulation treats a module in an `auth` stack.
public enum PamModuleRole: Sendable, Equatable {
    /// pam_cognito.so itself.
    case cognito
    /// Always succeeds (pam_permit).
    case permit
    /// Always fails (pam_deny).
    case deny
    /// Does not authenticate anyone (environment, delays, lockout bookkeeping): returns PAM_IGNORE.
    case passive
    /// Any other module: a factor the person may or may not have (pam_unix's password, pam_sss, …).
    case authenticator

    static let passiveModules: Set<String> = [
        "pam_env.so", "pam_faildelay.so", "pam_nologin.so", "pam_securetty.so", "pam_faillock.so",
        "pam_tally2.so", "pam_shells.so", "pam_succeed_if.so", "pam_access.so", "pam_time.so",
        "pam_group.so", "pam_cap.so", "pam_keyinit.so", "pam_loginuid.so", "pam_limits.so",
        "pam_motd.so", "pam_mail.so", "pam_selinux.so", "pam_systemd.so", "pam_umask.so",
        "pam_lastlog.so", "pam_warn.so", "pam_echo.so", "pam_listfile.so", "pam_mkhomedir.so",
        "pam_gnome_keyring.so", "pam_kwallet5.so", "pam_xauth.so", "pam_exec.so",
    ]

    public static func of(_ moduleName: String) -> PamModuleRole {
        switch moduleName {
        case "pam_cognito.so": return .cognito
        case "pam_permit.so": return .permit
        case "pam_deny.so": return .deny
        default: return passiveModules.contains(moduleName) ? .passive : .authenticator
        }
    }
}

/// Judges one service's pam.d file for pam_cognito.so: the line is there (in the auth stack), its
/// arguments are ones the module accepts, its control value, and — by running libpam's decision
/// rules over the stack — whether a Cognito sign-in alone admits and whether anything admits
/// without one.
public enum PamStackCheck {
    public static let defaultConfig = "/etc/cognito-auth/cognito-auth.conf"

    public struct Target: Sendable {
        /// The PAM service, e.g. `sshd`.
        public var service: String
        /// The file shown to the admin, e.g. `/etc/pam.d/sshd`.
        public var path: String
        /// A missing pam_cognito.so line fails (sshd) rather than warns (sudo).
        public var required: Bool
        /// The config `doctor` checked; the module line should read the same file.
        public var expectedConfig: String?

        public init(service: String, path: String, required: Bool, expectedConfig: String?) {
            self.service = service; self.path = path; self.required = required; self.expectedConfig = expectedConfig
        }
    }

    /// - Parameters:
    ///   - text: the file's content, or nil when it could not be read (`readError` says why).
    ///   - resolve: included files by name (see `PamStack.build`).
    public static func judge(_ target: Target, text: String?, readError: String? = nil,
                             resolve: (String) -> (path: String, text: String)?) -> [DoctorFinding] {
        let name = target.path
        let configArg = target.expectedConfig.flatMap { $0 == defaultConfig ? nil : " config=\($0)" } ?? ""
        let recommended = "auth required pam_cognito.so" + configArg
        guard let text else {
            let why = readError ?? "cannot be read"
            if target.required {
                return [.fail(.pam, name, "\(why); \(target.service) cannot use Cognito", fix: "create it with the line:\n\(recommended)")]
            }
            return [.warn(.pam, name, "\(why); \(target.service) does not use Cognito", fix: "to use Cognito for \(target.service), create it with:\n\(recommended)")]
        }
        let file = PamFile.parse(text, file: name)
        let stack = PamStack.build(type: "auth", file: file, resolve: resolve)
        var out: [DoctorFinding] = stack.problems.map { .warn(.pam, name, $0) }

        let cognito = stack.allEntries.filter { PamModuleRole.of($0.line.moduleName) == .cognito }
        guard let first = cognito.first else {
            out.append(missing(target, file: file, recommended: recommended))
            return out
        }
        let l = first.line

        // 1. The line and its control value.
        out.append(controlFinding(first, recommended: recommended, path: name))
        if cognito.count > 1 {
            out.append(.warn(.pam, name, "pam_cognito.so appears \(cognito.count) times in the auth stack (\(cognito.map(\.whereShown).joined(separator: "; "))): each one asks for its own sign-in",
                             fix: "keep one line:\n\(recommended)"))
        }

        // 2. Arguments: the module refuses unknown ones (every login then fails with PAM_SERVICE_ERR).
        var effectiveConfig = defaultConfig
        var unknown: [String] = []
        var kept: [String] = []
        for arg in l.arguments {
            if arg.hasPrefix("config=") { effectiveConfig = String(arg.dropFirst(7)); kept.append(arg) }
            else if arg.hasPrefix("helper=") || arg == "debug" || arg == "ignore_unknown_user" { kept.append(arg) }
            else { unknown.append(arg) }
        }
        let control = l.controlText
        if !unknown.isEmpty {
            out.append(.fail(.pam, name, "\(l.location): pam_cognito.so does not accept \(unknown.map { "'\($0)'" }.joined(separator: ", ")); every login through this stack fails (PAM_SERVICE_ERR)",
                             fix: "change line \(l.line) to:\n" + (["auth", control, l.module] + kept).joined(separator: " ")))
        }
        if !effectiveConfig.hasPrefix("/") {
            out.append(.fail(.pam, name, "\(l.location): config=\(effectiveConfig) is not an absolute path; the module refuses it",
                             fix: "change line \(l.line) to:\n" + (["auth", control, l.module] + kept.filter { !$0.hasPrefix("config=") } + ["config=\(target.expectedConfig ?? defaultConfig)"]).joined(separator: " ")))
        } else if let expected = target.expectedConfig, expected != effectiveConfig {
            out.append(.warn(.pam, name, "\(l.location): pam_cognito.so reads \(effectiveConfig), but doctor checked \(expected)",
                             fix: "change line \(l.line) to:\n" + (["auth", control, l.module] + kept.filter { !$0.hasPrefix("config=") } + ["config=\(expected)"]).joined(separator: " ")))
        }

        // 3. The stack as a whole, by libpam's rules.
        out += simulate(stack, file: file, path: name, cognito: first, recommended: recommended)
        return out
    }

    static func missing(_ target: Target, file: PamFile, recommended: String) -> DoctorFinding {
        // Where to put it: before `@include common-auth` (or instead of it), else before the first auth line.
        var anchor: (line: Int, text: String, isCommonAuth: Bool)?
        for entry in file.entries {
            switch entry {
            case .includeAll(let n, _, let line, let text) where n == "common-auth":
                anchor = (line, text, true)
            case .module(let m) where m.type == "auth":
                anchor = (m.line, m.text, false)
            default:
                continue
            }
            break
        }
        var fix: String
        if let anchor {
            fix = "add before line \(anchor.line) (`\(anchor.text)`):\n\(recommended)"
            if anchor.isCommonAuth {
                fix += "\n(to admit with Cognito alone, also comment out line \(anchor.line): # \(anchor.text))"
            }
        } else {
            fix = "add:\n\(recommended)"
        }
        let message = "no pam_cognito.so line in the auth stack"
        if target.required {
            return .fail(.pam, target.path, "\(message): \(target.service) logins do not use Cognito", fix: fix)
        }
        return .warn(.pam, target.path, "\(message): \(target.service) does not use Cognito (fine if you do not want it to)", fix: fix)
    }

    static func controlFinding(_ e: PamStackEntry, recommended: String, path: String) -> DoctorFinding {
        let l = e.line
        let shown = "\(e.whereShown): `\(l.text)`"
        let change = "change line \(l.line) of \(l.file) to:\n" + (["auth", "required", l.module] + l.arguments).joined(separator: " ")
        switch l.control {
        case .required:
            return .pass(.pam, path, "\(shown) — required: a failed or refused Cognito sign-in fails the login")
        case .requisite:
            return .pass(.pam, path, "\(shown) — requisite: a failed or refused Cognito sign-in ends the stack at once")
        case .sufficient:
            return .pass(.pam, path, "\(shown) — sufficient: a Cognito sign-in ends the stack with success; a failed one falls through to the next modules")
        case .optional:
            return .warn(.pam, path, "\(shown) — optional: its result counts only when no other module decides", fix: change)
        case .include, .substack:
            return .fail(.pam, path, "\(shown) — '\(l.controlText)' takes a pam.d file, not a module", fix: change)
        case .actions:
            let onSuccess = l.control.action(for: "success")
            let onFailure = l.control.action(for: "auth_err")
            // A jump (pam-auth-update writes `success=end` as `success=N`) counts: where it lands is
            // judged by the stack simulation that follows this finding.
            var succeeds = onSuccess == .ok || onSuccess == .done
            if case .jump = onSuccess { succeeds = true }
            let fails = onFailure == .bad || onFailure == .die
            if succeeds && fails {
                return .pass(.pam, path, "\(shown) — a sign-in counts (success=\(describe(onSuccess))), a failure fails the login (auth_err=\(describe(onFailure)))")
            }
            if !succeeds {
                return .fail(.pam, path, "\(shown) — success=\(describe(onSuccess)): a Cognito sign-in does not count towards the login", fix: change)
            }
            return .warn(.pam, path, "\(shown) — auth_err=\(describe(onFailure)): a refused Cognito sign-in does not fail the login by itself", fix: change)
        }
    }

    static func describe(_ a: PamAction) -> String {
        switch a {
        case .ignore: return "ignore"
        case .ok: return "ok"
        case .done: return "done"
        case .bad: return "bad"
        case .die: return "die"
        case .reset: return "reset"
        case .jump(let n): return String(n)
        }
    }

    /// The top-level line an admin edits for an entry: the entry itself, or the include that brought it.
    static func topLevel(_ e: PamStackEntry, file: PamFile) -> (line: Int, text: String) {
        guard let outer = e.via.first else { return (e.line.line, e.line.text) }
        let lineNo = Int(outer.split(separator: ":").last ?? "") ?? 0
        for entry in file.entries {
            switch entry {
            case .includeAll(_, _, let line, let text) where line == lineNo: return (line, text)
            case .module(let m) where m.line == lineNo: return (m.line, m.text)
            default: continue
            }
        }
        return (lineNo, outer)
    }

    static func simulate(_ stack: PamStack, file: PamFile, path: String, cognito: PamStackEntry, recommended: String) -> [DoctorFinding] {
        let all = stack.allEntries
        func role(_ e: PamStackEntry) -> PamModuleRole { PamModuleRole.of(e.line.moduleName) }
        /// Runs the stack with Cognito succeeding or not and each other factor as `factor` says.
        func admits(cognito ok: Bool, factor: (PamStackEntry) -> Bool, override: ((PamStackEntry) -> PamStack.ModuleResult?)? = nil) -> Bool {
            stack.admits { e in
                if let o = override?(e) { return o }
                switch role(e) {
                case .cognito: return ok ? .success : .failure
                case .permit: return .success
                case .deny: return .failure
                case .passive: return .ignore
                case .authenticator: return factor(e) ? .success : .failure
                }
            }
        }
        let factors = all.filter { role($0) == .authenticator && $0.substack == nil }
        let alone = admits(cognito: true, factor: { _ in false })
        let both = admits(cognito: true, factor: { _ in true })
        let bypass = admits(cognito: false, factor: { _ in true })
        let everyone = admits(cognito: false, factor: { _ in false })
        func names(_ es: [PamStackEntry]) -> String {
            es.map { "`\($0.line.text)` (\($0.whereShown))" }.joined(separator: ", ")
        }
        /// "line N: TEXT" for the top-level lines to edit, once each.
        func edits(_ es: [PamStackEntry]) -> String {
            var seen = Set<Int>()
            var lines: [String] = []
            for e in es {
                let t = topLevel(e, file: file)
                if seen.insert(t.line).inserted { lines.append("line \(t.line): \(t.text)") }
            }
            return lines.joined(separator: "\n")
        }
        let cognitoPos = all.firstIndex(of: cognito) ?? 0

        var out: [DoctorFinding] = []
        if everyone {
            let culprits = all.filter { e in
                role(e) == .permit && !admits(cognito: false, factor: { _ in false }, override: { $0 == e ? .failure : nil })
            }
            var fix = "make pam_cognito.so required (line \(cognito.line.line)):\n" + (["auth", "required", cognito.line.module] + cognito.line.arguments).joined(separator: " ")
            if !culprits.isEmpty { fix += "\nand remove or change:\n" + edits(culprits) }
            return [.fail(.pam, path, "the stack admits anyone, even after a failed or refused Cognito sign-in"
                          + (culprits.isEmpty ? "" : " (because of \(names(culprits)))"), fix: fix)]
        }
        if !both {
            let culprits = all.filter { e in
                role(e) == .deny && admits(cognito: true, factor: { _ in true }, override: { $0 == e ? .success : nil })
            }
            out.append(.fail(.pam, path, "the stack refuses every login, even after a Cognito sign-in"
                             + (culprits.isEmpty ? "" : " (because of \(names(culprits)))"),
                             fix: culprits.isEmpty ? "put this line first in the auth stack:\n\(recommended)" : "remove, or move after pam_cognito.so:\n" + edits(culprits)))
        } else if !alone {
            let needed = factors.filter { f in !admits(cognito: true, factor: { $0 != f }) }
            let shown = needed.isEmpty ? names(factors) : names(needed)
            out.append(.warn(.pam, path, "a Cognito sign-in alone does not admit: \(shown) must succeed too (for pam_unix: the local password; people without one are refused)",
                             fix: "to admit with Cognito alone, comment out or remove:\n" + edits(needed.isEmpty ? factors : needed)))
        }
        if bypass {
            let culprits = factors.filter { f in admits(cognito: false, factor: { $0 == f }) }
            let before = culprits.filter { (all.firstIndex(of: $0) ?? 0) < cognitoPos }
            var fix: String
            if !before.isEmpty {
                fix = "remove it, or move it after pam_cognito.so:\n" + edits(before)
            } else {
                fix = "make pam_cognito.so required (line \(cognito.line.line)):\n" + (["auth", "required", cognito.line.module] + cognito.line.arguments).joined(separator: " ")
            }
            out.append(.warn(.pam, path, "admits without Cognito when \(culprits.isEmpty ? "another module" : names(culprits)) succeeds (e.g. a correct local password): it bypasses the Cognito sign-in",
                             fix: fix))
        }
        if out.isEmpty {
            out.append(.pass(.pam, path, "stack order: a Cognito sign-in admits, and nothing admits without one"))
        }
        return out
    }
}
