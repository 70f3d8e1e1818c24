import CognitoAuthCore
@testable import CognitoAuthRuntime
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The helper's receive buffers hold what the person typed or pasted (an authorization code):
/// nothing may be left of it in the buffer once it has been handed on.
@Suite("Receive buffers")
struct ReceiveBufferTests {
    /// A socketpair; the test writes to .0, the reader reads .1.
    final class Pair {
        var fds: [Int32] = [-1, -1]
        init() { _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) }
        deinit { fds.forEach { _ = close($0) } }
        func write(_ bytes: [UInt8]) { #expect(writeAll(fds[0], bytes)) }
    }

    static let code = "c0de-s3cret-AUTHORIZATION"
    static func contains(_ hay: [UInt8], _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard hay.count >= n.count else { return false }
        return (0...(hay.count - n.count)).contains { Array(hay[$0..<($0 + n.count)]) == n }
    }

    @Test func windowZeroesWhatConsumeVacatesAndWipeZeroesAll() {
        let w = SecretWindow(capacity: 32)
        let pair = Pair()
        pair.write(Array("0123456789abcdef".utf8))
        #expect(w.read(from: pair.fds[1]) == 16)
        w.consume(10)
        #expect(w.count == 6)
        #expect(w.storage() == Array("abcdef".utf8) + [UInt8](repeating: 0, count: 26))
        w.wipe()
        #expect(w.count == 0 && w.storage().allSatisfy { $0 == 0 })
    }

    @Test func windowNeverReadsPastItsCapacity() {
        let w = SecretWindow(capacity: 8)
        let pair = Pair()
        pair.write([UInt8](repeating: 7, count: 20))
        #expect(w.read(from: pair.fds[1]) == 8)
        #expect(w.read(from: pair.fds[1]) == 0)
        #expect(w.count == 8)
    }

    @Test func frameReaderLeavesNoCopyOfAnAnswerBehind() throws {
        let pair = Pair()
        let answer = try #require(WireMessage("ANSWER", ["https://h/cb?code=\(Self.code)&state=s"]).encoded())
        let next = try #require(WireMessage("ANSWER", ["second"]).encoded())
        // One frame and the start of the next in one write, the rest of it in another.
        pair.write(answer + next[..<5])
        let reader = FrameReader(fd: pair.fds[1])
        let deadline = Deadline.after(seconds: 5)
        guard case .message(let m) = reader.next(until: deadline, serving: nil) else {
            Issue.record("no message"); return
        }
        #expect(m.fields == ["https://h/cb?code=\(Self.code)&state=s"])
        #expect(reader.window.count == 5)
        #expect(!Self.contains(reader.window.storage(), Self.code))
        pair.write(Array(next[5...]))
        guard case .message(let m2) = reader.next(until: deadline, serving: nil) else {
            Issue.record("no second message"); return
        }
        #expect(m2.fields == ["second"])
        #expect(reader.window.count == 0 && reader.window.storage().allSatisfy { $0 == 0 })
    }

    @Test func frameReaderRefusesAFrameCutShortAndWipesIt() throws {
        let pair = Pair()
        let answer = try #require(WireMessage("ANSWER", [Self.code]).encoded())
        pair.write(Array(answer.dropLast(3)))
        _ = shutdown(pair.fds[0], Int32(SHUT_WR))
        let reader = FrameReader(fd: pair.fds[1])
        guard case .violation = reader.next(until: .after(seconds: 5), serving: nil) else {
            Issue.record("a cut frame was not a violation"); return
        }
        reader.wipe()
        #expect(reader.window.storage().allSatisfy { $0 == 0 })
    }

    @Test func lineReaderLeavesNoCopyOfALineBehind() {
        let pair = Pair()
        pair.write(Array("code=\(Self.code)\nnext".utf8))
        let reader = LineReader(fd: pair.fds[1], maxLine: 64)
        guard case .line(let bytes) = reader.next(until: .after(seconds: 5), serving: nil) else {
            Issue.record("no line"); return
        }
        #expect(bytes == Array("code=\(Self.code)".utf8))
        #expect(reader.window.count == 4)
        #expect(!Self.contains(reader.window.storage(), Self.code))
    }

    @Test func lineReaderCallsALineOfMaxLineBytesTooLong() {
        let pair = Pair()
        pair.write([UInt8](repeating: UInt8(ascii: "x"), count: 64) + [10])
        let reader = LineReader(fd: pair.fds[1], maxLine: 64)
        guard case .tooLong = reader.next(until: .after(seconds: 5), serving: nil) else {
            Issue.record("a line of maxLine bytes was accepted"); return
        }
        reader.wipe()
        #expect(reader.window.storage().allSatisfy { $0 == 0 })
    }

    @Test func theRestOfATooLongLineIsNotTheNextAnswer() {
        let pair = Pair()
        let reader = LineReader(fd: pair.fds[1], maxLine: 64)
        pair.write([UInt8](repeating: UInt8(ascii: "x"), count: 200) + Array("\nnext answer\n".utf8))
        guard case .tooLong = reader.next(until: .after(seconds: 5), serving: nil) else {
            Issue.record("an over-long line was accepted"); return
        }
        guard case .line(let bytes) = reader.next(until: .after(seconds: 5), serving: nil) else {
            Issue.record("no line after the over-long one"); return
        }
        #expect(bytes == Array("next answer".utf8))
    }

    @Test func lineReaderTakesALineJustUnderTheCap() {
        let pair = Pair()
        pair.write([UInt8](repeating: UInt8(ascii: "y"), count: 63) + [10])
        let reader = LineReader(fd: pair.fds[1], maxLine: 64)
        guard case .line(let bytes) = reader.next(until: .after(seconds: 5), serving: nil) else {
            Issue.record("a line under maxLine was refused"); return
        }
        #expect(bytes.count == 63)
    }
}
