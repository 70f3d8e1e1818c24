import CognitoAuthCore
import Foundation
import Testing

@Suite("base64url")
struct Base64URLTests {
    @Test func roundTripsAndMatchesFoundation() {
        var rng = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let ours = Base64URL.encode(bytes)
            let foundation = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(ours == foundation)
            #expect(Base64URL.decode(ours) == Data(bytes))
        }
    }

    @Test(arguments: ["e30=", "e3 0", "e30\n", "+/8", "a", "abcde", "e3!0", "QQ", "QR==", "QUI", "QUJ"])
    func refusesNonCanonicalInput(_ s: String) {
        // Padding, whitespace, the standard alphabet's + and /, impossible lengths, characters
        // outside the alphabet, and set trailing bits ("QR" would also decode to "A").
        if s == "QQ" || s == "QUI" {
            #expect(Base64URL.decode(s) != nil, "\(s) is canonical")
        } else {
            #expect(Base64URL.decode(s) == nil, "\(s)")
        }
    }
}
