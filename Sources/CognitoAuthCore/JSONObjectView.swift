import FoundationEssentials

/// A strictly validated JSON object whose members are read in place: validation is the whole
/// strict grammar (see `StrictJSON`), but a member's value is only built when someone asks for it.
/// Token headers and payloads use this, so a login reads the dozen claims it checks without
/// building a dictionary of all of them.
public struct JSONObjectView: Sendable {
    /// One member, packed into 32 bytes (offsets as Int32: the parse refuses larger documents),
    /// so a token's member list is one small allocation.
    struct Member: Sendable {
        /// The key's first (up to) 8 bytes, so a lookup rejects most members with one compare.
        var keyWord: UInt64
        var keyStart: Int32, keyEnd: Int32, valueStart: Int32, valueEnd: Int32
        var kind: JSONKind
        var keyFlags: UInt8, textFlags: UInt8

        init(key: JSONStringRange, value: JSONSpan, keyWord: UInt64) {
            self.keyWord = keyWord
            keyStart = Int32(truncatingIfNeeded: key.start); keyEnd = Int32(truncatingIfNeeded: key.end)
            valueStart = Int32(truncatingIfNeeded: value.start); valueEnd = Int32(truncatingIfNeeded: value.end)
            kind = value.kind
            keyFlags = Member.flags(key)
            textFlags = value.text.map(Member.flags) ?? 0
        }

        static func flags(_ s: JSONStringRange) -> UInt8 { (s.escaped ? 1 : 0) | (s.nonASCII ? 2 : 0) }

        var keyLength: Int { Int(keyEnd - keyStart) }
        var key: JSONStringRange {
            JSONStringRange(start: Int(keyStart), end: Int(keyEnd), escaped: keyFlags & 1 != 0, nonASCII: keyFlags & 2 != 0)
        }
        var value: JSONSpan {
            // A string's text lies between its quotes.
            let text = kind == .string
                ? JSONStringRange(start: Int(valueStart) + 1, end: Int(valueEnd) - 1, escaped: textFlags & 1 != 0, nonASCII: textFlags & 2 != 0)
                : nil
            return JSONSpan(kind: kind, start: Int(valueStart), end: Int(valueEnd), text: text)
        }
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
    /// lookup is one probe, not a scan. Nil for a handful of members, or when some name is not
    /// plain ASCII: lookups then scan (comparing texts where a name is not plain).
    let slots: [UInt8]?

    /// Validates `storage[range]` as a JSON document whose top level is an object.
    public static func parse(_ storage: [UInt8], range: Range<Int>) -> JSONObjectView? {
        guard range.lowerBound >= 0, range.upperBound <= storage.count, storage.count < Int(Int32.max) else { return nil }
        let members = storage.withUnsafeBufferPointer { all -> [Member]? in
            var scanner = JSONScanner(bytes: UnsafeBufferPointer(rebasing: all[..<range.upperBound]), index: range.lowerBound)
            scanner.skipWhitespace()
            guard scanner.index < range.upperBound, all[scanner.index] == UInt8(ascii: "{") else { return nil }
            var members: [Member] = []
            members.reserveCapacity(min(32, range.count / 16 + 1))
            guard scanner.forEachMember(depth: 0, { key, value in
                let word = word(UnsafeBufferPointer(rebasing: all[key.start..<key.end]))
                members.append(Member(key: key, value: value, keyWord: word))
                return true
            }) else { return nil }
            scanner.skipWhitespace()
            guard scanner.index == range.upperBound else { return nil }
            return members
        }
        guard let members else { return nil }
        // Plain names: the hash index finds a repeated name as it is built. Others: compare texts.
        switch storage.withUnsafeBufferPointer({ index(members, in: $0) }) {
        case .slots(let slots):
            return JSONObjectView(storage: storage, members: members, slots: slots)
        case .small:
            return JSONObjectView(storage: storage, members: members, slots: nil)
        case .scan:
            let repeated = storage.withUnsafeBufferPointer { JSONScanner.hasDuplicate(members.lazy.map(\.key), in: $0) }
            return repeated ? nil : JSONObjectView(storage: storage, members: members, slots: nil)
        case .repeatedName:
            return nil
        }
    }

