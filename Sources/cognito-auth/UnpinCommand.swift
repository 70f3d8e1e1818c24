import ArgumentParser
import CognitoAuthCore
import CognitoAuthRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `cognito-auth unpin USER`: forget which Cognito person first signed in to USER, so the next
/// admitted sign-in pins the account again (after a user was re-created in the pool).
struct UnpinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpin",
        abstract: "Forget the Cognito identity (sub) pinned to a local account.")

    @Argument(help: "The local account.") var user: String
    @OptionGroup var options: ConfigOption

    func run() throws {
        let loaded = try loadConfigOrExit(options.config)
        let store = PinStore(stateDir: loaded.config.stateDir)
        let previous = store.lookup(user)
        let removed: Bool
        do { removed = try store.unpin(user) } catch {
            printError("✗ unpin: \(error.description)")
            throw ExitCode(2)
        }
        Syslog.open()
        var fields: [(String, String)] = [("event", "unpin"), ("user", user), ("result", removed ? "removed" : "absent"),
                                          ("by_uid", String(getuid()))]
        if case .pinned(let pin) = previous { fields += [("sub", pin.sub), ("email", pin.email)] }
        Syslog.log(.notice, fields.map { "\($0.0)=\(AuditEvent.kvValue($0.1))" }.joined(separator: " "))
        if removed {
            print("✓ \(user) is no longer pinned; the next admitted sign-in pins it again.")
        } else {
            print("! \(user) had no pin.")
            throw ExitCode(1)
        }
    }
}
