import CognitoAuthCore
import Foundation
import Testing

@Suite("Strict JSON")
struct StrictJSONTests {
    func parse(_ s: String) -> JSONValue? { StrictJSON.parse(Array(s.utf8)) }

    @Test func acceptsRFC8259() {
        #expect(parse(#"{"a":[1,-2.5e3,0,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"],"b":{}}"#) ==
                .object(["a": .array([.number(1), .number(-2500), .number(0), .bool(true), .bool(false), .null,
                                      .string("x\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}")]), "b": .object([:])]))
        #expect(parse(" [ ] ") == .array([]))
        #expect(parse("\"caf\u{e9}\"") == .string("caf\u{e9}"))
    }

    @Test(arguments: [
        #"{"a":1,"a":2}"#, #"{"a":1,}"#, "[1,]", "01", "1.", ".5", "-", "1e", "+1", "NaN", "Infinity", "1e999",
        #""\ud800""#, #""\udc00x""#, #""\x""#, "\"a\u{01}\"", #"{"a" 1}"#, "{a:1}", "'a'", "[1] x", "", "tru",
        String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
    ])
    func rejects(_ s: String) {
        #expect(parse(s) == nil, "\(s)")
    }

    @Test func rejectsInvalidUTF8() {
        #expect(StrictJSON.parse([0x22, 0xC3, 0x28, 0x22]) == nil)
        #expect(StrictJSON.parse([0x22, 0xFF, 0x22]) == nil)
    }

    @Test func agreesWithFoundationOnValidDocuments() throws {
        let doc = #"{"iss":"https://x","exp":1800000000,"aud":["a","b"],"nested":{"k":[1.5,{"z":null}]}}"#
        let foundation = try JSONSerialization.jsonObject(with: Data(doc.utf8)) as? [String: Any]
        let ours = try #require(parse(doc)?.objectValue)
        #expect(Set(ours.keys) == Set(foundation?.keys.map { $0 } ?? []))
        #expect(ours["exp"] == .number(1_800_000_000))
    }
}
