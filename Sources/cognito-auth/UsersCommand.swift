import ArgumentParser
import CognitoAuthCore
import CognitoAuthRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `cognito-auth users list | show NAME | remove NAME | lock NAME`: the accounts provisioned on
/// first sign-in (the store libnss_cognito.so.2 serves, ARCHITECTURE.md §12).
struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "List, show, remove or lock accounts provisioned on first sign-in.",
        subcommands: [List.self, Show.self, Remove.self, Lock.self])

    static func store(_ options: ConfigOption) throws -> (AccountStore, AccountStore.Snapshot) {
        let loaded = try loadConfigOrExit(options.config)
        let store = AccountStore(stateDir: loaded.config.stateDir)
        switch store.snapshot() {
        case .success(let s): return (store, s)
        case .failure(let why):
            printError("✗ users: \(why)")
            throw ExitCode(2)
        }
    }

    static func audit(_ action: String, _ user: String, _ result: String) {
        Syslog.open()
        Syslog.log(.notice, "event=users_\(action) user=\(AuditEvent.kvValue(user)) result=\(result) by_uid=\(getuid())")
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per provisioned account: name, uid, groups, locked.")
        @OptionGroup var options: ConfigOption
        func run() throws {
            let (_, snap) = try UsersCommand.store(options)
            for e in snap.passwd {
                let groups = snap.groups.filter { $0.members.contains(e.name) }.map(\.name).joined(separator: ",")
                print("\(e.name)\t\(e.uid)\t\(groups)\(snap.meta[e.name]?.locked == true ? "\tlocked" : "")")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The passwd entry, groups and state of one account.")
        @Argument(help: "The local account.") var user: String
        @OptionGroup var options: ConfigOption
        func run() throws {
            let (_, snap) = try UsersCommand.store(options)
            guard let e = snap.passwd.first(where: { $0.name == user }) else {
                print("! \(user) is not a provisioned account.")
                throw ExitCode(1)
            }
            print("passwd:  \(e.line)")
            print("groups:  \(snap.groups.filter { $0.members.contains(user) }.map { "\($0.name)(\($0.gid))" }.joined(separator: " "))")
            if let m = snap.meta[user] {
                print("created: \(Date(timeIntervalSince1970: m.created).formatted(.iso8601))")
                print("locked:  \(m.locked ? "yes" : "no")")
            }
        }
    }

    /// remove and lock: one account, one change under the store's lock, one audit line.
    protocol Change: ParsableCommand {
        var user: String { get }
        var options: ConfigOption { get }
        static var action: (name: String, done: String) { get }
        static func apply(_ store: AccountStore, _ user: String) -> Result<Bool, StoreProblem>
    }

    struct Remove: Change {
        static let configuration = CommandConfiguration(
            abstract: "Remove the account's entry and group memberships (its home and its pin stay).")
        static let action = (name: "remove", done: "removed; the next admitted sign-in provisions it again")
        static func apply(_ store: AccountStore, _ user: String) -> Result<Bool, StoreProblem> { store.remove(user) }
        @Argument(help: "The local account.") var user: String
        @OptionGroup var options: ConfigOption
    }

    struct Lock: Change {
        static let configuration = CommandConfiguration(
            abstract: "Refuse the account's sign-ins (it keeps its uid; its shell becomes nologin).")
        static let action = (name: "lock", done: "locked: its sign-ins are refused")
        static func apply(_ store: AccountStore, _ user: String) -> Result<Bool, StoreProblem> { store.lock(user) }
        @Argument(help: "The local account.") var user: String
        @OptionGroup var options: ConfigOption
    }

    static func change(_ user: String, _ options: ConfigOption, _ action: String, _ done: String,
                       _ body: (AccountStore, String) -> Result<Bool, StoreProblem>) throws {
        let (store, _) = try store(options)
        switch body(store, user) {
        case .failure(let why):
            printError("✗ users \(action): \(why)")
            throw ExitCode(2)
        case .success(let changed):
            audit(action, user, changed ? "done" : "absent")
            guard changed else {
                print("! \(user) is not a provisioned account.")
                throw ExitCode(1)
            }
            print("✓ \(user) \(done).")
        }
    }
}

extension UsersCommand.Change {
    func run() throws { try UsersCommand.change(user, options, Self.action.name, Self.action.done, Self.apply) }
}
