import CognitoAuthCore
@testable import CognitoAuthRuntime
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Protected files")
struct ProtectedFileTests {
    let safe = SafeDirectory()
    var dir: String { safe.path }

    func write(_ name: String, _ text: String, mode: mode_t) -> String { safe.file(name, text, mode: mode) }

    func refusal(_ path: String, kind: ProtectedFile.Kind = .config) -> String? {
        do {
            _ = try ProtectedFile.read(path, kind: kind, requiredOwner: geteuid())
            return nil
        } catch {
            return error.description
        }
    }

    @Test func readsARootOwnedPrivateFile() throws {
        let p = write("ok.conf", "x = 1\n", mode: 0o644)
        #expect(try ProtectedFile.read(p, kind: .config, requiredOwner: geteuid()) == "x = 1\n")
    }
    @Test func refusesGroupOrWorldWritable() {
        let p = write("gw.conf", "x", mode: 0o664)
        #expect(throws: ConfigError.self) { try ProtectedFile.read(p, kind: .config, requiredOwner: geteuid()) }
    }
    @Test func refusesReadableSecret() {
        let p = write("secret", "s", mode: 0o640)
        #expect(throws: ConfigError.self) { try ProtectedFile.read(p, kind: .secret, requiredOwner: geteuid()) }
        chmod(p, 0o600)
        #expect((try? ProtectedFile.read(p, kind: .secret, requiredOwner: geteuid())) == "s")
    }
    @Test func refusesSymlinksWrongOwnerAndBigFiles() {
        let target = write("t.conf", "x", mode: 0o600)
        let link = "\(dir)/link.conf"
        symlink(target, link)
        #expect(throws: ConfigError.self) { try ProtectedFile.read(link, kind: .config, requiredOwner: geteuid()) }
        #expect(throws: ConfigError.self) { try ProtectedFile.read(target, kind: .config, requiredOwner: geteuid() &+ 1) }
        let big = write("big.conf", String(repeating: "#", count: 70_000), mode: 0o600)
        #expect(throws: ConfigError.self) { try ProtectedFile.read(big, kind: .config, requiredOwner: geteuid()) }
        #expect(throws: ConfigError.self) { try ProtectedFile.read(dir, kind: .config, requiredOwner: geteuid()) }
    }

    // Issue 10: every directory from / down must be root-owned and not group/world-writable.

    @Test func refusesConfigUnderGroupWritableParent() throws {
        let parent = safe.directory("etc-gw", mode: 0o775)
        let conf = write("etc-gw/c.conf", "x = 1\n", mode: 0o600)
        let why = try #require(refusal(conf))
        #expect(why.contains("\(parent) is group-writable (mode 0775)"), "\(why)")
    }

    @Test func refusesConfigUnderWorldWritableStickyDirectory() throws {
        let parent = safe.directory("tmp-like", mode: 0o1777)
        let conf = write("tmp-like/c.conf", "x = 1\n", mode: 0o600)
        let why = try #require(refusal(conf))
        #expect(why.contains("\(parent) is world-writable (mode 1777)"), "\(why)")
    }

    @Test func refusesConfigUnderAnAncestorOwnedByAnotherUser() throws {
        let parent = safe.directory("theirs", mode: 0o755)
        safe.directory("theirs/sub", mode: 0o755)
        let conf = write("theirs/sub/c.conf", "x = 1\n", mode: 0o600)
        chown(parent, 4242, 4242)
        let why = try #require(refusal(conf))
        #expect(why.contains("\(parent) is owned by uid 4242"), "\(why)")
    }

    @Test func refusesConfigThroughSymlinkedParentDirectory() throws {
        safe.directory("real", mode: 0o755)
        _ = write("real/c.conf", "x = 1\n", mode: 0o600)
        symlink("\(dir)/real", "\(dir)/linked")
        let why = try #require(refusal("\(dir)/linked/c.conf"))
        #expect(why.contains("\(dir)/linked is a symbolic link"), "\(why)")
        #expect(refusal("\(dir)/real/c.conf") == nil)
    }

