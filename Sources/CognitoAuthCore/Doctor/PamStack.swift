import FoundationEssentials

/// What libpam does with a module's return value (pam.conf(5)).
public enum PamAction: Sendable, Equatable {
    case ignore, ok, done, bad, die, reset
    case jump(Int)

    static func parse(_ s: String) -> PamAction? {
        switch s.lowercased() {
        case "ignore": return .ignore
        case "ok": return .ok
        case "done": return .done
        case "bad": return .bad
        case "die": return .die
        case "reset": return .reset
        default:
            guard let n = Int(s), n > 0 else { return nil }
            return .jump(n)
        }
    }
}

/// The control field of a pam.d line: a keyword or `[value=action …]`.
public enum PamControl: Sendable, Equatable {
    case required, requisite, sufficient, optional, include, substack
    case actions([String: PamAction])

    static func parse(_ s: String) -> PamControl? {
        if s.hasPrefix("[") {
            guard s.hasSuffix("]") else { return nil }
            var map: [String: PamAction] = [:]
            for item in s.dropFirst().dropLast().split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                let kv = item.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, let action = PamAction.parse(String(kv[1])) else { return nil }
                map[kv[0].lowercased()] = action
            }
            return .actions(map)
        }
        switch s.lowercased() {
        case "required": return .required
        case "requisite": return .requisite
        case "sufficient": return .sufficient
        case "optional": return .optional
        case "include": return .include
        case "substack": return .substack
        default: return nil
        }
    }

    /// The action for a module return value, named as in pam.conf(5): `success`, `auth_err`,
    /// `ignore`, … Keywords expand as Linux-PAM expands them; in brackets an unnamed value takes
    /// `default`, and without `default` it is `bad` (libpam's fallback).
    public func action(for value: String) -> PamAction {
        switch self {
        case .required: return ["success": .ok, "new_authtok_reqd": .ok, "ignore": .ignore][value] ?? .bad
        case .requisite: return ["success": .ok, "new_authtok_reqd": .ok, "ignore": .ignore][value] ?? .die
        case .sufficient: return ["success": .done, "new_authtok_reqd": .done][value] ?? .ignore
        case .optional: return ["success": .ok, "new_authtok_reqd": .ok][value] ?? .ignore
        case .include, .substack: return .ok
        case .actions(let map): return map[value] ?? map["default"] ?? .bad
        }
    }
}

/// One module line of a pam.d file.
public struct PamLine: Sendable, Equatable {
    public var file: String
    public var line: Int
    public var type: String
    /// `-auth …`: libpam skips the line silently when the module is missing.
    public var dashed: Bool
    public var controlText: String
    public var control: PamControl
    public var module: String
    public var arguments: [String]
    /// The line as written (continuations joined, comment removed, whitespace collapsed).
    public var text: String

    /// `pam_unix.so` for `/lib/x86_64-linux-gnu/security/pam_unix.so`.
    public var moduleName: String { module.split(separator: "/").last.map(String.init) ?? module }
    public var location: String { "\(file):\(line)" }
}

public enum PamFileEntry: Sendable, Equatable {
    case module(PamLine)
    /// `@include NAME`: every line of NAME, of every type, in its place.
    case includeAll(name: String, file: String, line: Int, text: String)
}

/// A pam.d file (the one-service-per-file form; no service column), parsed the way libpam reads it:
/// `#` starts a comment anywhere, a trailing backslash continues the line, `[…]` groups a control
/// or an argument that contains spaces.
public struct PamFile: Sendable, Equatable {
    public var entries: [PamFileEntry] = []
    public var problems: [String] = []

    public static let types: Set<String> = ["auth", "account", "password", "session"]

