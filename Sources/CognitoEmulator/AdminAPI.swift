import CognitoAuthCore
import Foundation

/// The admin API for out-of-process tests, under `/_emulator/`, JSON in and out:
///
/// | request | body | answer |
/// |---|---|---|
/// | `GET /_emulator/health` | | `{"status":"ok","issuer":…,"discovery_url":…,"client_id":…}` |
/// | `GET /_emulator/stats` | | `{"discovery":n,"jwks":n,"authorize":n,"login":n,"token":n,"userinfo":n,…}` |
/// | `POST /_emulator/users` | `{"email","password","groups"?,"email_verified"?,"username"?,"sub"?,"custom"?}` | 201 `{"email","username","sub"}` |
/// | `POST /_emulator/fault` | `{"fault":"bad_signature"}` or `{"fault":null}` | `{"fault":…}`; unknown → 400 `{"error":"unknown_fault","known":[…]}` |
/// | `POST /_emulator/rotate` | | `{"kid":new,"removed_kid":old}` |
/// | `POST /_emulator/clock` | `{"advance_seconds":n}` | `{"now":epoch seconds}` |
/// | `POST /_emulator/outage` | `{"endpoints":["jwks",…]}` (`[]` restores) | `{"down":[…]}`; those endpoints answer 503 |
/// | `POST /_emulator/slow` | `{"endpoints":{"token":30,…}}` (`{}` restores) | `{"slow":{…}}`; those endpoints answer after that many seconds (≤ 600) |
/// | `GET`/`POST /_emulator/device` | `{"enabled"?,"interval"?,"expires_in"?,"slow_down"?,"force"?}` | device mode (DeviceRoutes.swift): settings and each device code's polls |
/// | `POST /_emulator/oversize` | `{"endpoints":{"jwks":2097152,…}}` (`{}` restores) | `{"oversize":{…}}`; those bodies are padded with spaces to that many bytes (≤ 64 MiB) |
///
/// Refused (403) unless the Host header names a loopback address, so a web page cannot drive it
/// through DNS rebinding.
extension CognitoEmulator {
    func handleAdmin(_ request: HTTPRequest) -> HTTPResponse {
        guard isLoopbackHost(request.header("Host")) else {
            return Respond.json(403, .object([("error", .string("admin API is loopback-only"))]))
        }
        switch (request.method, request.path) {
        case ("GET", "/_emulator/health"):
            return Respond.json(200, .object([
                ("status", .string("ok")), ("issuer", .string(issuer)),
                ("discovery_url", .string(discoveryURL)), ("client_id", .string(client.clientId)),
            ]))
        case ("GET", "/_emulator/stats"):
            let snapshot = lock.withLock { counts }
            let names = Set(["discovery", "jwks", "authorize", "login", "token", "userinfo"]).union(snapshot.keys)
            return Respond.json(200, .object(names.sorted().map { ($0, .int(snapshot[$0] ?? 0)) }))
        case ("POST", "/_emulator/users"):
            return adminAddUser(request)
        case ("POST", "/_emulator/fault"):
            return adminFault(request)
        case ("POST", "/_emulator/rotate"):
            let old = keyIDs?.idToken
            guard let kid = try? rotateSigningKey() else { return Respond.oauthError(500, "server_error") }
            return Respond.json(200, .object([("kid", .string(kid)), ("removed_kid", old.map { .string($0) } ?? .null)]))
        case ("POST", "/_emulator/clock"):
            guard let body = try? JSONDecoder().decode(AdminClockBody.self, from: Data(request.body)),
                  body.advance_seconds.isFinite, abs(body.advance_seconds) < 1e9 else {
                return adminBad("expected {\"advance_seconds\": number}")
            }
            advanceClock(by: body.advance_seconds)
            return Respond.json(200, .object([("now", .int(Int(now().timeIntervalSince1970)))]))
        case ("POST", "/_emulator/outage"):
            guard let body = try? JSONDecoder().decode(AdminOutageBody.self, from: Data(request.body)),
                  body.endpoints.allSatisfy({ Self.faultableEndpoints.contains($0) }) else {
                return adminBad("expected {\"endpoints\": [names of discovery, jwks, authorize, token, userinfo]}")
            }
            setOutage(Set(body.endpoints))
            return Respond.json(200, .object([("down", .array(body.endpoints.sorted().map { .string($0) }))]))
        case ("POST", "/_emulator/slow"):
            return adminEndpointValues(request, name: "slow", unit: "seconds", apply: setSlow)
        case (_, "/_emulator/device"):
            return adminDevice(request)
        case ("POST", "/_emulator/oversize"):
            return adminEndpointValues(request, name: "oversize", unit: "bytes", apply: setOversize)
        case (_, "/_emulator/health"), (_, "/_emulator/stats"):
            return Respond.methodNotAllowed("GET")
        case (_, "/_emulator/users"), (_, "/_emulator/fault"), (_, "/_emulator/rotate"), (_, "/_emulator/clock"),
             (_, "/_emulator/outage"), (_, "/_emulator/slow"), (_, "/_emulator/oversize"):
            return Respond.methodNotAllowed("POST")
        default:
            return Respond.notFound()
        }
    }

