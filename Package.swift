// swift-tools-version:6.1
import PackageDescription

// Dependencies, and why each is here (README "Dependencies"):
// - swift-crypto: SHA-256 for PKCE/at_hash and RSA PKCS#1 v1.5 verification (CryptoExtras).
// - swift-argument-parser: the CLI's subcommands, help and exit codes.
// HTTP uses the toolchain's FoundationNetworking (URLSession over the system libcurl), so no
// second TLS stack is built into the helper.
let package = Package(
    name: "cognito-auth",
    products: [
        .executable(name: "cognito-auth", targets: ["cognito-auth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(
            name: "CognitoAuthCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // prctl(2) and SO_PEERCRED for the pam-helper's first steps (pam/PROTOCOL.md).
        .target(name: "CHelperShims"),
        .target(
            name: "CognitoAuthRuntime",
            dependencies: ["CognitoAuthCore", "CHelperShims"]
        ),
        .target(
            name: "CognitoEmulator",
            dependencies: [
                "CognitoAuthCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "cognito-auth",
            dependencies: [
                "CognitoAuthCore",
                "CognitoAuthRuntime",
                "CognitoEmulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
            name: "CognitoEmulatorTests",
            dependencies: ["CognitoAuthCore", "CognitoAuthRuntime", "CognitoEmulator"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
