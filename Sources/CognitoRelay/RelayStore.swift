import CognitoAuthCore

/// One device authorization as the relay keeps it. What it holds cannot sign anyone in: the device
/// code only as its SHA-256, the state only as its SHA-256, the host's PKCE challenge (not the
/// verifier) and nonce, and Cognito's code only until the helper has taken it once (a code without
/// the verifier is useless anyway). Times are Unix milliseconds.
public struct SignInRecord: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pending        // waiting for the person to enter the user code
        case confirmed      // the person pressed Continue; the browser went to Cognito
        case signedIn = "signed_in"  // Cognito's callback brought a code
        case denied         // Cognito's callback brought an error, or the person said "not me"
    }
    public var deviceHash: String
    public var userCode: String
    public var hostKey: String
    public var codeChallenge: String
    public var nonce: String
    public var scope: String
    public var host: String
    public var user: String
    public var rhost: String
    public var createdAt: Int64
    public var expiresAt: Int64
    public var status: Status = .pending
    public var stateHash: String?
    public var code: String?
    public var lastPoll: Int64?
}

/// What `/token` answers for one poll.
public enum PollAnswer: Sendable, Equatable {
    case pending
    case slowDown
    case code(String)
    case denied
    case expired
}

/// The relay's state, shared by every instance that uses the same store. Every query takes `now`
/// and enforces the TTL itself, so an expired row is dead even before `purge` deletes it.
public protocol RelayStore: Sendable {
    /// Creates the schema (PostgreSQL) or nothing (memory).
    func prepare() async throws
    /// False when the user code is already taken (the caller draws another one).
    func insert(_ record: SignInRecord) async throws -> Bool
    /// The pending, unexpired sign-in for a user code.
    func pending(userCode: String, now: Int64) async throws -> SignInRecord?
    /// Whether a sign-in with this user code is still stored but past its expiry (the host gave
    /// up, or code_lifetime passed) and not yet purged: only to choose the words of a refusal.
    func expired(userCode: String, now: Int64) async throws -> Bool
    /// pending → confirmed with the browser's state, once: a used user code is refused from then on.
    func confirm(userCode: String, stateHash: String, now: Int64) async throws -> SignInRecord?
    /// pending → denied: the person said this sign-in is not theirs.
    func deny(userCode: String, now: Int64) async throws -> Bool
    /// confirmed → signed_in (with Cognito's code) or denied (code nil), found by the state's hash.
    func finish(stateHash: String, code: String?, now: Int64) async throws -> Bool
    /// One poll: records its time, answers slow_down for polls closer than `minGap` while pending,
    /// and hands out a code or a denial exactly once (the row is deleted as it is answered).
    /// Only the host secret that started the sign-in (`hostKey`) may poll it; any other is told
    /// `expired_token`, as for an unknown device code.
    func poll(deviceHash: String, hostKey: String, now: Int64, minGap: Int64) async throws -> PollAnswer
    /// Counted events (wrong user codes per address, device authorizations per host secret).
    /// `admit` records one at `at` unless `limit` of them already happened after `since`, as one
    /// step: concurrent requests, on one instance or on several sharing the store, cannot both take
    /// the last place (a count followed by a record let 611 of 600 through under 64 at once).
    /// The place taken (1…limit), or nil when there was none left.
    func admit(event: String, key: String, at: Int64, since: Int64, limit: Int) async throws -> Int?
    /// Gives back one place `admit` took at `at` (a code that turned out usable is no wrong code).
    func release(event: String, key: String, at: Int64) async throws
    func count(event: String, key: String, since: Int64) async throws -> Int
    /// Deletes expired sign-ins and events older than `eventsBefore`.
    func purge(now: Int64, eventsBefore: Int64) async throws
}

