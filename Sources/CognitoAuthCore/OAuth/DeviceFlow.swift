import FoundationEssentials

/// What a device authorization endpoint answered (RFC 8628 §3.2): the IdP's for `flow = device`,
/// the relay's for `flow = relay` (DESIGN.md §7). Everything shown to the person is checked to be
/// printable ASCII first: these strings go straight to a terminal.
public struct DeviceAuthorization: Sendable, Equatable {
    public static let maxUserCodeBytes = 32
    public static let maxDeviceCodeBytes = 2048
    /// RFC 8628 §3.5: without `interval` the client waits 5 s between polls.
    public static let defaultInterval = 5
    public static let maxInterval = 60

    public var deviceCode: String
    public var userCode: String
    public var verificationURI: String
    public var verificationURIComplete: String?
    public var expiresIn: Int
    public var interval: Int

    public init(deviceCode: String, userCode: String, verificationURI: String, verificationURIComplete: String?,
                expiresIn: Int, interval: Int) {
        self.deviceCode = deviceCode; self.userCode = userCode; self.verificationURI = verificationURI
        self.verificationURIComplete = verificationURIComplete; self.expiresIn = expiresIn; self.interval = interval
    }

    /// `who` names the endpoint in the reason ("device authorization endpoint", "relay").
    public static func parse(status: Int, body: Data, who: String) -> Result<DeviceAuthorization, Refusal> {
        let doc = JSONValue.parseObject(body)
        guard status == 200 else {
            let error = doc?["error"]?.stringValue.map(safeText) ?? "HTTP \(status)"
            return .failure(Refusal(.deviceAuthorizationFailed, "\(who) refused the request: \(error)"))
        }
        guard let doc else { return .failure(Refusal(.deviceAuthorizationFailed, "\(who) answer is not a JSON object")) }
        guard let device = doc["device_code"]?.stringValue, !device.isEmpty, device.utf8.count <= maxDeviceCodeBytes,
              isPrintable(device) else {
            return .failure(Refusal(.deviceAuthorizationFailed, "\(who) answer has no usable device_code"))
        }
        guard let user = doc["user_code"]?.stringValue, !user.isEmpty, user.utf8.count <= maxUserCodeBytes,
              isPrintable(user), !user.contains(" ") else {
            return .failure(Refusal(.deviceAuthorizationFailed, "\(who) answer has no usable user_code"))
        }
        guard let uri = doc["verification_uri"]?.stringValue, isShowableURL(uri) else {
            return .failure(Refusal(.deviceAuthorizationFailed, "\(who) answer has no https verification_uri"))
        }
        var complete: String?
        if let c = doc["verification_uri_complete"] {
            guard let s = c.stringValue, isShowableURL(s) else {
                return .failure(Refusal(.deviceAuthorizationFailed, "\(who) verification_uri_complete is not an https URL"))
            }
            complete = s
        }
        guard let expires = wholeSeconds(doc["expires_in"]), expires > 0 else {
            return .failure(Refusal(.deviceAuthorizationFailed, "\(who) answer has no positive expires_in"))
        }
        var interval = defaultInterval
        if let i = doc["interval"] {
            guard let n = wholeSeconds(i), n >= 0, n <= maxInterval else {
                return .failure(Refusal(.deviceAuthorizationFailed, "\(who) interval is not 0...\(maxInterval) seconds"))
            }
            interval = max(1, n)    // 0 would mean polling back to back until the IdP objects
        }
        return .success(DeviceAuthorization(deviceCode: device, userCode: user, verificationURI: uri,
                                            verificationURIComplete: complete, expiresIn: expires, interval: interval))
    }

    /// A JSON number that is a whole number of seconds (up to a day).
    static func wholeSeconds(_ v: JSONValue?) -> Int? {
        guard let d = v?.numberValue, d.rounded() == d, d >= 0, d <= 86_400 else { return nil }
        return Int(d)
    }

    public static func isPrintable(_ s: String) -> Bool {
        s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// https (or loopback http), printable ASCII without spaces, so it shows and copies as one word.
    public static func isShowableURL(_ s: String) -> Bool {
        s.utf8.count <= 2048 && isPrintable(s) && !s.contains(" ") && EndpointRule.isAcceptable(s)
    }

    /// An IdP's error text, cut and stripped of anything that is not printable ASCII.
    public static func safeText(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.prefix(80).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? $0 : "?" }))
    }
}

/// User codes (RFC 8628 §6.1): 8 letters from an alphabet without vowels or look-alikes, shown as
/// XXXX-XXXX; 20^8 ≈ 2.6·10^10 codes. The relay and the emulator make them; the helper shows them.
public enum UserCode {
    public static let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ".utf8)
    public static let length = 8

