/// The effective sshd configuration as `sshd -T` prints it: one `keyword value…` per line, keywords
/// in lower case. Keywords that may repeat (hostkey, subsystem, …) keep every value in order.
public struct SshdSettings: Sendable, Equatable {
    public private(set) var values: [String: [String]] = [:]

    public init(_ values: [String: [String]] = [:]) { self.values = values }

    public static func parse(_ output: String) -> SshdSettings {
        var s = SshdSettings()
        for raw in output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.trimmed()
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            let key = parts[0].lowercased()
            let value = parts.count > 1 ? parts[1].trimmed() : ""
            s.values[key, default: []].append(value)
        }
        return s
    }

    public func first(_ key: String) -> String? { values[key.lowercased()]?.first }
    public var isEmpty: Bool { values.isEmpty }
}

/// Judges the sshd settings pam_cognito.so depends on (README "sshd setting" table).
public enum SshdCheck {
    /// - Parameters:
    ///   - loginTimeout: the config's `login_timeout`; sshd's LoginGraceTime must exceed it.
    ///   - where: where the admin should put a fix, e.g. `/etc/ssh/sshd_config`.
    ///   - authMethodsRefusal: set when sshd refused the configuration because of its
    ///     AuthenticationMethods (e.g. "Disabled method keyboard-interactive …"); the settings were then
    ///     read again with `-o AuthenticationMethods=any`, so that value is not the configured one.
    ///   - provisioning: `provision = on_first_login`: sshd keeps the uid it was told before
    ///     authentication for as long as the connection lasts, so LoginGraceTime must be bounded by
    ///     the helper's race window (`Provisioning.maxLoginGraceTime`); 0 or more fails.
    public static func judge(_ s: SshdSettings, loginTimeout: Int, where file: String,
                             authMethodsRefusal: String? = nil, provisioning: Bool = false) -> [DoctorFinding] {
        var out: [DoctorFinding] = []
        func fix(_ line: String) -> String { "\(line)    (in \(file), before any Match block)" }

        switch s.first("usepam")?.lowercased() {
        case "yes"?: out.append(.pass(.sshd, "sshd UsePAM", "yes"))
        case let v: out.append(.fail(.sshd, "sshd UsePAM", "is \(v ?? "not shown by sshd -T"); sshd must hand authentication to PAM",
                                     fix: fix("UsePAM yes")))
        }

        // OpenSSH 8.7 renamed ChallengeResponseAuthentication to KbdInteractiveAuthentication.
        let kbd = s.first("kbdinteractiveauthentication") ?? s.first("challengeresponseauthentication")
        if kbd?.lowercased() == "yes" {
            out.append(.pass(.sshd, "sshd KbdInteractiveAuthentication", "yes"))
        } else {
            out.append(.fail(.sshd, "sshd KbdInteractiveAuthentication",
                             "is \(kbd ?? "not shown by sshd -T"); the sign-in link and the Redirect URL prompt travel as keyboard-interactive",
                             fix: fix("KbdInteractiveAuthentication yes")))
        }

        if let refusal = authMethodsRefusal {
            out.append(.fail(.sshd, "sshd AuthenticationMethods", "sshd refuses this configuration and would not start: \(refusal)",
                             fix: fix("AuthenticationMethods keyboard-interactive") + "\n" + fix("KbdInteractiveAuthentication yes")))
        } else {
            out.append(authenticationMethods(s, fix: fix))
        }

        if let raw = s.first("logingracetime") {
            if let grace = Int(raw) {
                // Measured through sshd (issue 4): the helper decides at login_timeout, but sshd's
                // conversation cannot be interrupted, so an abandoned sign-in holds its unauthenticated
                // connection until LoginGraceTime.
                let most = Provisioning.maxLoginGraceTime(loginTimeout: loginTimeout)
                if provisioning, grace == 0 || grace > most {
                    out.append(.fail(.sshd, "sshd LoginGraceTime",
                                     "\(grace == 0 ? "0 (no limit)" : "\(grace) s"): with provision = on_first_login sshd keeps the uid it was told before authentication for the whole connection, and the helper can tell a uid given to someone else meanwhile only within login_timeout + 120 s; LoginGraceTime must be 1-\(most) (login_timeout + 60)",
                                     fix: fix("LoginGraceTime \(loginTimeout + 10)")))
                } else if grace == 0 {
                    out.append(.warn(.sshd, "sshd LoginGraceTime",
                                     "0 (no limit): a sign-in left at the prompt holds an unauthenticated connection until the client goes away",
                                     fix: fix("LoginGraceTime \(loginTimeout + 10)")))
                } else if grace > loginTimeout + 60 {
                    out.append(.warn(.sshd, "sshd LoginGraceTime",
                                     "\(grace) s: an abandoned sign-in holds its connection \(grace - loginTimeout) s after login_timeout (\(loginTimeout) s) has refused it",
                                     fix: fix("LoginGraceTime \(loginTimeout + 10)")))
                } else if grace > loginTimeout {
                    out.append(.pass(.sshd, "sshd LoginGraceTime", "\(grace) s, more than login_timeout (\(loginTimeout) s)"))
                } else {
                    out.append(.fail(.sshd, "sshd LoginGraceTime",
                                     "\(grace) s is not more than login_timeout (\(loginTimeout) s): sshd would cut a slow sign-in off before the helper decides and logs it",
                                     fix: fix("LoginGraceTime \(loginTimeout + 10)") + "\n(or lower login_timeout below \(grace) in the cognito-auth config)"))
                }
            } else {
                out.append(.warn(.sshd, "sshd LoginGraceTime", "cannot read '\(raw)' as seconds"))
            }
        } else {
            out.append(.warn(.sshd, "sshd LoginGraceTime", "not shown by sshd -T"))
        }
        return out
    }

