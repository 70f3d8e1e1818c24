import CognitoAuthCore
import Foundation
import Testing

@Suite("Cache freshness")
struct CacheTests {
    @Test func maxAgeIsHonouredWithinBounds() {
        #expect(CacheFreshness.lifetime(cacheControl: nil, default: 3600) == 3600)
        #expect(CacheFreshness.lifetime(cacheControl: "public, max-age=900", default: 3600) == 900)
        #expect(CacheFreshness.lifetime(cacheControl: "max-age=\"120\"", default: 3600) == 120)
        #expect(CacheFreshness.lifetime(cacheControl: "max-age=0", default: 3600) == 60, "never below a minute")
        #expect(CacheFreshness.lifetime(cacheControl: "max-age=99999999", default: 3600) == 7 * 24 * 3600, "never above a week")
        #expect(CacheFreshness.lifetime(cacheControl: "no-store", default: 3600) == 60)
        #expect(CacheFreshness.lifetime(cacheControl: "max-age=abc", default: 3600) == 3600)
    }

    @Test func entryRoundTripsAndRejectsAnythingElse() {
        let e = CacheEntry(fetchedAt: 100, expiresAt: 200, body: #"{"keys":[]}"#)
        #expect(CacheEntry.decode(Data(e.encoded.utf8)) == e)
        #expect(e.isFresh(now: 150) && !e.isFresh(now: 200))
        #expect(!e.isFresh(now: -500), "a clock far behind the fetch time does not trust it")
        for bad in ["", "null", "{}", #"{"fetched_at":1,"expires_at":0,"body":"x"}"#, #"{"fetched_at":1,"expires_at":2,"body":3}"#,
                    #"{"fetched_at":1,"expires_at":2,"body":"x","extra":1}"#] {
            #expect(CacheEntry.decode(Data(bad.utf8)) == nil, "\(bad)")
        }
    }
}
