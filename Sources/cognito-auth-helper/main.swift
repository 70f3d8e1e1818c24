// cognito-auth-helper: what pam_cognito.so execs at every login (pam/PROTOCOL.md on fd 3). A main
// and nothing more: no argument parser, no emulator, no Foundation (ARCHITECTURE.md §8).
import CognitoAuthRuntime
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--version" {
    print("cognito-auth-helper \(Version.string)")
    exit(0)
}
// The module starts it with no arguments; anything else is a person at a shell.
guard arguments.isEmpty else {
    let usage = "usage: cognito-auth-helper [--version]\n(started by pam_cognito.so; it speaks pam/PROTOCOL.md on fd 3)\n"
    _ = usage.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
let status = PamHelper.run()
HTTPClient.settle()
exit(status)
