import CognitoAuthCore
import Foundation
import Testing

/// The in-place object view the token path reads claims through: same grammar as `StrictJSON`,
/// members built only on demand, names compared as bytes when that is exact.
@Suite("JSON object view")
struct JSONObjectViewTests {
    func view(_ s: String) -> JSONObjectView? { JSONObjectView.parse(Array(s.utf8)) }

    @Test func readsMembersInPlaceAndAgreesWithTheTreeParser() throws {
        let doc = #"{"iss":"https:\/\/x","exp":1800000000,"aud":["a","b"],"n":{"k":[1.5,{"z":null}]},"t":true,"s":"caf\u00e9"}"#
        let v = try #require(view(doc))
        #expect(v.dictionary == StrictJSON.parse(Array(doc.utf8))?.objectValue)
        #expect(v.string("iss") == "https://x")
        #expect(v.string("iss", equals: "https://x") == true)
        #expect(v.string("iss", equals: "https:\\/\\/x") == false)
        #expect(v.number("exp") == 1_800_000_000)
        #expect(v.kind("aud") == .array && v.isArrayOfStrings("aud") == true)
        #expect(v.count("aud", stringsEqualTo: "b")?.matches == 1 && v.count("aud", stringsEqualTo: "b")?.total == 2)
        #expect(v.bool("t") == true && v.bool("s") == nil)
        #expect(v.string("s") == "caf\u{e9}" && v.string("s", equals: "caf\u{e9}") == true)
        #expect(v["n"] == .object(["k": .array([.number(1.5), .object(["z": .null])])]))
        #expect(v.kind("missing") == nil && v.string("exp") == nil && v.number("iss") == nil)
        #expect(v.keys == ["iss", "exp", "aud", "n", "t", "s"])
    }

    @Test func namesSharingTheirFirstEightBytesAreTold() throws {
        let v = try #require(view(#"{"cognito:groups":[],"cognito:username":"u","cognito:":"p","cognito":"q","cognito:usernamf":"w"}"#))
        #expect(v.string("cognito:username") == "u")
        #expect(v.string("cognito:usernamf") == "w")
        #expect(v.string("cognito:") == "p" && v.string("cognito") == "q")
        #expect(v.kind("cognito:groups") == .array)
        #expect(v.kind("cognito:usernam") == nil && v.kind("cognito:usernamex") == nil)
        // Names past 16 and 24 bytes compare their later words and then their text.
        let long = try #require(view(#"{"custom:department_a":1,"custom:department_b":2,"custom:a_very_long_claim_name_1":3,"custom:a_very_long_claim_name_2":4}"#))
        #expect(long.number("custom:department_a") == 1 && long.number("custom:department_b") == 2)
        #expect(long.number("custom:a_very_long_claim_name_1") == 3 && long.number("custom:a_very_long_claim_name_2") == 4)
        #expect(long.kind("custom:department_c") == nil && long.kind("custom:a_very_long_claim_name_3") == nil)
        // A handful of members (a header) is scanned, not hashed: same answers.
        let small = try #require(view(#"{"alg":"RS256","kid":"k1"}"#))
        #expect(small.string("kid") == "k1" && small.string("alg") == "RS256" && small.kind("typ") == nil)
    }

    @Test func escapedAndNonASCIINamesAreFoundByTheirText() throws {
        let v = try #require(view(#"{"a\u0075d":"x","\u00e9":1}"#))
        #expect(v.string("aud") == "x")
        #expect(v.number("\u{e9}") == 1)
    }

    @Test(arguments: [
        #"{"aud":"a","a\u0075d":"b"}"#,                  // the same name, once escaped
        "{\"\u{e9}\":1,\"e\u{301}\":2}",                 // canonically equivalent names
        #"{"a":1,"a":2}"#, #"{"x":{"a":1,"a":2}}"#, #"{"x":[{"a":1,"a":2}]}"#,
    ])
    func duplicateNamesAreRefusedAtEveryDepth(_ doc: String) {
        #expect(view(doc) == nil, "\(doc)")
        #expect(StrictJSON.parse(Array(doc.utf8)) == nil, "\(doc)")
    }

    @Test func onlyAnObjectWithNothingAfterItIsAView() {
        #expect(view("[]") == nil && view(#""x""#) == nil && view("{} x") == nil && view("") == nil)
        #expect(view(" {} ")?.isEmpty == true)
    }

    /// The string scanner takes 8 bytes at a time; every forbidden byte must still be caught
    /// wherever it falls in the word.
    @Test func forbiddenBytesAreCaughtAtEveryOffset() {
        for offset in 0..<17 {
            let pad = String(repeating: "a", count: offset)
            #expect(StrictJSON.parse(Array("\"\(pad)\u{01}bbbbbbbbbbbbbbbb\"".utf8)) == nil, "control at \(offset)")
            #expect(StrictJSON.parse(Array("\"\(pad)\u{1F}\"".utf8)) == nil, "0x1F at \(offset)")
            #expect(StrictJSON.parse(Array(#""\#(pad)\q12345678""#.utf8)) == nil, "bad escape at \(offset)")
            #expect(StrictJSON.parse(Array("\"\(pad)".utf8) + [0xC3, 0x28] + Array("12345678\"".utf8)) == nil, "bad UTF-8 at \(offset)")
            #expect(StrictJSON.parse(Array(#""\#(pad)\"bbbbbbbbb""#.utf8)) == .string(pad + "\"bbbbbbbbb"), "escaped quote at \(offset)")
            #expect(StrictJSON.parse(Array("\"\(pad)\u{7F}\u{e9}bbbbbbbb\"".utf8)) == .string(pad + "\u{7F}\u{e9}bbbbbbbb"), "DEL and é at \(offset)")
            #expect(StrictJSON.parse(Array("\"\(pad)bbbbbbbbbbbb".utf8)) == nil, "unterminated at \(offset)")
        }
    }
}
