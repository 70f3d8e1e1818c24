#if canImport(Glibc)
import Glibc
#endif

/// A receive buffer for bytes that may hold a secret (an ANSWER frame or a typed line carrying a
/// pasted authorization code). Its storage is allocated once at a fixed capacity and never moved,
/// so no copy is left behind in freed memory by growth; consumed bytes and the vacated tail are
/// zeroed at once, and the whole block is zeroed before it is freed.
final class SecretWindow {
    let capacity: Int
    private let base: UnsafeMutableRawPointer
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 1)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: self.capacity)
    }

    deinit {
        explicit_bzero(base, capacity)
        base.deallocate()
    }

    /// The buffered bytes, valid only inside `body`.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// read(2) into the free space; the result of read, or 0 without reading when the window is
    /// full (callers cap what they buffer below the capacity, so full means a violation upstream).
    func read(from fd: Int32) -> Int {
        guard count < capacity else { return 0 }
        let n = Glibc.read(fd, base + count, capacity - count)
        if n > 0 { count += n }
        return n
    }

    /// Drops the first `n` bytes: the rest moves to the front and what it leaves is zeroed.
    func consume(_ n: Int) {
        let n = min(max(n, 0), count)
        guard n > 0 else { return }
        memmove(base, base + n, count - n)
        explicit_bzero(base + (count - n), n)
        count -= n
    }

    /// The whole block, buffered bytes and free space alike (tests check what it leaves behind).
    func storage() -> [UInt8] { Array(UnsafeRawBufferPointer(start: base, count: capacity)) }

    func wipe() {
        explicit_bzero(base, capacity)
        count = 0
    }
}