    public static func parse(_ text: String, file: String) -> PamFile {
        var out = PamFile()
        var pending = ""
        var pendingLine = 0
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if pending.isEmpty { pendingLine = index + 1 }
            if let hash = line.firstIndex(of: "#") { line = String(line[..<hash]) }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            let logical = pending + line
            pending = ""
            out.add(logical, file: file, line: pendingLine)
        }
        if !pending.isEmpty { out.add(pending, file: file, line: pendingLine) }
        return out
    }

    mutating func add(_ logical: String, file: String, line: Int) {
        let tokens = Self.tokenize(logical)
        guard let first = tokens.first else { return }
        let text = tokens.joined(separator: " ")
        if first.lowercased() == "@include" {
            guard tokens.count == 2 else { problems.append("\(file):\(line): @include needs exactly one file name: \(text)"); return }
            entries.append(.includeAll(name: tokens[1], file: file, line: line, text: text))
            return
        }
        var type = first.lowercased()
        let dashed = type.hasPrefix("-")
        if dashed { type.removeFirst() }
        guard Self.types.contains(type) else { problems.append("\(file):\(line): unknown type '\(first)': \(text)"); return }
        guard tokens.count >= 3 else { problems.append("\(file):\(line): needs a control and a module: \(text)"); return }
        guard let control = PamControl.parse(tokens[1]) else {
            problems.append("\(file):\(line): cannot read the control '\(tokens[1])': \(text)")
            return
        }
        entries.append(.module(PamLine(file: file, line: line, type: type, dashed: dashed, controlText: tokens[1],
                                       control: control, module: tokens[2], arguments: Array(tokens.dropFirst(3)), text: text)))
    }

    /// Splits on blanks; `[` … `]` is one token (with `\]` for a literal bracket inside).
    static func tokenize(_ s: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var depth = false
        var chars = s.makeIterator()
        while let c = chars.next() {
            if depth {
                if c == "\\" {
                    if let n = chars.next() { current.append(n == "]" ? "]" : "\\\(n)") }
                    continue
                }
                current.append(c)
                if c == "]" { depth = false }
                continue
            }
            if c == " " || c == "\t" {
                if !current.isEmpty { tokens.append(current); current = "" }
            } else {
                if c == "[" && current.isEmpty { depth = true }
                current.append(c)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }
}

/// One module of a service's stack for one type, with the include chain that brought it in.
public struct PamStackEntry: Sendable, Equatable {
    public var line: PamLine
    /// `sshd:4` … for each `@include`/`include`/`substack` on the way, outermost first.
    public var via: [String]
    /// For a `substack` line: the included stack, evaluated as one module.
    public var substack: [PamStackEntry]?

    public var whereShown: String {
        via.isEmpty ? line.location : "\(line.location), included from \(via.joined(separator: " ← "))"
    }
}

/// A service's stack for one management group (`auth`), includes resolved, and libpam's way of
/// turning module results into the stack's result (Linux-PAM's `_pam_dispatch_aux`).
public struct PamStack: Sendable, Equatable {
    public var entries: [PamStackEntry]
    public var problems: [String]

    /// - Parameter resolve: the text of an included file by the name written in the line (relative
    ///   names are files in the same pam.d directory), or nil when it cannot be read.
    public static func build(type: String, file: PamFile, resolve: (String) -> (path: String, text: String)?) -> PamStack {
        var problems = file.problems
        let entries = expand(file, type: type, via: [], depth: 0, resolve: resolve, problems: &problems)
        return PamStack(entries: entries, problems: problems)
    }

    static let maxDepth = 8

    static func expand(_ file: PamFile, type: String, via: [String], depth: Int,
                       resolve: (String) -> (path: String, text: String)?, problems: inout [String]) -> [PamStackEntry] {
        var out: [PamStackEntry] = []
        func load(_ name: String, from location: String) -> PamFile? {
            guard depth < maxDepth else {
                problems.append("\(location): includes nest deeper than \(maxDepth) levels (a loop?); \(name) not read")
                return nil
            }
            guard let found = resolve(name) else {
                problems.append("\(location): cannot read the included file \(name); libpam fails this stack")
                return nil
            }
            let parsed = PamFile.parse(found.text, file: found.path)
            problems += parsed.problems
            return parsed
        }
        for entry in file.entries {
            switch entry {
            case .includeAll(let name, let f, let line, _):
                let location = "\(f):\(line)"
                if let inner = load(name, from: location) {
                    out += expand(inner, type: type, via: via + [location], depth: depth + 1, resolve: resolve, problems: &problems)
                }
            case .module(let l):
                guard l.type == type else { continue }
                switch l.control {
                case .include:
                    if let inner = load(l.module, from: l.location) {
                        out += expand(inner, type: type, via: via + [l.location], depth: depth + 1, resolve: resolve, problems: &problems)
                    }
                case .substack:
                    let inner = load(l.module, from: l.location).map {
                        expand($0, type: type, via: via + [l.location], depth: depth + 1, resolve: resolve, problems: &problems)
                    }
                    out.append(PamStackEntry(line: l, via: via, substack: inner ?? []))
                default:
                    out.append(PamStackEntry(line: l, via: via, substack: nil))
                }
            }
        }
        return out
    }

    /// What a module returns in a simulated attempt.
    public enum ModuleResult: Sendable, Equatable { case success, failure, ignore }

    /// True when libpam would return PAM_SUCCESS for the stack, given each module's result.
    public func admits(_ result: (PamStackEntry) -> ModuleResult) -> Bool {
        Self.run(entries, result)
    }

    static func run(_ entries: [PamStackEntry], _ result: (PamStackEntry) -> ModuleResult) -> Bool {
        enum Impression { case undecided, positive, negative }
        var impression = Impression.undecided
        var statusIsSuccess = false
        var i = 0
        loop: while i < entries.count {
            let e = entries[i]
            let r: ModuleResult
            if let sub = e.substack { r = run(sub, result) ? .success : .failure } else { r = result(e) }
            let value: String
            switch r {
            case .success: value = "success"
            case .failure: value = "auth_err"
            case .ignore: value = "ignore"
            }
            let action = e.line.control.action(for: value)
            switch action {
            case .reset:
                impression = .undecided; statusIsSuccess = false
            case .ok, .done:
                if impression == .undecided || (impression == .positive && statusIsSuccess) {
                    if r != .ignore { impression = .positive; statusIsSuccess = r == .success }
                }
                if impression != .negative && action == .done { break loop }
            case .bad, .die:
                if impression != .negative { impression = .negative; statusIsSuccess = r == .success }
                if action == .die { break loop }
            case .ignore:
                break
            case .jump(let n):
                i += n
            }
            i += 1
        }
        // libpam's sanity check: success only with a positive impression.
        return impression == .positive && statusIsSuccess
    }

    /// Every entry, substacks flattened, in order.
    public var allEntries: [PamStackEntry] {
        func walk(_ es: [PamStackEntry]) -> [PamStackEntry] {
            es.flatMap { e in [e] + (e.substack.map(walk) ?? []) }
        }
        return walk(entries)
    }
}
