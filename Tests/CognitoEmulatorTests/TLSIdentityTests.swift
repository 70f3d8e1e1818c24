import CognitoEmulator
import Foundation
import Testing

@Suite("Emulator TLS identity")
struct TLSIdentityTests {
    @Test func aMissingCertificateIsNamed() {
        do {
            _ = try EmulatorTLS(certificateFile: "/nonexistent/cert.pem", keyFile: "/nonexistent/key.pem")
            Issue.record("loaded a certificate that does not exist")
        } catch {
            #expect(error.message.contains("cannot load the certificate /nonexistent/cert.pem"), "\(error)")
        }
    }

    @Test func aFileThatIsNoCertificateIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-cert-\(getpid()).pem").path
        try "not PEM\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: EmulatorTLSError.self) { try EmulatorTLS(certificateFile: path, keyFile: path) }
    }
}
