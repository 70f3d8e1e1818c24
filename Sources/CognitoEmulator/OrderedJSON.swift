import CognitoAuthCore
import Foundation

/// A JSON value that keeps member order and may repeat a key, so the emulator can write exactly
/// the token or document it means to (including deliberately malformed ones).
indirect enum OrderedJSON: Sendable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case null
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    var text: String {
        switch self {
        case .string(let s): return OrderedJSON.quote(s)
        case .int(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { OrderedJSON.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    var bytes: [UInt8] { Array(text.utf8) }

    static func quote(_ s: String) -> String { JSONValue.quote(s) }
}

/// Small helpers for an object under construction.
extension Array where Element == (String, OrderedJSON) {
    mutating func set(_ key: String, _ value: OrderedJSON) {
        if let i = firstIndex(where: { $0.0 == key }) { self[i].1 = value } else { append((key, value)) }
    }

    mutating func remove(_ key: String) { removeAll { $0.0 == key } }

    func value(_ key: String) -> OrderedJSON? { first { $0.0 == key }?.1 }
}
