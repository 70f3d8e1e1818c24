import FoundationEssentials

/// What `lstat` says about a path, gathered by the runtime and judged here.
public struct FileFacts: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case regular, directory, symlink, other }
    public var kind: Kind
    public var uid: UInt32
    /// Permission bits (`st_mode & 0o7777`).
    public var mode: UInt32

    public init(kind: Kind, uid: UInt32, mode: UInt32) { self.kind = kind; self.uid = uid; self.mode = mode }
}

/// The files the configuration depends on, with the rules the helper applies to each
/// (`ProtectedFile`, the JWKS cache, the pin store).
public enum FileRole: Sendable, Equatable {
    /// The config itself; `inlineSecret` when it holds `client_secret`.
    case config(inlineSecret: Bool)
    case clientSecret
    /// `relay_secret_file` (flow = relay): the fleet's host secret, held like the client secret.
    case relaySecret
    case accountMap
    case caFile
    case cacheDir
    case stateDir

    var key: String {
        switch self {
        case .config: return "config"
        case .clientSecret: return "client_secret_file"
        case .relaySecret: return "relay_secret_file"
        case .accountMap: return "account_map"
        case .caFile: return "ca_file"
        case .cacheDir: return "cache_dir"
        case .stateDir: return "state_dir"
        }
    }
}

public enum FileCheck {
    static func octal(_ mode: UInt32) -> String { Syntax.octal4(mode) }

    /// - Parameters:
    ///   - facts: nil when the path does not exist (`missing` then says why, e.g. "No such file").
    ///   - parentExists: for directories the helper creates on demand.
    public static func judge(_ path: String, role: FileRole, facts: FileFacts?, missing: String = "does not exist",
                             parentExists: Bool = true, owner: UInt32 = 0) -> DoctorFinding {
        let check = "\(role.key) \(path)"
        let ownerName = owner == 0 ? "root" : "uid \(owner)"
        guard let f = facts else {
            switch role {
            case .cacheDir, .stateDir:
                if parentExists {
                    return .pass(.config, check, "not created yet; the helper creates it (mode 0700) when it first needs it")
                }
                return .fail(.config, check, "neither it nor its parent directory exists; the helper cannot create it",
                             fix: "install -d -m 0700 -o root -g root \(path)")
            case .config:
                return .fail(.config, check, missing, fix: "install -m 0600 -o root -g root contrib/config/cognito-auth.conf \(path)   # then edit it")
            case .clientSecret:
                return .fail(.config, check, missing, fix: "install -m 0600 -o root -g root /dev/null \(path)   # then write the app client secret into it")
            case .relaySecret:
                return .fail(.config, check, missing, fix: "install -m 0600 -o root -g root /dev/null \(path)   # then write the fleet's relay host secret into it")
            default:
                return .fail(.config, check, missing, fix: "create \(path), or change \(role.key) in the config")
            }
        }
        let isDir = role == .cacheDir || role == .stateDir
        if f.kind == .symlink {
            return .fail(.config, check, "is a symbolic link; the helper refuses to follow it",
                         fix: "replace the link with the file itself: cp --remove-destination \"$(readlink -f \(path))\" \(path)")
        }
        if isDir && f.kind != .directory {
            return .fail(.config, check, "is not a directory", fix: "rm \(path) && install -d -m 0700 -o root -g root \(path)")
        }
        if !isDir && f.kind != .regular {
            return .fail(.config, check, "is not a regular file")
        }
        let mode = octal(f.mode)
        let groupOtherWrite = f.mode & 0o022 != 0
        let groupOtherAny = f.mode & 0o077 != 0
        let chown = f.uid != owner ? "chown root:root \(path) && " : ""

        switch role {
        case .config(let inlineSecret):
            if f.uid != owner || groupOtherWrite {
                return .fail(.config, check, "owner uid \(f.uid), mode \(mode): must be owned by \(ownerName) and not writable by group or others",
                             fix: "\(chown)chmod go-w \(path)")
            }
            if inlineSecret && groupOtherAny {
                return .warn(.config, check, "mode \(mode) with an inline client_secret: others on this host can read the secret",
                             fix: "chmod 600 \(path)   (or move the secret to client_secret_file)")
            }
            return .pass(.config, check, "owner \(ownerName), mode \(mode)")
        case .clientSecret, .relaySecret:
            if f.uid != owner || groupOtherAny {
                return .fail(.config, check, "owner uid \(f.uid), mode \(mode): a secret must be owned by \(ownerName) and readable by no one else",
                             fix: "\(chown)chmod 600 \(path)")
            }
            return .pass(.config, check, "owner \(ownerName), mode \(mode)")
        case .accountMap:
            if f.uid != owner || groupOtherWrite {
                return .fail(.config, check, "owner uid \(f.uid), mode \(mode): must be owned by \(ownerName) and not writable by group or others",
                             fix: "\(chown)chmod go-w \(path)")
            }
            return .pass(.config, check, "owner \(ownerName), mode \(mode)")
        case .caFile:
            if groupOtherWrite || f.uid != owner {
                return .warn(.config, check, "owner uid \(f.uid), mode \(mode): whoever can write it decides which TLS certificates the helper trusts",
                             fix: "\(chown)chmod go-w \(path)")
            }
            return .pass(.config, check, "owner \(ownerName), mode \(mode)")
        case .cacheDir:
            if f.uid != owner || groupOtherAny {
                return .warn(.config, check, "owner uid \(f.uid), mode \(mode): the helper will not use this cache (each login then fetches discovery and JWKS)",
                             fix: "\(chown)chmod 700 \(path)")
            }
            return .pass(.config, check, "owner \(ownerName), mode \(mode)")
        case .stateDir:
            if f.uid != owner || groupOtherWrite {
                return .fail(.config, check, "owner uid \(f.uid), mode \(mode): must be owned by \(ownerName) and not writable by group or others (identity pins live here)",
                             fix: "\(chown)chmod 700 \(path)")
            }
            return .pass(.config, check, "owner \(ownerName), mode \(mode)")
        }
    }
}

