// cognito-auth-relay --config /etc/cognito-auth/relay.conf (ARCHITECTURE.md §7; cognito-auth-relay(8)).
import CognitoAuthCore
import CognitoAuthRuntime
import CognitoRelay
import FoundationEssentials
import Hummingbird
import Logging
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String, exit code: Int32) -> Never {
    let bytes = Array(("cognito-auth-relay: " + message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

var configPath = "/etc/cognito-auth/relay.conf"
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--config":
        guard let p = args.popFirst() else { fail("--config needs a path", exit: 2) }
        configPath = p
    case "--version":
        print("cognito-auth-relay \(Version.string)")
        exit(0)
    case "-h", "--help":
        print("usage: cognito-auth-relay [--config PATH]   (default /etc/cognito-auth/relay.conf)")
        exit(0)
    default:
        fail("unknown argument '\(a.prefix(64))'; usage: cognito-auth-relay [--config PATH]", exit: 2)
    }
}

// Files are trusted as on hosts (ARCHITECTURE.md §4), owned by the user the relay runs as.
let owner = geteuid()
let config: RelayConfig
let hostSecrets: [String]
do {
    config = try RelayConfigParser.parse(try ProtectedFile.read(configPath, kind: .config, requiredOwner: owner), path: configPath)
    if case .postgresql(let url) = config.store, url.password != nil {
        // A database password in the file makes the file a secret.
        try ProtectedFile.verify(configPath, kind: .secret, requiredOwner: owner)
    }
    hostSecrets = try RelayConfigParser.hostSecrets(
        try ProtectedFile.read(config.hostSecretFile, kind: .secret, requiredOwner: owner), path: config.hostSecretFile)
    if let ca = config.provider.caFile { try ProtectedFile.verify(ca, kind: .config, requiredOwner: owner) }
    // Whoever can write the database's trust anchors can read and forge the relay's store.
    if let ca = config.postgresCAFile { try ProtectedFile.verify(ca, kind: .config, requiredOwner: owner) }
} catch {
    fail("configuration: \(error)", exit: 2)
}

// The authorize endpoint, from discovery, once at start.
let authorizeEndpoint: String
do {
    let http = HTTPClient(timeout: 10, caFile: config.provider.caFile)
    let response = try http.get(config.provider.discoveryURL, deadline: .after(seconds: 15))
    guard response.status == 200 else { fail("discovery \(config.provider.discoveryURL) answered HTTP \(response.status)", exit: 3) }
    switch ProviderMetadata.parse(response.body, expectedIssuer: config.provider.issuer) {
    case .success(let m): authorizeEndpoint = m.authorizationEndpoint
    case .failure(let r): fail("discovery: \(r)", exit: 3)
    }
} catch {
    fail("discovery: \(error)", exit: 3)
}

var logger = Logger(label: "cognito-auth-relay")
logger.logLevel = .info
let settings = RelaySettings(config: config, hostSecrets: hostSecrets, authorizeEndpoint: authorizeEndpoint,
                             now: { Int64(Date().timeIntervalSince1970 * 1000) })
let storeTLS = config.store == .memory ? "" : ", postgres_tls \(config.postgresTLS.rawValue)"
logger.info("relay: listening on \(config.listenHost):\(config.listenPort) for \(config.publicURL), store \(config.storeDescription)\(storeTLS)")
do {
    switch config.store {
    case .memory:
        try await buildRelayApplication(settings: settings, store: MemoryRelayStore(), logger: logger).runService()
    case .postgresql(let url):
        let store: PostgresRelayStore
        do {
            store = try PostgresRelayStore(url: url, tls: config.postgresTLS, caFile: config.postgresCAFile, logger: logger)
        } catch {
            fail("configuration: postgres_ca_file \(config.postgresCAFile ?? ""): \(error)", exit: 2)
        }
        var app = buildRelayApplication(settings: settings, store: store, logger: logger)
        app.addServices(store.client)
        try await app.runService()
    }
} catch {
    fail("\(error)", exit: 1)
}
