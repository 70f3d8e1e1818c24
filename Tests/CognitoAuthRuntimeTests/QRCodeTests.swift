@testable import CognitoAuthRuntime
import Testing

/// libqrencode is opened with dlopen at the first QR code (not at exec): it must load and encode.
@Suite("QR code through the dlopen'ed libqrencode")
struct QRCodeTests {
    @Test func encodesAURLWithItsFinderPatterns() throws {
        let modules = try QRCode.modules("https://relay.example.com/device?user_code=BCDF-GHJK").get()
        let width = modules.count
        #expect(width >= 21 && (width - 17) % 4 == 0)          // version v is 17 + 4v modules wide
        #expect(modules.allSatisfy { $0.count == width })
        // The top-left finder: a dark 7×7 ring around a light ring around a dark 3×3 centre.
        for r in 0..<7 {
            for c in 0..<7 {
                let ring = max(abs(r - 3), abs(c - 3))
                #expect(modules[r][c] == (ring != 2), "module \(r),\(c)")
            }
        }
    }

    @Test func textIsHalfBlocksOfTheModules() throws {
        let text = try QRCode.text("https://relay.example.com/device").get()
        #expect(text.unicodeScalars.contains { "▀▄█".unicodeScalars.contains($0) })
    }
}
