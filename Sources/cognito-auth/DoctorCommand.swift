import ArgumentParser
import CognitoAuthCore
import CognitoAuthRuntime
import CognitoAuthAdmin
import Foundation

/// `cognito-auth doctor`: every part of the setup a login depends on, each with ✓ / ! / ✗ and, when
/// something is off, the exact line to add or change.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this host's setup: config and file modes, Cognito discovery and JWKS, clock, redirect ports, sshd and the PAM stacks.",
        discussion: "Each finding is printed with ✓ (passes), ! (works, but look at it) or ✗ (fails), and a fix line "
            + "when there is something to change. Exit codes: 0 no check failed (warnings allowed); 1 a sshd, PAM, "
            + "clock or port check failed; 2 the configuration or one of its files is wrong; 3 the identity provider "
            + "is unreachable or answered something unusable.")

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("The sshd binary to run as `sshd -T`.", valueName: "path"))
    var sshd: String = "/usr/sbin/sshd"
    @Option(name: .customLong("sshd-config"), help: ArgumentHelp("Check this sshd_config (`sshd -T -f PATH`) instead of sshd's default.", valueName: "path"))
    var sshdConfig: String?
    @Option(name: .customLong("sshd-option"), help: ArgumentHelp("Pass `-o KEY=VALUE` to `sshd -T` (repeatable).", valueName: "key=value"))
    var sshdOptions: [String] = []
    @Option(name: .customLong("pam-dir"), help: ArgumentHelp("Directory holding the sshd and sudo PAM service files.", valueName: "path"))
    var pamDir: String = "/etc/pam.d"
    @Flag(help: "Print one JSON document instead of the list.")
    var json = false

    func run() throws {
        let opts = Doctor.Options(configPath: options.config, sshd: sshd, sshdConfig: sshdConfig,
                                  sshdOptions: sshdOptions, pamDir: pamDir)
        if !json {
            emitLine("cognito-auth doctor — \(options.config)")
        }
        let findings = Doctor.run(opts) { finding in
            if !json { emitLine(finding.description) }
        }
        let code = DoctorVerdict.exitCode(findings)
        if json {
            let doc: JSONValue = .object([
                "config": .string(options.config),
                "exit_code": .number(Double(code)),
                "summary": .string(DoctorVerdict.summary(findings)),
                "findings": .array(findings.map { f in
                    var o: [String: JSONValue] = ["status": .string(f.status.rawValue), "area": .string(f.area.rawValue),
                                                  "check": .string(f.check), "message": .string(f.message)]
                    if let fix = f.fix { o["fix"] = .string(fix) }
                    return .object(o)
                }),
            ])
            emitLine(doc.jsonText)
        } else {
            emitLine("")
            emitLine("\(code == 0 ? "✓" : "✗") \(DoctorVerdict.summary(findings))")
        }
        if code != 0 { throw ExitCode(code) }
    }
}

/// Writes one line to stdout at once (findings appear while the slower checks run).
func emitLine(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}