    /// A fresh code in its stored form: 8 upper-case letters, no dash.
    public static func generate<R: RandomNumberGenerator>(using rng: inout R) -> String {
        var bytes: [UInt8] = []
        for _ in 0..<length { bytes.append(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What the person typed, as the stored form (8 upper-case letters), or nil. Case, spaces and
    /// dashes do not matter; anything else makes it not a code.
    public static func normalize(_ typed: String) -> String? {
        guard typed.utf8.count <= 32 else { return nil }
        var out: [UInt8] = []
        for b in typed.utf8 {
            if b == UInt8(ascii: "-") || b == UInt8(ascii: " ") { continue }
            let upper = (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) ? b - 32 : b
            guard alphabet.contains(upper) else { return nil }
            out.append(upper)
        }
        guard out.count == length else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// Eight letters or digits, with or without a dash (any case) → `XXXX-XXXX` upper case;
    /// anything else an IdP chose is shown verbatim.
    public static func display(_ code: String) -> String {
        let bare = code.filter { $0 != "-" }
        guard bare.count == 8, bare.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }),
              code.filter({ $0 == "-" }).count <= 1 else { return code }
        let upper = String(bare.unicodeScalars.map { ("a"..."z").contains($0) ? Character(Unicode.Scalar($0.value - 32) ?? $0) : Character($0) })
        return upper.prefix(4) + "-" + upper.suffix(4)
    }
}

/// What the person sees in `flow = device | relay` (DESIGN.md §7): one conversation call.
public enum DevicePrompt {
    public static let prompt = "Press Enter after you have signed in: "

    public static func instructions(host: String, user: String?, rhost: String, authorization a: DeviceAuthorization) -> String {
        var who = "Sign in to \(host)"
        if let user { who += " as \(user)" }
        if !rhost.isEmpty { who += " (request from \(rhost))" }
        var text = "\(who) with your Cognito account:\n  open \(a.verificationURI) and enter \(UserCode.display(a.userCode))"
        if let complete = a.verificationURIComplete { text += "\n  or go straight to \(complete)" }
        return text
    }

    /// The second prompt, after Enter before the sign-in reached us: the code again.
    public static func notYet(_ a: DeviceAuthorization) -> String {
        "Not signed in yet. Open \(a.verificationURI) and enter \(UserCode.display(a.userCode)), then press Enter: "
    }
}

/// One answer of the token endpoint (IdP) or the relay's `/token` to a device-code poll
/// (RFC 8628 §3.5).
public enum DevicePollAnswer: Sendable, Equatable {
    case pending
    case slowDown
    case denied
    case expired
    /// 200: the body, for the flow to read (tokens from an IdP; `code` + `redirect_uri` from the relay).
    case granted(Data)
    /// Anything else: an error code we do not know, a 5xx, a body that is not JSON.
    case failed(String)

    public static func parse(status: Int, body: Data) -> DevicePollAnswer {
        if status == 200 { return .granted(body) }
        if status >= 500 { return .failed("HTTP \(status)") }
        guard let error = JSONValue.parseObject(body)?["error"]?.stringValue else {
            return .failed("HTTP \(status) without an OAuth error")
        }
        switch error {
        case "authorization_pending": return .pending
        case "slow_down": return .slowDown
        case "access_denied": return .denied
        case "expired_token": return .expired
        default: return .failed("error \(DeviceAuthorization.safeText(error))")
        }
    }
}

/// The polling schedule of one device code (RFC 8628 §3.5), as a pure state machine over the
/// seconds since the device authorization was answered: poll every `interval` seconds,
/// `slow_down` adds 5 s for good, stop at the device code's `expires_in` or the login's end.
public struct DevicePollSchedule: Sendable, Equatable {
    public static let slowDownStep = 5.0

    public private(set) var interval: Double
    /// When the next poll may go out (seconds since the start).
    public private(set) var nextPoll: Double
    public let expiresAt: Double
    public private(set) var polls = 0
    /// When the last poll went out (seconds since the start); 0 before the first.
    public private(set) var lastPoll = 0.0

    public init(interval: Int, expiresIn: Int) {
        self.interval = Double(interval)
        self.nextPoll = Double(interval)
        self.expiresAt = Double(expiresIn)
    }

    public enum Step: Sendable, Equatable {
        /// Poll again at this time.
        case pollAt(Double)
        case granted
        case denied
        /// The device code expired (or the IdP said `expired_token`).
        case expired
        case failed(String)
    }

    /// A poll went out at `now`; record it (the next one is due an interval later).
    public mutating func polled(at now: Double) {
        polls += 1
        lastPoll = now
        nextPoll = now + interval
    }

    /// When a poll asked for by the person (Enter) may go out: the scheduled one, or sooner where
    /// the server allows polls `fraction` of an interval apart (the relay answers `slow_down` only
    /// to polls less than half an interval apart, §7; an RFC 8628 IdP gets the full interval).
    public func enterPollAt(fraction: Double) -> Double {
        min(nextPoll, lastPoll + interval * max(0, min(1, fraction)))
    }

    /// What follows an answer that arrived at `now`.
    public mutating func next(after answer: DevicePollAnswer, at now: Double) -> Step {
        switch answer {
        case .granted: return .granted
        case .denied: return .denied
        case .expired: return .expired
        case .failed(let why): return .failed(why)
        case .slowDown:
            interval += Self.slowDownStep
            nextPoll = max(nextPoll, now) + Self.slowDownStep
        case .pending:
            break
        }
        return nextPoll >= expiresAt ? .expired : .pollAt(nextPoll)
    }
}