    @Test func refusesDotDotComponents() throws {
        safe.directory("a", mode: 0o755)
        _ = write("c.conf", "x = 1\n", mode: 0o600)
        #expect(refusal("\(dir)/a/../c.conf") != nil)
    }

    /// A FIFO in place of the config: open(2) without O_NONBLOCK would wait for a writer forever.
    @Test(.timeLimit(.minutes(1))) func fifoInPlaceOfConfigIsRefusedWithoutBlocking() throws {
        let fifo = "\(dir)/fifo.conf"
        #expect(mkfifo(fifo, 0o600) == 0)
        let outcome = Box()
        let done = DispatchSemaphore(value: 0)
        Thread {
            do {
                outcome.set("read: " + (try ProtectedFile.read(fifo, kind: .config, requiredOwner: geteuid())))
            } catch {
                outcome.set(String(describing: error))
            }
            done.signal()
        }.start()
        if done.wait(timeout: .now() + 20) == .timedOut {
            // Release the blocked reader so the test ends, then fail.
            let w = open(fifo, O_WRONLY | O_NONBLOCK)
            if w >= 0 { close(w) }
            _ = done.wait(timeout: .now() + 5)
            Issue.record("reading a FIFO config blocked")
            return
        }
        let why = try #require(outcome.get())
        #expect(why.contains("is not a regular file"), "\(why)")
    }

    @Test func loadedConfigReadsSecretAndMapFile() throws {
        let secret = write("client-secret", "s3cr3t\n", mode: 0o600)
        let map = write("accounts", "alice@example.com alice\n", mode: 0o644)
        let conf = write("c.conf", """
            region = us-east-1
            user_pool_id = us-east-1_X
            client_id = c
            client_secret_file = \(secret)
            account_map = file:\(map)
            allowed_groups = *
            """, mode: 0o600)
        let loaded = try LoadedConfig.load(path: conf, requiredOwner: geteuid())
        #expect(loaded.clientSecret == "s3cr3t")
        #expect(loaded.accountMap?.user(for: "alice@example.com") == "alice")
        chmod(secret, 0o644)
        #expect(throws: ConfigError.self) { try LoadedConfig.load(path: conf, requiredOwner: geteuid()) }
    }

    @Test func secretMapAndCAFileUnderAnUnsafeDirectoryAreRefused() throws {
        safe.directory("shared", mode: 0o777)
        for key in ["client_secret_file", "account_map", "ca_file"] {
            let target = write("shared/\(key)", key == "account_map" ? "a@example.com a\n" : "x\n", mode: 0o600)
            let value = key == "account_map" ? "file:\(target)" : target
            let conf = write("\(key).conf", """
                region = us-east-1
                user_pool_id = us-east-1_X
                client_id = c
                allowed_domains = example.com
                allowed_groups = *
                \(key) = \(value)
                """, mode: 0o600)
            do {
                _ = try LoadedConfig.load(path: conf, requiredOwner: geteuid())
                Issue.record("\(key) under a world-writable directory was accepted")
            } catch {
                #expect(error.description.contains("\(dir)/shared is world-writable"), "\(key): \(error)")
            }
        }
    }
}

@Suite("Cache and state directories")
struct TrustedDirectoryTests {
    let safe = SafeDirectory()

    func config(cacheDir: String, stateDir: String) throws -> Config {
        try ConfigParser.parse("""
            region = us-east-1
            user_pool_id = us-east-1_X
            client_id = c
            issuer = http://127.0.0.1:9/us-east-1_X
            allowed_domains = example.com
            allowed_groups = *
            cache_dir = \(cacheDir)
            state_dir = \(stateDir)
            """, path: "test.conf")
    }

    @Test func cacheDirWithAnUnsafeParentIsNotUsed() throws {
        let parent = safe.directory("var-gw", mode: 0o775)
        let c = try config(cacheDir: "\(parent)/cache", stateDir: "\(safe.path)/state")
        let provider = OIDCProvider(config: c, http: HTTPClient(timeout: 1))
        #expect(provider.cache == nil)
        let note = try #require(provider.notes.first)
        #expect(note.hasPrefix("cache_disabled: ") && note.contains("\(parent) is group-writable (mode 0775)"), "\(note)")
        #expect(!FileManager.default.fileExists(atPath: "\(parent)/cache"), "nothing is created below an unsafe directory")
    }