    /// The endpoints `outage`, `slow` and `oversize` act on (the names `endpointName` gives).
    static let faultableEndpoints = ["discovery", "jwks", "authorize", "token", "userinfo", "device_authorization"]

    /// `{"endpoints": {name: number}}` for `slow` and `oversize`; answers with what was set.
    private func adminEndpointValues(_ request: HTTPRequest, name: String, unit: String,
                                     apply: ([String: Int]) -> Void) -> HTTPResponse {
        guard let body = try? JSONDecoder().decode(AdminEndpointValues.self, from: Data(request.body)),
              body.endpoints.allSatisfy({ Self.faultableEndpoints.contains($0.key) }) else {
            return adminBad("expected {\"endpoints\": {name: \(unit)}} with names of \(Self.faultableEndpoints.joined(separator: ", "))")
        }
        apply(body.endpoints)
        return Respond.json(200, .object([(name, .object(body.endpoints.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) }))]))
    }

    private func adminBad(_ message: String) -> HTTPResponse {
        Respond.json(400, .object([("error", .string("invalid_request")), ("error_description", .string(message))]))
    }

    private func adminAddUser(_ request: HTTPRequest) -> HTTPResponse {
        guard let body = try? JSONDecoder().decode(AdminUserBody.self, from: Data(request.body)) else {
            return adminBad("expected {\"email\": string, \"password\": string, \"groups\"?: [string], "
                + "\"email_verified\"?: bool, \"username\"?: string, \"sub\"?: string, \"custom\"?: {string: string}}")
        }
        guard !body.email.isEmpty, body.username?.isEmpty != true, body.sub?.isEmpty != true else {
            return adminBad("email, username and sub must not be empty")
        }
        let user = EmulatorUser(email: body.email, password: body.password, groups: body.groups ?? [],
                                emailVerified: body.email_verified ?? true, username: body.username, sub: body.sub,
                                custom: body.custom ?? [:])
        addUser(user)
        return Respond.json(201, .object([
            ("email", .string(user.email)), ("username", .string(user.username)), ("sub", .string(user.sub)),
        ]))
    }

    private func adminFault(_ request: HTTPRequest) -> HTTPResponse {
        guard let body = try? JSONDecoder().decode(AdminFaultBody.self, from: Data(request.body)) else {
            return adminBad("expected {\"fault\": name} or {\"fault\": null}")
        }
        guard let name = body.fault else {
            setFault(nil)
            return Respond.json(200, .object([("fault", .null)]))
        }
        guard let fault = TokenFault(rawValue: name) else {
            return Respond.json(400, .object([
                ("error", .string("unknown_fault")),
                ("known", .array(TokenFault.allCases.map { .string($0.rawValue) })),
            ]))
        }
        setFault(fault)
        return Respond.json(200, .object([("fault", .string(fault.rawValue))]))
    }

    private func isLoopbackHost(_ host: String?) -> Bool {
        guard let host = host?.lowercased() else { return false }
        let name: Substring
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            name = host[host.index(after: host.startIndex)..<close]
        } else {
            name = host.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        }
        return name == "127.0.0.1" || name == "localhost" || name == "::1"
    }
}

private struct AdminUserBody: Decodable {
    var email: String
    var password: String
    var groups: [String]?
    var email_verified: Bool?
    var username: String?
    var sub: String?
    var custom: [String: String]?
}

/// `{"fault": "name"}` or `{"fault": null}`; the member must be present.
private struct AdminFaultBody: Decodable {
    var fault: String?

    enum CodingKeys: String, CodingKey { case fault }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard c.contains(.fault) else {
            throw DecodingError.keyNotFound(CodingKeys.fault, .init(codingPath: [], debugDescription: "fault is required"))
        }
        fault = try c.decodeNil(forKey: .fault) ? nil : c.decode(String.self, forKey: .fault)
    }
}

private struct AdminClockBody: Decodable {
    var advance_seconds: Double
}

private struct AdminOutageBody: Decodable {
    var endpoints: [String]
}

/// `{"endpoints": {name: seconds or bytes}}`
private struct AdminEndpointValues: Decodable {
    var endpoints: [String: Int]
}