    public static func parse<D: DataProtocol>(_ data: D) -> JSONObjectView? {
        let bytes = Array(data)
        return parse(bytes, range: 0..<bytes.count)
    }

    /// A view of an already-built dictionary (tests and callers that assemble claims themselves).
    public init(_ dictionary: [String: JSONValue]) {
        let text = Array(JSONValue.object(dictionary).jsonText.utf8)
        self = JSONObjectView.parse(text, range: 0..<text.count) ?? .empty
    }

    init(storage: [UInt8], members: [Member], slots: [UInt8]?) {
        self.storage = storage
        self.members = members
        self.slots = slots
    }

    enum NameIndex { case slots([UInt8]), small, scan, repeatedName }

    /// Builds the hash index of member names. `.scan` when some name is not plain ASCII (or there
    /// are too many for a byte index); `.repeatedName` when two plain names are the same bytes.
    static func index(_ members: [Member], in bytes: UnsafeBufferPointer<UInt8>) -> NameIndex {
        guard members.count < 128, members.allSatisfy(\.key.plain) else { return .scan }
        // A handful of members (a token header): scanning their words is as quick as hashing.
        guard members.count > 6 else { return JSONScanner.hasDuplicate(members.lazy.map(\.key), in: bytes) ? .repeatedName : .small }
        var size = 8
        while size < members.count * 2 { size *= 2 }
        var slots = [UInt8](repeating: 0, count: size)
        for (i, m) in members.enumerated() {
            var at = slot(m.keyWord, m.keyLength, size)
            while slots[at] != 0 {
                let other = members[Int(slots[at]) - 1]
                if other.keyWord == m.keyWord, JSONScanner.sameBytes(other.key, m.key, in: bytes) { return .repeatedName }
                at = (at + 1) & (size - 1)
            }
            slots[at] = UInt8(i + 1)
        }
        return .slots(slots)
    }

    @inline(__always)
    static func slot(_ word: UInt64, _ length: Int, _ size: Int) -> Int {
        Int(truncatingIfNeeded: ((word ^ UInt64(truncatingIfNeeded: length)) &* 0x9E37_79B9_7F4A_7C15) >> 40) & (size - 1)
    }

