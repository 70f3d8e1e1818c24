import CognitoAuthCore
#if canImport(Glibc)
import Glibc
#endif

// One libFuzzer program for every Swift target (scripts/fuzz, docs/ARCHITECTURE.md §11): one build
// and one link instead of one per parser. COGNITO_AUTH_FUZZ_TARGET names the target of a run;
// libFuzzer's own flags and corpus directories are the program's arguments as usual.
//
// Each target feeds the bytes to one pure parser and then checks properties of the answer
// (`require`), so a wrong answer is a crash too, not only a trap or an ASan report.

/// The targets by name, in the order `scripts/fuzz --list` shows them.
nonisolated(unsafe) let targets: [(name: String, run: ([UInt8]) -> Void)] = [
    ("jwt", Targets.jwt),
    ("jwks", Targets.jwks),
    ("discovery", Targets.discovery),
    ("config", Targets.config),
    ("relay-config", Targets.relayConfig),
    ("redirect", Targets.redirect),
    ("http", Targets.http),
    ("wire", Targets.wire),
    ("relay-form", Targets.relayForm),
]

nonisolated(unsafe) var selected: (([UInt8]) -> Void)? = nil

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>?,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32 {
    let name = getenv("COGNITO_AUTH_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    if name == "--list" {
        for t in targets { print(t.name) }
        exit(0)
    }
    // COGNITO_AUTH_FUZZ_SEEDS=DIR: write the seeds that only this program can make (tokens signed
    // with the fixture's key, its JWKS) into DIR/<target>/ and stop.
    if let dir = getenv("COGNITO_AUTH_FUZZ_SEEDS").map({ String(cString: $0) }) {
        Fixture.writeSeeds(to: dir)
        exit(0)
    }
    guard let target = targets.first(where: { $0.name == name }) else {
        say("set COGNITO_AUTH_FUZZ_TARGET to one of: \(targets.map(\.name).joined(separator: " "))")
        exit(2)
    }
    selected = target.run
    Fixture.prepare()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selected?(bytes)
    return 0
}

/// A property every answer must have; a broken one stops the run with a crash file.
func require(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String) {
    if !condition() {
        say("property broken: \(what())")
        abort()
    }
}

/// A line on standard error.
func say(_ text: String) {
    let line = Array("cognito-auth-fuzz: \(text)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