/// RFC 9110 §5.6.7 HTTP-date in its preferred form, IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
/// The two obsolete forms are not accepted: servers must send IMF-fixdate.
public enum HTTPDate {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    static let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// Seconds since the epoch, or nil when `s` is not an IMF-fixdate.
    public static func parse(_ s: String) -> Double? {
        let parts = s.trimmed().split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","), days.contains(String(parts[0].dropLast())),
              parts[1].count == 2, let day = Int(parts[1]), (1...31).contains(day),
              let monthIndex = months.firstIndex(of: String(parts[2])),
              parts[3].count == 4, let year = Int(parts[3]), year >= 1970,
              parts[5] == "GMT" else { return nil }
        let hms = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard hms.count == 3, hms.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) }),
              let h = Int(hms[0]), let m = Int(hms[1]), let sec = Int(hms[2]),
              (0...23).contains(h), (0...59).contains(m), (0...60).contains(sec),
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), parts[3].allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let month = monthIndex + 1
        guard day <= daysIn(month: month, year: year) else { return nil }
        return Double(daysFromCivil(year: year, month: month, day: day) * 86_400 + h * 3600 + m * 60 + sec)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// The host clock against the IdP's: ID tokens carry `iat` and `exp` from the IdP's clock.
public enum ClockCheck {
    /// Cognito ID tokens live one hour.
    public static let tokenLifetime = 3600.0

