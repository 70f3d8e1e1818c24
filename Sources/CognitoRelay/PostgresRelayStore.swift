import CognitoAuthCore
import Logging
import NIOSSL
import PostgresNIO

/// The store several relay instances share (`store = postgresql://…`). Each method is one or two
/// single statements whose WHERE clauses carry the TTL and the expected status, so two instances
/// racing on one sign-in cannot both win: a user code is confirmed once, a code handed out once
/// (it is deleted by the statement that returns it).
public struct PostgresRelayStore: RelayStore {
    public let client: PostgresClient
    let logger: Logger

    /// - Parameters:
    ///   - tls: `postgres_tls`; `require` verifies the server's certificate chain and
    ///     its name (or IP address) as written in `store`, against `caFile` (PEM) or the system store.
    public init(url: PostgresURL, tls: RelayConfig.PostgresTLS, caFile: String?, logger: Logger) throws {
        let configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password,
            database: url.database, tls: try Self.tls(tls, caFile: caFile))
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    static func tls(_ mode: RelayConfig.PostgresTLS, caFile: String?) throws -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable:
            return .disable
        case .require:
            var t = TLSConfiguration.makeClientConfiguration()
            t.certificateVerification = .fullVerification
            t.minimumTLSVersion = .tlsv12
            if let caFile { t.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
            return .require(t)
        }
    }

    struct NotReachable: Error, CustomStringConvertible {
        var description: String
    }

    /// How long start-up waits for the first connection. The pool itself retries for ever (a
    /// refused TLS handshake, a wrong password); the relay should stop and say so instead, since
    /// it cannot serve without its store (the pool's log lines above say why).
    static let prepareTimeout: Duration = .seconds(15)

    public func prepare() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.createSchema() }
            group.addTask {
                try await Task.sleep(for: Self.prepareTimeout)
                throw NotReachable(description: "no connection to the PostgreSQL store within \(Self.prepareTimeout) (postgres_tls, postgres_ca_file, the server's pg_hba.conf and the password are what to check)")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    func createSchema() async throws {
        try await client.withConnection { conn in
            // Instances starting together: one creates the schema, the others wait for it.
            try await conn.query("SELECT pg_advisory_lock(5313200)", logger: logger)
            do {
                try await conn.query("""
                    CREATE TABLE IF NOT EXISTS relay_sign_ins (
                      device_hash text PRIMARY KEY,
                      user_code text NOT NULL UNIQUE,
                      host_key text NOT NULL,
                      code_challenge text NOT NULL,
                      nonce text NOT NULL,
                      scope text NOT NULL,
                      host text NOT NULL,
                      username text NOT NULL,
                      rhost text NOT NULL,
                      created_at bigint NOT NULL,
                      expires_at bigint NOT NULL,
                      status text NOT NULL,
                      state_hash text UNIQUE,
                      code text,
                      last_poll bigint)
                    """, logger: logger)
                try await conn.query("CREATE INDEX IF NOT EXISTS relay_sign_ins_expires ON relay_sign_ins (expires_at)", logger: logger)
                try await conn.query("CREATE TABLE IF NOT EXISTS relay_events (event text NOT NULL, key text NOT NULL, at bigint NOT NULL)", logger: logger)
                try await conn.query("CREATE INDEX IF NOT EXISTS relay_events_key ON relay_events (event, key, at)", logger: logger)
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(5313200)", logger: logger)
                throw error
            }
            try await conn.query("SELECT pg_advisory_unlock(5313200)", logger: logger)
        }
    }

    public func insert(_ r: SignInRecord) async throws -> Bool {
        let rows = try await client.query("""
            INSERT INTO relay_sign_ins (device_hash, user_code, host_key, code_challenge, nonce, scope, host, username,
                                        rhost, created_at, expires_at, status)
            VALUES (\(r.deviceHash), \(r.userCode), \(r.hostKey), \(r.codeChallenge), \(r.nonce), \(r.scope), \(r.host),
                    \(r.user), \(r.rhost), \(r.createdAt), \(r.expiresAt), 'pending')
            ON CONFLICT DO NOTHING RETURNING device_hash
            """, logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    private func record(from rows: PostgresRowSequence) async throws -> SignInRecord? {
        for try await (device, userCode, hostKey, challenge, nonce, scope, host, user, rhost, created, expires) in
            rows.decode((String, String, String, String, String, String, String, String, String, Int64, Int64).self) {
            return SignInRecord(deviceHash: device, userCode: userCode, hostKey: hostKey, codeChallenge: challenge,
                                nonce: nonce, scope: scope, host: host, user: user, rhost: rhost,
                                createdAt: created, expiresAt: expires)
        }
        return nil
    }

    public func pending(userCode: String, now: Int64) async throws -> SignInRecord? {
        try await record(from: client.query("""
            SELECT device_hash, user_code, host_key, code_challenge, nonce, scope, host, username, rhost, created_at, expires_at
            FROM relay_sign_ins WHERE user_code = \(userCode) AND status = 'pending' AND expires_at > \(now)
            """, logger: logger))
    }

    public func expired(userCode: String, now: Int64) async throws -> Bool {
        let rows = try await client.query(
            "SELECT device_hash FROM relay_sign_ins WHERE user_code = \(userCode) AND expires_at <= \(now)", logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    public func confirm(userCode: String, stateHash: String, now: Int64) async throws -> SignInRecord? {
        var r = try await record(from: client.query("""
            UPDATE relay_sign_ins SET status = 'confirmed', state_hash = \(stateHash)
            WHERE user_code = \(userCode) AND status = 'pending' AND expires_at > \(now)
            RETURNING device_hash, user_code, host_key, code_challenge, nonce, scope, host, username, rhost, created_at, expires_at
            """, logger: logger))
        r?.status = .confirmed
        r?.stateHash = stateHash
        return r
    }

    public func deny(userCode: String, now: Int64) async throws -> Bool {
        let rows = try await client.query("""
            UPDATE relay_sign_ins SET status = 'denied'
            WHERE user_code = \(userCode) AND status = 'pending' AND expires_at > \(now) RETURNING device_hash
            """, logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    public func finish(stateHash: String, code: String?, now: Int64) async throws -> Bool {
        let status = code == nil ? "denied" : "signed_in"
        let rows = try await client.query("""
            UPDATE relay_sign_ins SET status = \(status), code = \(code), state_hash = NULL
            WHERE state_hash = \(stateHash) AND status = 'confirmed' AND expires_at > \(now) RETURNING device_hash
            """, logger: logger)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    public func poll(deviceHash: String, hostKey: String, now: Int64, minGap: Int64) async throws -> PollAnswer {
        let done = try await client.query("""
            DELETE FROM relay_sign_ins
            WHERE device_hash = \(deviceHash) AND host_key = \(hostKey) AND expires_at > \(now)
              AND status IN ('signed_in', 'denied')
            RETURNING status, code
            """, logger: logger)
        for try await (status, code) in done.decode((String, String?).self) {
            if status == "signed_in", let code { return .code(code) }
            return status == "denied" ? .denied : .expired
        }
        let polled = try await client.query("""
            UPDATE relay_sign_ins s SET last_poll = \(now)
            FROM (SELECT device_hash, last_poll FROM relay_sign_ins
                  WHERE device_hash = \(deviceHash) AND host_key = \(hostKey) AND expires_at > \(now) FOR UPDATE) old
            WHERE s.device_hash = old.device_hash RETURNING old.last_poll
            """, logger: logger)
        for try await last in polled.decode(Int64?.self) {
            if let last, now - last < minGap { return .slowDown }
            return .pending
        }
        return .expired
    }

    public func admit(event: String, key: String, at: Int64, since: Int64, limit: Int) async throws -> Int? {
        let lockName = event + " " + key
        return try await client.withTransaction(logger: logger) { conn in
            // One transaction at a time per (event, key), across instances. Under READ COMMITTED (set
            // here, whatever the database's default_transaction_isolation says) each statement after
            // the lock reads a fresh snapshot, so the count sees every place taken so far; under
            // REPEATABLE READ the snapshot would predate the wait and miss them.
            try await conn.query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", logger: logger)
            try await conn.query("SELECT pg_advisory_xact_lock(hashtextextended(\(lockName), 0))", logger: logger)
            let rows = try await conn.query(
                "SELECT count(*) FROM relay_events WHERE event = \(event) AND key = \(key) AND at > \(since)", logger: logger)
            var taken: Int64 = 0
            for try await n in rows.decode(Int64.self) { taken = n }
            guard taken < Int64(limit) else { return nil }
            try await conn.query("INSERT INTO relay_events (event, key, at) VALUES (\(event), \(key), \(at))", logger: logger)
            return Int(taken) + 1
        }
    }

    public func release(event: String, key: String, at: Int64) async throws {
        try await client.query("""
            DELETE FROM relay_events WHERE ctid = (SELECT ctid FROM relay_events
                                                   WHERE event = \(event) AND key = \(key) AND at = \(at) LIMIT 1)
            """, logger: logger)
    }

    public func count(event: String, key: String, since: Int64) async throws -> Int {
        let rows = try await client.query(
            "SELECT count(*) FROM relay_events WHERE event = \(event) AND key = \(key) AND at > \(since)", logger: logger)
        for try await n in rows.decode(Int64.self) { return Int(n) }
        return 0
    }

    public func purge(now: Int64, eventsBefore: Int64) async throws {
        try await client.query("DELETE FROM relay_sign_ins WHERE expires_at <= \(now)", logger: logger)
        try await client.query("DELETE FROM relay_events WHERE at <= \(eventsBefore)", logger: logger)
    }
}
