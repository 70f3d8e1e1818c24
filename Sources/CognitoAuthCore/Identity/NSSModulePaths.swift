import FoundationEssentials

/// The store and config paths libnss_cognito.so.2 was built with (`COGNITO_STORE_DIR`,
/// `COGNITO_CONFIG_DIR` in pam/nss_cognito.c, which embeds them as the NUL-terminated strings
/// `COGNITO_STORE_DIR=<path>` and `COGNITO_CONFIG=<path>`). The module answers sshd before
/// authentication from its own paths and the helper writes to state_dir: with
/// `provision = on_first_login` they must be the same, or sshd keeps an entry nobody writes.
public struct NSSModulePaths: Sendable, Equatable {
    public var storeDir: String
    public var config: String
    public init(storeDir: String, config: String) { self.storeDir = storeDir; self.config = config }

    /// Where the Debian package installs the module (`provision_nss_module`'s default).
    #if arch(arm64)
    public static let defaultModule = "/lib/aarch64-linux-gnu/libnss_cognito.so.2"
    #else
    public static let defaultModule = "/lib/x86_64-linux-gnu/libnss_cognito.so.2"
    #endif

    /// The paths in the module file's bytes: each marker must occur, always with the same absolute
    /// path after it. nil for anything else (not our module, or a build that disagrees with itself).
    public static func parse(_ bytes: [UInt8]) -> NSSModulePaths? {
        guard let store = value(after: "COGNITO_STORE_DIR=", in: bytes), let config = value(after: "COGNITO_CONFIG=", in: bytes) else { return nil }
        return NSSModulePaths(storeDir: store, config: config)
    }

    static func value(after marker: String, in bytes: [UInt8]) -> String? {
        let m = Array(marker.utf8)
        var found: String?
        var i = 0
        while i + m.count <= bytes.count {
            guard bytes[i] == m[0], bytes[i..<(i + m.count)].elementsEqual(m) else { i += 1; continue }
            let start = i + m.count
            var end = start
            while end < bytes.count, bytes[end] != 0 { end += 1 }
            guard end < bytes.count, end - start < 4096, let v = String(validating: bytes[start..<end], as: UTF8.self),
                  v.hasPrefix("/"), found == nil || found == v else { return nil }
            found = v
            i = end
        }
        return found
    }

    /// nil when `config` (read from `configPath`) and the module agree; else the error naming the key and the fix.
    public func check(_ config: Config, configPath: String, modulePath: String) -> ConfigError? {
        var stateDir = config.stateDir
        while stateDir.count > 1, stateDir.hasSuffix("/") { stateDir.removeLast() }
        let store = (stateDir == "/" ? "" : stateDir) + "/accounts"
        if store != storeDir {
            let fix = storeDir.hasSuffix("/accounts") && storeDir.count > "/accounts".count
                ? "set state_dir = \(storeDir.dropLast("/accounts".count)), or build the module for this store (make -C pam NSS_DEFINES='-DCOGNITO_STORE_DIR=\"\(store)\"')"
                : "build the module for this store (make -C pam NSS_DEFINES='-DCOGNITO_STORE_DIR=\"\(store)\"')"
            return ConfigError(file: configPath, line: nil, key: "state_dir",
                               message: "provision = on_first_login: \(modulePath) answers sshd from \(storeDir), but state_dir puts the store in \(store): sshd would keep entries the helper never writes; \(fix)")
        }
        if configPath != self.config {
            return ConfigError(file: configPath, line: nil, key: "provision",
                               message: "provision = on_first_login: \(modulePath) reads its provision settings from \(self.config), not from this file, so the uid it tells sshd could differ from the one written; use that file (pam_cognito.so config=\(self.config)), or build the module with -DCOGNITO_CONFIG_DIR")
        }
        return nil
    }
}
