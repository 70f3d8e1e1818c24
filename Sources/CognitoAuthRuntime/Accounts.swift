import CognitoAuthCore
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Local accounts through NSS (getpwnam_r), so LDAP/SSSD accounts count too.
public enum LocalAccounts {
    public static func exists(_ name: String) -> Bool { lookup(name) != nil }

    /// The account's uid, or nil when NSS knows no such name (or the lookup failed).
    public static func lookup(_ name: String) -> LocalAccountInfo? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var size = sysconf(Int32(_SC_GETPW_R_SIZE_MAX))
        if size <= 0 { size = 16_384 }
        var buffer = [CChar](repeating: 0, count: size)
        while true {
            let rc = getpwnam_r(name, &pwd, &buffer, buffer.count, &result)
            if rc == ERANGE, buffer.count < 1_048_576 { buffer = [CChar](repeating: 0, count: buffer.count * 2); continue }
            guard rc == 0, let entry = result else { return nil }
            return LocalAccountInfo(uid: entry.pointee.pw_uid)
        }
    }

    public static func hostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "this host" }
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