    /// - Parameters:
    ///   - offset: host time minus the IdP's `Date`, in seconds (positive: the host is ahead).
    ///   - clockSkew: the config's `clock_skew`.
    public static func judge(offset: Double, clockSkew: Int, source: String) -> DoctorFinding {
        let check = "clock"
        // The Date header has one-second resolution.
        let slack = 1.0
        let rounded = wholeSeconds(offset.rounded())
        let shown = (rounded >= 0 ? "+" : "") + "\(rounded) s"
        let fix = "synchronise the clock: timedatectl set-ntp true   (or run chrony / systemd-timesyncd)"
        if offset < -(Double(clockSkew) + slack) {
            return .fail(.clock, check, "this host is \(Int(-offset)) s behind \(source) (more than clock_skew = \(clockSkew) s): fresh ID tokens look issued in the future (iat_in_future) and are refused",
                         fix: fix)
        }
        if offset > tokenLifetime {
            return .fail(.clock, check, "this host is \(Int(offset)) s ahead of \(source): every ID token looks expired",
                         fix: fix)
        }
        if offset > Double(clockSkew) + slack {
            return .warn(.clock, check, "this host is \(Int(offset)) s ahead of \(source) (more than clock_skew = \(clockSkew) s): tokens still pass, but their lifetime and max_auth_age shrink by that much",
                         fix: fix)
        }
        return .pass(.clock, check, "within clock_skew (\(clockSkew) s) of \(source): offset \(shown)")
    }
}

/// What `flow` needs beyond the config (DESIGN.md §7): the IdP's device endpoint for `device`,
/// a relay that answers for `relay`. Judged from what the runtime fetched.
public enum FlowCheck {
    /// flow = device: discovery must list `device_authorization_endpoint`.
    public static func deviceEndpoint(_ endpoint: String?, discoveryURL: String) -> DoctorFinding {
        guard let endpoint else {
            // A configuration error, as the helper reports it (PAM_SERVICE_ERR): the IdP is fine.
            return .fail(.config, "flow device", "discovery (\(discoveryURL)) lists no device_authorization_endpoint: this IdP has no RFC 8628 device flow and every sign-in would fail",
                         fix: "use flow = relay with cognito-auth-relay (Amazon Cognito has no device endpoint), or flow = code")
        }
        return .pass(.idp, "flow device", "device_authorization_endpoint \(endpoint)")
    }

    /// flow = relay: `GET <relay_url>/healthz` answered (`status`), or could not be asked (`error`).
    public static func relayHealth(_ url: String, status: Int?, error: String?) -> DoctorFinding {
        let fix = "check that cognito-auth-relay runs and that this host reaches it (relay_url, ca_file, firewall): curl -sS \(url)"
        if let error { return .fail(.idp, "relay", "\(url) unreachable: \(error)", fix: fix) }
        guard status == 200 else {
            return .fail(.idp, "relay", "\(url) answered HTTP \(status.map(String.init) ?? "?"), not 200", fix: fix)
        }
        return .pass(.idp, "relay", "\(url) answered 200")
    }
}

/// Redirect ports on 127.0.0.1: the helper binds the first free one for the loopback callback.
public enum PortCheck {
    public struct Probe: Sendable, Equatable {
        public var uri: String
        public var port: UInt16
        /// nil when the port could be bound; else why not (e.g. "Address already in use").
        public var error: String?
        public init(uri: String, port: UInt16, error: String?) { self.uri = uri; self.port = port; self.error = error }
    }

    public static func judge(_ probes: [Probe]) -> [DoctorFinding] {
        var out: [DoctorFinding] = []
        for p in probes {
            let check = "redirect port \(p.port)"
            if let e = p.error {
                out.append(.warn(.ports, check, "127.0.0.1:\(p.port) (\(p.uri)) cannot be bound: \(e); the helper skips it (another sign-in, or another program, holds it)",
                                 fix: "find the holder: ss -ltnp 'sport = :\(p.port)'"))
            } else {
                out.append(.pass(.ports, check, "127.0.0.1:\(p.port) is free (\(p.uri))"))
            }
        }
        if !probes.isEmpty && probes.allSatisfy({ $0.error != nil }) {
            out.append(.fail(.ports, "redirect ports", "none of the \(probes.count) redirect_uris ports is free: the loopback callback cannot work, only paste-back",
                             fix: "free a port, or add another URI to redirect_uris (and register it in the app client)"))
        }
        return out
    }
}
