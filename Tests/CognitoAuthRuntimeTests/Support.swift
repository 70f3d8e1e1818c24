import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory below /run/cognito-auth-unit (root 0755 all the way up: protected files below
/// a group- or world-writable directory such as /tmp are refused), removed when released.
final class SafeDirectory {
    static let root = "/run/cognito-auth-unit"
    let path: String

    init() {
        mkdir(Self.root, 0o755)
        chmod(Self.root, 0o755)
        var t = Array("\(Self.root)/t-XXXXXX".utf8CString)
        path = t.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress, mkdtemp(base) != nil else { return "/nonexistent/cognito-auth-unit" }
            return String(cString: base)
        }
        chmod(path, 0o755)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// `name` below this directory, as a directory with `mode`.
    @discardableResult
    func directory(_ name: String, mode: mode_t = 0o755) -> String {
        let p = "\(path)/\(name)"
        mkdir(p, 0o700)
        chmod(p, mode)
        return p
    }

    @discardableResult
    func file(_ name: String, _ text: String, mode: mode_t = 0o600) -> String {
        let p = "\(path)/\(name)"
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        chmod(p, mode)
        return p
    }
}

final class Box: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    func set(_ v: String) { lock.withLock { value = v } }
    func get() -> String? { lock.withLock { value } }
}
