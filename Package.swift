// swift-tools-version:6.1
import PackageDescription

// Dependencies, and why each is here (README "Dependencies"):
// - swift-crypto: SHA-256 for PKCE/at_hash and RSA PKCS#1 v1.5 verification (CryptoExtras).
// - swift-argument-parser: the CLI's subcommands, help and exit codes.
// - system libcurl (CCurl, dlopen'ed `libcurl.so.4`): the one HTTP client of the helper and the CLI;
//   the system's TLS and CA store, no second TLS stack built in, `ca_file` as CURLOPT_CAINFO.
// - system OpenSSL (COpenSSL): the emulator's TLS server only (`cognito-auth emulator --tls`).
// - system libqrencode (CQRencode, dlopen'ed `libqrencode.so.4`): the QR code of the device/relay
//   prompt (`qr`); a small C library, loaded only when a QR code is drawn.
// - hummingbird + postgres-nio (+ swift-nio-ssl, which postgres-nio already uses, for postgres_tls):
//   cognito-auth-relay only (its HTTP server and its shared store); the helper and the CLI never
//   link them (ARCHITECTURE.md §7, §8).
let package = Package(
    name: "cognito-auth",
    products: [
        .executable(name: "cognito-auth", targets: ["cognito-auth"]),
        .executable(name: "cognito-auth-helper", targets: ["cognito-auth-helper"]),
        .executable(name: "cognito-auth-relay", targets: ["cognito-auth-relay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.36.0"),
        // NIOHTTPTypes (already resolved through Hummingbird): the relay's request deadline handler.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // The system libcurl, opened with dlopen at the first request (or preloaded on a thread
        // while the prompt is shown) rather than at exec: its library tree was most of start-up.
        .target(name: "CCurl"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // The system libqrencode, opened with dlopen when a QR code is drawn (never over SSH).
        .target(name: "CQRencode"),
        .target(
            name: "CognitoAuthCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // prctl(2) and SO_PEERCRED for the pam-helper's first steps (pam/PROTOCOL.md).
        .target(name: "CHelperShims"),
        // What runs at the door: Core + Runtime import FoundationEssentials only (no Foundation,
        // no ICU), so the helper links little and starts fast (ARCHITECTURE.md §8).
        .target(
            name: "CognitoAuthRuntime",
            dependencies: ["CognitoAuthCore", "CHelperShims", "CCurl", "CQRencode"]
        ),
        // The admin's I/O that the door never needs (doctor runs `sshd -T` through Foundation's
        // Process): kept out of Runtime so the helper does not link it.
        .target(
            name: "CognitoAuthAdmin",
            dependencies: ["CognitoAuthCore", "CognitoAuthRuntime"]
        ),
        // What pam_cognito.so execs at every login: a main and nothing more.
        .executableTarget(
            name: "cognito-auth-helper",
            dependencies: ["CognitoAuthCore", "CognitoAuthRuntime"]
        ),
        .target(
            name: "CognitoEmulator",
            dependencies: [
                "CognitoAuthCore",
                "COpenSSL",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "cognito-auth",
            dependencies: [
                "CognitoAuthCore",
                "CognitoAuthRuntime",
                "CognitoAuthAdmin",
                "CognitoEmulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The device-flow relay for Cognito (ARCHITECTURE.md §7): routes, pages, limits and its
        // store, built by a function of (config, store) so tests run it without sockets.
        .target(
            name: "CognitoRelay",
            dependencies: [
                "CognitoAuthCore",
                "CognitoAuthRuntime",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // postgres_tls: TLS to the shared store (postgres-nio's own TLS dependency).
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "cognito-auth-relay",
            dependencies: [
                "CognitoRelay", "CognitoAuthCore", "CognitoAuthRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmark: ID-token verifications per second (scripts/bench-verify). Not installed.
        .executableTarget(
            name: "cognito-auth-bench",
            dependencies: ["CognitoAuthCore", "CognitoEmulator"]
        ),
        .testTarget(
            name: "CognitoAuthCoreTests",
            dependencies: [
                "CognitoAuthCore",
                "CognitoEmulator",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "CognitoAuthRuntimeTests",
            dependencies: ["CognitoAuthCore", "CognitoAuthRuntime", "CognitoEmulator"]
        ),
        .testTarget(
            name: "CognitoRelayTests",
            dependencies: [
                "CognitoRelay",
                "CognitoAuthCore",
                "CognitoEmulator",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CognitoEmulatorTests",
            dependencies: ["CognitoAuthCore", "CognitoAuthRuntime", "CognitoEmulator"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer program over Core's parsers (scripts/fuzz, ARCHITECTURE.md §11). Declared only when
// COGNITO_AUTH_FUZZ=1 (scripts/fuzz sets it and builds with --sanitize=fuzzer into .build-fuzz):
// libFuzzer supplies its `main`, so an ordinary build could not link it. Core only: no product
// target gains a dependency.
if Context.environment["COGNITO_AUTH_FUZZ"] == "1" {
    package.targets.append(.executableTarget(
        name: "cognito-auth-fuzz",
        dependencies: [
            "CognitoAuthCore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ],
        path: "Tests/Fuzz/Swift"
    ))
}
