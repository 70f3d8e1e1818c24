import Foundation

/// A strictly validated JSON object whose members are read in place: validation is the whole
/// strict grammar (see `StrictJSON`), but a member's value is only built when someone asks for it.
/// Token headers and payloads use this, so a login reads the dozen claims it checks without
/// building a dictionary of all of them.
public struct JSONObjectView: Sendable {
    struct Member: Sendable {
        var key: JSONStringRange
        var kind: JSONKind
        var start: Int
        var end: Int
        /// The key's first (up to) 8 bytes, so a lookup rejects most members with one compare.
        var keyWord: UInt64
    }

    /// Up to the first 8 bytes of `bytes`, little-endian, zero-padded.
    static func word(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var w: UInt64 = 0
        for i in 0..<min(8, bytes.count) { w |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        return w
    }

    /// The bytes the offsets point into (may hold more than this object, e.g. header and payload).
    let storage: [UInt8]
    let members: [Member]
    /// Member positions by name hash (open addressing; 0 is empty, i + 1 is `members[i]`), so a
    /// lookup is one probe, not a scan. Nil when some name is not plain ASCII: lookups then scan
    /// and compare text.
    let slots: [UInt8]?

    /// Validates `storage[range]` as a JSON document whose top level is an object.
    public static func parse(_ storage: [UInt8], range: Range<Int>) -> JSONObjectView? {
        guard range.lowerBound >= 0, range.upperBound <= storage.count else { return nil }
        let members = storage.withUnsafeBufferPointer { all -> [Member]? in
            var scanner = JSONScanner(bytes: UnsafeBufferPointer(rebasing: all[..<range.upperBound]), index: range.lowerBound)
            scanner.skipWhitespace()
            guard scanner.index < range.upperBound, all[scanner.index] == UInt8(ascii: "{") else { return nil }
            var members: [Member] = []
            members.reserveCapacity(24)
            guard scanner.forEachMember(depth: 0, { key, kind, start, end in
                let word = word(UnsafeBufferPointer(rebasing: all[key.start..<key.end]))
                members.append(Member(key: key, kind: kind, start: start, end: end, keyWord: word))
                return true
            }) else { return nil }
            scanner.skipWhitespace()
            guard scanner.index == range.upperBound,
                  !JSONScanner.hasDuplicate(members.lazy.map(\.key), in: scanner.bytes) else { return nil }
            return members
        }
        return members.map { JSONObjectView(storage: storage, members: $0) }
    }

    public static func parse<D: DataProtocol>(_ data: D) -> JSONObjectView? {
        let bytes = Array(data)
        return parse(bytes, range: 0..<bytes.count)
    }

    /// A view of an already-built dictionary (tests and callers that assemble claims themselves).
    public init(_ dictionary: [String: JSONValue]) {
        let text = Array(JSONValue.object(dictionary).jsonText.utf8)
        self = JSONObjectView.parse(text, range: 0..<text.count) ?? JSONObjectView(storage: [], members: [])
    }

    init(storage: [UInt8], members: [Member]) {
        self.storage = storage
        self.members = members
        self.slots = JSONObjectView.slots(for: members)
    }

    static func slots(for members: [Member]) -> [UInt8]? {
        guard members.count < 128, members.allSatisfy(\.key.plain) else { return nil }
        var size = 8
        while size < members.count * 2 { size *= 2 }
        var slots = [UInt8](repeating: 0, count: size)
        for (i, m) in members.enumerated() {
            var at = slot(m.keyWord, m.key.end - m.key.start, size)
            while slots[at] != 0 { at = (at + 1) & (size - 1) }
            slots[at] = UInt8(i + 1)
        }
        return slots
    }

    @inline(__always)
    static func slot(_ word: UInt64, _ length: Int, _ size: Int) -> Int {
        Int(truncatingIfNeeded: ((word ^ UInt64(truncatingIfNeeded: length)) &* 0x9E37_79B9_7F4A_7C15) >> 40) & (size - 1)
    }

    public static let empty = JSONObjectView(storage: [], members: [])

    public var isEmpty: Bool { members.isEmpty }
    public var count: Int { members.count }

    /// Member names in document order.
    public var keys: [String] {
        storage.withUnsafeBufferPointer { b in members.compactMap { JSONScanner.text($0.key, in: b) } }
    }

    /// Every member, built.
    public var dictionary: [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        storage.withUnsafeBufferPointer { b in
            for m in members {
                if let name = JSONScanner.text(m.key, in: b), let v = JSONScanner.build(b, kind: m.kind, start: m.start, end: m.end) {
                    out[name] = v
                }
            }
        }
        return out
    }

    public func contains(_ name: String) -> Bool { member(name) != nil }

    /// The JSON type of a member, without building it.
    public func kind(_ name: String) -> JSONKind? { member(name)?.kind }

    /// One member, built.
    public subscript(_ name: String) -> JSONValue? {
        guard let m = member(name) else { return nil }
        return storage.withUnsafeBufferPointer { JSONScanner.build($0, kind: m.kind, start: m.start, end: m.end) }
    }

    public func string(_ name: String) -> String? {
        guard let m = member(name), m.kind == .string else { return nil }
        return storage.withUnsafeBufferPointer { b in
            var scanner = JSONScanner(bytes: b, index: m.start)
            return scanner.scanString().flatMap { JSONScanner.text($0, in: b) }
        }
    }

    public func number(_ name: String) -> Double? {
        guard let m = member(name), m.kind == .number else { return nil }
        return storage.withUnsafeBufferPointer { JSONScanner.number(m.start, m.end, in: $0) }
    }

    /// True or false for a boolean member, nil for anything else.
    public func bool(_ name: String) -> Bool? {
        guard let m = member(name), m.kind == .bool else { return nil }
        return storage[m.start] == UInt8(ascii: "t")
    }

    /// Whether a string member's text is `expected`, compared in time that depends only on the
    /// lengths when `constantTime` is set (nonces). Nil when the member is absent or not a string.
    public func string(_ name: String, equals expected: String, constantTime: Bool = false) -> Bool? {
        guard let m = member(name), m.kind == .string else { return nil }
        return storage.withUnsafeBufferPointer { b -> Bool in
            var scanner = JSONScanner(bytes: b, index: m.start)
            guard let s = scanner.scanString() else { return false }
            return JSONObjectView.text(s, in: b, equals: expected, constantTime: constantTime)
        }
    }

    /// Whether an array member holds only strings (true for an empty array; nil when absent or not
    /// an array).
    public func isArrayOfStrings(_ name: String) -> Bool? {
        guard let m = member(name), m.kind == .array else { return nil }
        return storage.withUnsafeBufferPointer { b in
            var scanner = JSONScanner(bytes: b, index: m.start)
            return scanner.forEachElement(depth: 0) { kind, _, _ in kind == .string }
        }
    }

    /// The number of elements of an array member that are strings equal to `expected`, and the
    /// array's length. Nil when absent or not an array.
    public func count(_ name: String, stringsEqualTo expected: String) -> (matches: Int, total: Int)? {
        guard let m = member(name), m.kind == .array else { return nil }
        return storage.withUnsafeBufferPointer { b in
            var scanner = JSONScanner(bytes: b, index: m.start)
            var matches = 0, total = 0
            _ = scanner.forEachElement(depth: 0) { kind, start, _ in
                total += 1
                var s = JSONScanner(bytes: b, index: start)
                if kind == .string, let r = s.scanString(), JSONObjectView.text(r, in: b, equals: expected, constantTime: false) {
                    matches += 1
                }
                return true
            }
            return (matches, total)
        }
    }

    /// Calls `body` with the raw bytes of a string member that holds no escapes (the token path:
    /// hashes and base64url values never need them). Nil when absent, not a string, or escaped.
    func withPlainStringBytes<R>(_ name: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard let m = member(name), m.kind == .string else { return nil }
        return storage.withUnsafeBufferPointer { b -> R? in
            var scanner = JSONScanner(bytes: b, index: m.start)
            guard let s = scanner.scanString(), !s.escaped else { return nil }
            return body(UnsafeBufferPointer(rebasing: b[s.start..<s.end]))
        }
    }

    static func text(_ s: JSONStringRange, in b: UnsafeBufferPointer<UInt8>, equals expected: String, constantTime: Bool) -> Bool {
        if s.plain {
            return expected.utf8.withContiguousStorageIfAvailable { e in
                bytesEqual(UnsafeBufferPointer(rebasing: b[s.start..<s.end]), e, constantTime: constantTime)
            } ?? bytesEqual(UnsafeBufferPointer(rebasing: b[s.start..<s.end]), Array(expected.utf8), constantTime: constantTime)
        }
        guard let text = JSONScanner.text(s, in: b) else { return false }
        return constantTime ? constantTimeEqual(text, expected) : text == expected
    }

    /// Finds a member by name. Names are unique (the parser refused duplicates), so the first match
    /// is the only one. Plain names compare as bytes; others as text.
    func member(_ name: String) -> Member? {
        let found = name.utf8.withContiguousStorageIfAvailable { find($0) }
        if let found { return found }
        return Array(name.utf8).withUnsafeBufferPointer { find($0) }
    }

    private func find(_ name: UnsafeBufferPointer<UInt8>) -> Member? {
        let nameWord = JSONObjectView.word(name)
        return storage.withUnsafeBufferPointer { b -> Member? in
            if let slots {
                var at = JSONObjectView.slot(nameWord, name.count, slots.count)
                while slots[at] != 0 {
                    let m = members[Int(slots[at]) - 1]
                    if m.keyWord == nameWord, m.key.end - m.key.start == name.count,
                       name.count <= 8 || bytesEqual(UnsafeBufferPointer(rebasing: b[m.key.start + 8..<m.key.end]),
                                                     UnsafeBufferPointer(rebasing: name[8...]), constantTime: false) {
                        return m
                    }
                    at = (at + 1) & (slots.count - 1)
                }
                return nil
            }
            for m in members {
                if m.key.plain {
                    guard m.keyWord == nameWord, m.key.end - m.key.start == name.count else { continue }
                    if name.count <= 8 || bytesEqual(UnsafeBufferPointer(rebasing: b[m.key.start + 8..<m.key.end]),
                                                     UnsafeBufferPointer(rebasing: name[8...]), constantTime: false) { return m }
                } else if let text = JSONScanner.text(m.key, in: b), text == String(decoding: name, as: UTF8.self) {
                    return m
                }
            }
            return nil
        }
    }
}

/// Byte equality; with `constantTime`, time depends only on the lengths.
func bytesEqual<A: Collection, B: Collection>(_ a: A, _ b: B, constantTime: Bool) -> Bool
where A.Element == UInt8, B.Element == UInt8, A.Index == Int, B.Index == Int {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    var i = a.startIndex, j = b.startIndex
    while i < a.endIndex {
        diff |= a[i] ^ b[j]
        if !constantTime && diff != 0 { return false }
        i += 1; j += 1
    }
    return diff == 0
}
