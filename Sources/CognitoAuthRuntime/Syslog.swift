import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The audit trail: LOG_AUTHPRIV, ident `cognito-auth`. The message is always passed as an argument
/// to "%s", so text from a token can never act as a format string.
public enum Syslog {
    public enum Level { case debug, info, notice, warning, error }

    /// openlog(3) keeps the ident pointer, so it must outlive every syslog call: one allocation
    /// for the life of the process.
    nonisolated(unsafe) private static let ident = strdup("cognito-auth")

    public static func open() {
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV)
    }

    public static func log(_ level: Level, _ message: String) {
        let priority: Int32
        switch level {
        case .debug: priority = LOG_DEBUG
        case .info: priority = LOG_INFO
        case .notice: priority = LOG_NOTICE
        case .warning: priority = LOG_WARNING
        case .error: priority = LOG_ERR
        }
        // Keep one event on one line.
        let line = message.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n")
        line.withCString { text in
            withVaList([text]) { vsyslog(LOG_AUTHPRIV | priority, "%s", $0) }
        }
    }
}
