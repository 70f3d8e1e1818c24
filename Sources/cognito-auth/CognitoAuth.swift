import ArgumentParser
import CognitoAuthCore
import CognitoAuthRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

@main
struct CognitoAuth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cognito-auth",
        abstract: "Admit people to this host with their Amazon Cognito accounts (SSH, console, sudo).",
        discussion: """
        Exit codes: 0 allowed / all good; 1 refused (the reason is printed); 2 usage or
        configuration error; 3 identity provider or network unavailable.
        """,
        version: "cognito-auth \(Version.string)",
        subcommands: [TestCommand.self, DoctorCommand.self, VerifyTokenCommand.self, DemoCommand.self, EmulatorCommand.self, UnpinCommand.self, UsersCommand.self]
    )

    /// As ParsableCommand.main, except that a usage error exits 2 (ARCHITECTURE.md §5), not EX_USAGE (64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Configuration file.")
    var config: String = "/etc/cognito-auth/cognito-auth.conf"
}

/// Loads the configuration or exits 2 with the file, line and key.
func loadConfigOrExit(_ path: String, requiredOwner: uid_t = 0) throws -> LoadedConfig {
    do {
        return try LoadedConfig.load(path: path, requiredOwner: requiredOwner)
    } catch {
        printError("✗ config: \(error.description)")
        throw ExitCode(2)
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