    public static let empty = JSONObjectView(storage: [], members: [], slots: nil)

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
                if let name = JSONScanner.text(m.key, in: b), let v = JSONScanner.build(b, m.value) {
                    out[name] = v
                }
            }
        }
        return out
    }

    public func contains(_ name: JSONName) -> Bool { member(name) != nil }

    /// The JSON type of a member, without building it.
    public func kind(_ name: JSONName) -> JSONKind? { member(name)?.kind }

    /// One member, built.
    public subscript(_ name: String) -> JSONValue? { self[JSONName(name)] }

    public subscript(_ name: JSONName) -> JSONValue? {
        guard let m = member(name) else { return nil }
        return storage.withUnsafeBufferPointer { JSONScanner.build($0, m.value) }
    }

    public func string(_ name: JSONName) -> String? {
        guard let m = member(name), let s = m.value.text else { return nil }
        return storage.withUnsafeBufferPointer { JSONScanner.text(s, in: $0) }
    }

    public func number(_ name: JSONName) -> Double? {
        guard let m = member(name), m.kind == .number else { return nil }
        return storage.withUnsafeBufferPointer { JSONScanner.number(Int(m.valueStart), Int(m.valueEnd), in: $0) }
    }

    /// True or false for a boolean member, nil for anything else.
    public func bool(_ name: JSONName) -> Bool? {
        guard let m = member(name), m.kind == .bool else { return nil }
        return storage[Int(m.valueStart)] == UInt8(ascii: "t")
    }

    /// Whether a string member's text is `expected`, compared in time that depends only on the
    /// lengths when `constantTime` is set (nonces). Nil when the member is absent or not a string.
    public func string(_ name: JSONName, equals expected: String, constantTime: Bool = false) -> Bool? {
        guard let m = member(name), let s = m.value.text else { return nil }
        return storage.withUnsafeBufferPointer { JSONObjectView.text(s, in: $0, equals: expected, constantTime: constantTime) }
    }

    /// Whether an array member holds only strings (true for an empty array; nil when absent or not
    /// an array).
    public func isArrayOfStrings(_ name: JSONName) -> Bool? {
        guard let m = member(name), m.kind == .array else { return nil }
        return storage.withUnsafeBufferPointer { b in
            var scanner = JSONScanner(bytes: b, index: Int(m.valueStart))
            return scanner.forEachElement(depth: 0) { $0.kind == .string }
        }
    }

    /// The number of elements of an array member that are strings equal to `expected`, and the
    /// array's length. Nil when absent or not an array.
    public func count(_ name: JSONName, stringsEqualTo expected: String) -> (matches: Int, total: Int)? {
        guard let m = member(name), m.kind == .array else { return nil }
        return storage.withUnsafeBufferPointer { b in
            var scanner = JSONScanner(bytes: b, index: Int(m.valueStart))
            var matches = 0, total = 0
            _ = scanner.forEachElement(depth: 0) { element in
                total += 1
                if let r = element.text, JSONObjectView.text(r, in: b, equals: expected, constantTime: false) {
                    matches += 1
                }
                return true
            }
            return (matches, total)
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
    func member(_ name: JSONName) -> Member? {
        guard let slots else { return scan(name) }
        let mask = slots.count - 1
        var at = JSONObjectView.slot(name.word, name.count, slots.count)
        while slots[at] != 0 {
            let m = members[Int(slots[at]) - 1]
            if m.keyWord == name.word, m.keyLength == name.count, name.count <= 8 || tailMatches(m.key, name) { return m }
            at = (at + 1) & mask
        }
        return nil
    }

    /// Bytes 8 and on of a plain key against the name's.
    private func tailMatches(_ key: JSONStringRange, _ name: JSONName) -> Bool {
        storage.withUnsafeBufferPointer { b in
            let tail = UnsafeBufferPointer(rebasing: b[key.start + 8..<key.end])
            guard name.count <= 24 else { return bytesEqual(tail, Array(name.text.utf8)[8...], constantTime: false) }
            return JSONObjectView.word(tail) == name.tail.0
                && (name.count <= 16 || JSONObjectView.word(UnsafeBufferPointer(rebasing: tail[(tail.startIndex + 8)...])) == name.tail.1)
        }
    }

    /// The lookup without an index: some name is escaped or not ASCII, so compare texts.
    private func scan(_ name: JSONName) -> Member? {
        storage.withUnsafeBufferPointer { b -> Member? in
            for m in members {
                if m.key.plain {
                    if m.keyWord == name.word, m.keyLength == name.count, name.count <= 8 || tailMatches(m.key, name) { return m }
                } else if let text = JSONScanner.text(m.key, in: b), text == name.text {
                    return m
                }
            }
            return nil
        }
    }
}

/// A member name prepared for lookups: its length and first 8 bytes are the index key, and the
/// next 16 bytes are kept as words too, so a lookup compares integers and copying a name retains
/// nothing. The names the verifier reads on every login are prepared once (`TokenVerifier.Claim`).
public struct JSONName: Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let text: String
    let count: Int
    let word: UInt64
    /// Bytes 8..<16 and 16..<24, zero-padded (names longer than 24 bytes compare their text).
    let tail: (UInt64, UInt64)

    public init(_ text: String) {
        self.text = text
        let bytes = Array(text.utf8)
        count = bytes.count
        (word, tail) = bytes.withUnsafeBufferPointer { b in
            (JSONObjectView.word(b),
             (JSONObjectView.word(UnsafeBufferPointer(rebasing: b[min(8, b.count)...])),
              JSONObjectView.word(UnsafeBufferPointer(rebasing: b[min(16, b.count)...]))))
        }
    }

    public init(stringLiteral value: String) { self.init(value) }
    public var description: String { text }
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