    /// `authenticationmethods any`, or space-separated lists of comma-separated methods; a login must
    /// complete every method of one list. keyboard-interactive may carry a `:pam` submethod.
    static func authenticationMethods(_ s: SshdSettings, fix: (String) -> String) -> DoctorFinding {
        let name = "sshd AuthenticationMethods"
        guard let raw = s.first("authenticationmethods") else {
            return .warn(.sshd, name, "not shown by sshd -T")
        }
        if raw.lowercased() == "any" {
            let pubkey = s.first("pubkeyauthentication")?.lowercased() == "yes"
            let password = s.first("passwordauthentication")?.lowercased() == "yes"
            var others: [String] = []
            if pubkey { others.append("public keys") }
            if password { others.append("passwords") }
            if others.isEmpty {
                return .pass(.sshd, name, "any (keyboard-interactive is the only method enabled)")
            }
            return .warn(.sshd, name, "any: keyboard-interactive works, but \(others.joined(separator: " and ")) also admit without Cognito",
                         fix: fix("AuthenticationMethods keyboard-interactive"))
        }
        let lists = raw.split(separator: " ").map { $0.split(separator: ",").map { $0.lowercased() } }
        func isKbd(_ m: String) -> Bool { m == "keyboard-interactive" || m.hasPrefix("keyboard-interactive:") }
        let withKbd = lists.filter { $0.contains(where: isKbd) }
        if withKbd.isEmpty {
            return .fail(.sshd, name, "'\(raw)' has no list with keyboard-interactive, so the Cognito sign-in is never offered",
                         fix: fix("AuthenticationMethods keyboard-interactive"))
        }
        let without = lists.filter { !$0.contains(where: isKbd) }
        if !without.isEmpty {
            let shown = without.map { $0.joined(separator: ",") }.joined(separator: " ")
            return .warn(.sshd, name, "'\(raw)': the list '\(shown)' admits without the Cognito sign-in",
                         fix: fix("AuthenticationMethods keyboard-interactive"))
        }
        return .pass(.sshd, name, raw)
    }
}