    @Test func cacheDirIsCreatedPrivateBelowASafeParent() throws {
        let c = try config(cacheDir: "\(safe.path)/cache", stateDir: "\(safe.path)/state")
        let provider = OIDCProvider(config: c, http: HTTPClient(timeout: 1))
        let cache = try #require(provider.cache)
        #expect(cache.directory.ownerAndMode.mode == 0o700)
        cache.write("jwks", CacheEntry(fetchedAt: 1, expiresAt: 2, body: "{}"))
        #expect(cache.read("jwks")?.body == "{}")
    }

    @Test func stateDirWithAnUnsafeParentFailsClosed() throws {
        let parent = safe.directory("lib-ww", mode: 0o1777)
        let store = PinStore(stateDir: "\(parent)/state")
        guard case .unreadable(let why) = store.lookup("alice") else {
            Issue.record("a pin lookup below a world-writable directory must not say 'no pin'")
            return
        }
        #expect(why.contains("\(parent) is world-writable"), "\(why)")
        // …which the login decision turns into a refusal.
        #expect(IdentityPin.check(store.lookup("alice"), account: "alice", issuer: "i", sub: "s").code == .pinUnreadable)
        let pin = IdentityPin(issuer: "i", sub: "s", email: "a@example.com", pinnedAt: 0)
        guard case .notRecorded = store.pin("alice", pin) else { Issue.record("pinned below an unsafe directory"); return }
        #expect(!FileManager.default.fileExists(atPath: "\(parent)/state"))
    }

    @Test func pinsDirectorySwappedForASymlinkIsRefused() throws {
        let state = safe.directory("state", mode: 0o700)
        safe.directory("elsewhere", mode: 0o700)
        symlink("\(safe.path)/elsewhere", "\(state)/pins")
        let store = PinStore(stateDir: state)
        guard case .unreadable(let why) = store.lookup("alice") else { Issue.record("followed a symlinked pins directory"); return }
        #expect(why.contains("\(state)/pins is a symbolic link"), "\(why)")
    }
}

@Suite("Pins")
struct PinStoreTests {
    let safe = SafeDirectory()

    func pin(_ sub: String) -> IdentityPin { IdentityPin(issuer: "https://idp", sub: sub, email: "a@example.com", pinnedAt: 1) }

    @Test func firstPinIsRecordedAndReadBack() {
        let store = PinStore(stateDir: "\(safe.path)/state")
        #expect(store.lookup("alice") == IdentityPin.Lookup.none)
        #expect(store.pin("alice", pin("A")) == .recorded)
        #expect(store.lookup("alice") == .pinned(pin("A")))
        #expect((try? store.unpin("alice")) == true)
        #expect(store.lookup("alice") == IdentityPin.Lookup.none)
    }

    /// Two first sign-ins race: B's pin lands between A's lookup (none) and A's pin().
    @Test func pinByAnotherSubBetweenLookupAndPinIsRefused() throws {
        let store = PinStore(stateDir: "\(safe.path)/state")
        #expect(store.lookup("alice") == IdentityPin.Lookup.none)   // A's login looked: no pin
        #expect(store.pin("alice", pin("B")) == .recorded)          // B's login pinned first
        guard case .refused(let r) = store.pin("alice", pin("A")) else {
            Issue.record("A was admitted over B's pin")
            return
        }
        #expect(r.code == .identityChanged)
        #expect(r.detail.contains("sub B"), "\(r.detail)")
        #expect(store.lookup("alice") == .pinned(pin("B")), "B's pin stands")
    }

    @Test func pinBySameSubBetweenLookupAndPinIsFine() {
        let store = PinStore(stateDir: "\(safe.path)/state")
        #expect(store.pin("alice", pin("A")) == .recorded)
        #expect(store.pin("alice", pin("A")) == .alreadyPinned)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(safe.path)/state/pins")) ?? []
        #expect(names == ["alice"], "no temporary file left behind: \(names)")
    }
}