/// One relay instance's store: a value behind an actor, gone when the process ends.
public actor MemoryRelayStore: RelayStore {
    private var byDevice: [String: SignInRecord] = [:]
    private var deviceByUserCode: [String: String] = [:]
    private var deviceByState: [String: String] = [:]
    private var events: [String: [Int64]] = [:]

    public init() {}

    public func prepare() async throws {}

    public func insert(_ record: SignInRecord) async throws -> Bool {
        guard deviceByUserCode[record.userCode] == nil, byDevice[record.deviceHash] == nil else { return false }
        byDevice[record.deviceHash] = record
        deviceByUserCode[record.userCode] = record.deviceHash
        return true
    }

    private func live(userCode: String, now: Int64) -> SignInRecord? {
        guard let d = deviceByUserCode[userCode], let r = byDevice[d], r.expiresAt > now else { return nil }
        return r
    }

    public func pending(userCode: String, now: Int64) async throws -> SignInRecord? {
        guard let r = live(userCode: userCode, now: now), r.status == .pending else { return nil }
        return r
    }

    public func expired(userCode: String, now: Int64) async throws -> Bool {
        guard let d = deviceByUserCode[userCode], let r = byDevice[d] else { return false }
        return r.expiresAt <= now
    }

    public func confirm(userCode: String, stateHash: String, now: Int64) async throws -> SignInRecord? {
        guard var r = live(userCode: userCode, now: now), r.status == .pending else { return nil }
        r.status = .confirmed
        r.stateHash = stateHash
        byDevice[r.deviceHash] = r
        deviceByState[stateHash] = r.deviceHash
        return r
    }

    public func deny(userCode: String, now: Int64) async throws -> Bool {
        guard var r = live(userCode: userCode, now: now), r.status == .pending else { return false }
        r.status = .denied
        byDevice[r.deviceHash] = r
        return true
    }

    public func finish(stateHash: String, code: String?, now: Int64) async throws -> Bool {
        guard let d = deviceByState[stateHash], var r = byDevice[d], r.expiresAt > now, r.status == .confirmed else { return false }
        r.status = code == nil ? .denied : .signedIn
        r.code = code
        byDevice[d] = r
        deviceByState[stateHash] = nil
        return true
    }

    public func poll(deviceHash: String, hostKey: String, now: Int64, minGap: Int64) async throws -> PollAnswer {
        guard var r = byDevice[deviceHash], r.expiresAt > now, r.hostKey == hostKey else { return .expired }
        switch r.status {
        case .signedIn:
            remove(r)
            guard let code = r.code else { return .expired }
            return .code(code)
        case .denied:
            remove(r)
            return .denied
        case .pending, .confirmed:
            let last = r.lastPoll
            r.lastPoll = now
            byDevice[deviceHash] = r
            if let last, now - last < minGap { return .slowDown }
            return .pending
        }
    }

    private func remove(_ r: SignInRecord) {
        byDevice[r.deviceHash] = nil
        deviceByUserCode[r.userCode] = nil
        if let s = r.stateHash { deviceByState[s] = nil }
    }

    public func admit(event: String, key: String, at: Int64, since: Int64, limit: Int) async throws -> Int? {
        // One actor call with no suspension in it: nothing runs on this store between the count and the append.
        let k = event + " " + key
        let taken = events[k]?.reduce(0) { $0 + ($1 > since ? 1 : 0) } ?? 0
        guard taken < limit else { return nil }
        events[k, default: []].append(at)
        return taken + 1
    }

    public func release(event: String, key: String, at: Int64) async throws {
        let k = event + " " + key
        if let i = events[k]?.firstIndex(of: at) { events[k]?.remove(at: i) }
    }

    public func count(event: String, key: String, since: Int64) async throws -> Int {
        events[event + " " + key]?.reduce(0) { $0 + ($1 > since ? 1 : 0) } ?? 0
    }

    public func purge(now: Int64, eventsBefore: Int64) async throws {
        for r in byDevice.values where r.expiresAt <= now { remove(r) }
        for (k, times) in events {
            let kept = times.filter { $0 > eventsBefore }
            events[k] = kept.isEmpty ? nil : kept
        }
    }

    /// Everything the store holds, one sign-in or event a line: what the acceptance test reads to
    /// show that no token, verifier, secret or handed-out code is kept.
    public func dump() -> String {
        var lines: [String] = []
        for r in byDevice.values.sorted(by: { $0.createdAt < $1.createdAt }) {
            lines.append([r.deviceHash, r.userCode, r.hostKey, r.codeChallenge, r.nonce, r.scope, r.host, r.user, r.rhost,
                          String(r.createdAt), String(r.expiresAt), r.status.rawValue, r.stateHash ?? "-", r.code ?? "-",
                          r.lastPoll.map(String.init) ?? "-"].joined(separator: " "))
        }
        for (k, times) in events.sorted(by: { $0.key < $1.key }) {
            lines.append("event \(k) \(times.map(String.init).joined(separator: ","))")
        }
        return lines.joined(separator: "\n")
    }
}
