import CognitoAuthCore
import Crypto
import CryptoExtras
import FoundationEssentials

/// A reason for a log or a terminal: no line break inside.
func oneLine(_ s: String) -> Bool { !s.utf8.contains(0x0A) && !s.utf8.contains(0x0D) }

enum Targets {
    /// TokenVerifier over the input as the ID token. Only a token the fixture signed may ever
    /// verify: a mutation that passes means a check let something through.
    static func jwt(_ b: [UInt8]) {
        let token = String(decoding: b, as: UTF8.self)
        let verdict = TokenVerifier.verify(token, keys: Fixture.keys, expect: Fixture.expectations)
        require(!verdict.checks.isEmpty, "a verdict without checks")
        require((verdict.token != nil) == (verdict.failure == nil), "verdict's token and its failed check disagree")
        if verdict.token != nil {
            require(Fixture.signed.contains(token), "a token the fixture did not sign verified: \(token)")
        }
        require(verdict.checks.dropLast().allSatisfy(\.passed), "a check ran after one failed")
        if case .success(let jws) = CompactJWS.parse(token) {
            require(jws.signature.count <= b.count, "a signature longer than the token")
        }
    }

    /// JWKSet.parse over the input as the JWKS document. A key is usable only when it is RSA ≥ 2048
    /// bits without a rejection, and the fixture's tokens verify only with the fixture's modulus.
    static func jwks(_ b: [UInt8]) {
        guard case .success(let set) = JWKSet.parse(b) else { return }
        for (kid, key) in set.keys {
            require(kid == key.kid && !kid.isEmpty, "a key filed under another kid")
            if let pk = key.publicKey {
                require(key.rejection == nil, "a key both usable and rejected")
                require(pk.keySizeInBits >= JWKSet.minimumRSABits, "a \(pk.keySizeInBits)-bit key accepted")
                require(key.kty == "RSA", "a usable key whose kty is not RSA")
            } else {
                require(key.rejection != nil, "a key neither usable nor rejected")
            }
        }
        guard let first = Fixture.signed.sorted().first else { return }
        if TokenVerifier.verify(first, keys: set, expect: Fixture.expectations).token != nil {
            let n = (try? set.key(for: Fixture.kid)?.publicKey?.getKeyPrimitives().modulus).map { Array($0.drop { $0 == 0 }) }
            require(n == Fixture.modulus, "the fixture's token verified with a key that is not the fixture's")
        }
    }

    /// ProviderMetadata.parse over the input as the discovery document for the fixture's issuer.
    static func discovery(_ b: [UInt8]) {
        guard case .success(let m) = ProviderMetadata.parse(Data(b), expectedIssuer: Fixture.issuer) else { return }
        require(m.issuer == Fixture.issuer, "discovery for another issuer accepted")
        for e in [m.authorizationEndpoint, m.tokenEndpoint, m.jwksURI] + (m.deviceAuthorizationEndpoint.map { [$0] } ?? []) {
            require(EndpointRule.isAcceptable(e), "endpoint \(e) accepted, not https (or loopback http)")
        }
    }

    /// ConfigParser over the input as cognito-auth.conf (read as ProtectedFile does: UTF-8 only).
    /// A config that loads holds the safe defaults and re-parses to the same value; a refusal is
    /// one line.
    static func config(_ b: [UInt8]) {
        guard let text = String(validating: b, as: UTF8.self) else { return }
        let path = "/etc/cognito-auth/cognito-auth.conf"
        let c: Config
        do {
            c = try ConfigParser.parse(text, path: path)
        } catch {
            require(oneLine(error.description) && error.description.hasPrefix(path), "refusal is not one line naming the file: \(error)")
            return
        }
        require((try? ConfigParser.parse(text, path: path)) == c, "the same text parsed twice differs")
        require((10...3600).contains(c.loginTimeout) && (1...120).contains(c.httpTimeout) && (0...600).contains(c.clockSkew),
                "a timeout out of its range")
        require(c.scopes.contains("openid"), "scopes without openid")
        require(!c.redirectURIs.isEmpty && c.redirectURIs.allSatisfy { RedirectURI.parse($0.string) == $0 },
                "redirect URIs that do not re-parse")
        require(EndpointRule.isAcceptable(c.discoveryURL), "discovery_url \(c.discoveryURL) accepted")
        require(c.defaultPolicy.allowedGroups.map { !$0.isEmpty } ?? true, "an empty allowed_groups")
        require(c.servicePolicies.values.allSatisfy { $0.allowedGroups.map { !$0.isEmpty } ?? true }, "an empty service allowed_groups")
        if c.accountMap == .localpart { require(!c.allowedDomains.isEmpty, "localpart without allowed_domains") }
        require(c.cacheDir.hasPrefix("/") && c.stateDir.hasPrefix("/"), "a relative directory")
    }

    /// RelayConfigParser over the input as relay.conf; also the host-secret file reader.
    static func relayConfig(_ b: [UInt8]) {
        guard let text = String(validating: b, as: UTF8.self) else { return }
        let path = "/etc/cognito-auth/relay.conf"
        if let secrets = try? RelayConfigParser.hostSecrets(text, path: path) {
            require(!secrets.isEmpty && secrets.allSatisfy { $0.utf8.count >= 32 && $0.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } },
                    "a host secret under 32 printable bytes")
        }
        let c: RelayConfig
        do {
            c = try RelayConfigParser.parse(text, path: path)
        } catch {
            require(oneLine(error.description) && error.description.hasPrefix(path), "refusal is not one line naming the file: \(error)")
            return
        }
        require((try? RelayConfigParser.parse(text, path: path)) == c, "the same text parsed twice differs")
        require((10...3600).contains(c.codeLifetime) && (1...100).contains(c.maxCodeAttempts) && (1...65535).contains(c.listenPort),
                "a number out of its range")
        require(EndpointRule.isAcceptable(c.publicURL) && !c.publicURL.contains("?") && !c.publicURL.contains("#"),
                "public_url \(c.publicURL) accepted")
        if case .postgresql(let u) = c.store {
            let again = "postgresql://\(u.user)\(u.password.map { ":" + $0 } ?? "")@\(u.host):\(u.port)/\(u.database)"
            require(PostgresURL.parse(again) == u, "store URL does not re-parse")
        }
    }

    /// RedirectParser over the input as the pasted line: a code comes only with our state and holds
    /// only printable ASCII without spaces.
    static func redirect(_ b: [UInt8]) {
        let text = String(decoding: b, as: UTF8.self)
        guard case .success(let r) = RedirectParser.parse(text, expectedState: Fixture.state) else { return }
        guard case .code(let code) = r else {
            require(text.trimmed().isEmpty, "a non-empty paste read as empty")
            return
        }
        require(!code.isEmpty && code.utf8.count <= 2048 && code.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F },
                "code with a byte outside 0x21-0x7E")
        guard case .failure(let r) = RedirectParser.parse(text, expectedState: "c3RhdGUtb2YtYW5vdGhlci1zaWduLWlu"),
              r.code == .stateMismatch else {
            require(false, "a code accepted for another sign-in's state")
            return
        }
    }

    /// HTTPRequestParser over the input, with the loopback listener's caps and the emulator's; then
    /// the listener's reading of the query.
    static func http(_ b: [UInt8]) {
        for (maxHeader, maxBody) in [(16_384, 0), (16_384, 65_536)] {
            guard case .complete(let req, let consumed) = HTTPRequestParser.parse(b, maxHeaderBytes: maxHeader, maxBodyBytes: maxBody) else {
                continue
            }
            require(consumed <= b.count && consumed <= maxHeader + maxBody, "consumed \(consumed) of \(b.count) bytes")
            require(req.body.count == Int(req.header("Content-Length") ?? "0"), "body is not Content-Length bytes")
            require(req.body.count <= maxBody, "body over the cap")
            require(req.target.hasPrefix("/") && req.path + (req.query.map { "?" + $0 } ?? "") == req.target, "target split wrongly")
            require(!req.method.isEmpty && req.headers.allSatisfy { !$0.name.isEmpty && !$0.name.contains(":") }, "bad method or header name")
            require(req.version != "HTTP/1.1" || req.headerValues("Host").count == 1, "HTTP/1.1 without exactly one Host")
            // The same request arriving in pieces: the server sees exactly this request, and one
            // byte less is not yet a request.
            guard case .complete(_, let again) = HTTPRequestParser.parse(Array(b[..<consumed]), maxHeaderBytes: maxHeader, maxBodyBytes: maxBody),
                  again == consumed else {
                require(false, "the request's own bytes are not the same request")
                return
            }
            if case .complete = HTTPRequestParser.parse(Array(b[..<(consumed - 1)]), maxHeaderBytes: maxHeader, maxBodyBytes: maxBody) {
                require(false, "a request complete one byte early")
            }
            if req.method == "GET", let q = req.query {
                _ = RedirectParser.parseQuery(Substring(q), expectedState: Fixture.state)
            }
        }
    }

    /// WireMessage.nextFrame over the input as a stream of frames: each frame is whole, inside
    /// the buffer, within the caps, re-encodes to its own bytes, and is not a frame one byte early.
    static func wire(_ b: [UInt8]) {
        var rest = b[...]
        while true {
            let buffer = Array(rest)
            guard case .success(let next) = WireMessage.nextFrame(buffer), let (message, consumed) = next else { return }
            require(consumed > WireMessage.headerBytes && consumed <= buffer.count && consumed <= WireMessage.maxFrameBytes,
                    "frame of \(consumed) bytes in a buffer of \(buffer.count)")
            require(message.fields.count + 1 <= WireMessage.maxFields, "\(message.fields.count + 1) fields")
            require(!message.verb.isEmpty && message.verb.utf8.allSatisfy { $0 >= 0x41 && $0 <= 0x5A }, "verb \(message.verb)")
            let frame = Array(buffer[..<consumed])
            if String(validating: frame, as: UTF8.self) != nil {
                require(message.encoded() == frame, "a frame does not re-encode to its bytes")
            }
            guard case .success(nil) = WireMessage.nextFrame(Array(frame.dropLast())) else {
                require(false, "a frame decided one byte early")
                return
            }
            if case .success(let start) = HelperStart.from(message) {
                require(start.message == message, "START does not round-trip")
            }
            rest = rest.dropFirst(consumed)
        }
    }

    /// The relay's parsing (RelayForm), over the input as a form body, a query, Cookie and
    /// X-Forwarded-For header lines and a typed user code.
    static func relayForm(_ b: [UInt8]) {
        let text = String(decoding: b, as: UTF8.self)
        if let pairs = FormURLEncoding.decode(text) {
            let same = { (x: [(String, String)]?) in x.map { $0.map { [$0.0, $0.1] } } == pairs.map { [$0.0, $0.1] } }
            require(same(FormURLEncoding.decode(FormURLEncoding.encode(pairs))), "form does not round-trip")
            require(same(FormURLEncoding.decode(FormURLEncoding.encodeQuery(pairs))), "query does not round-trip")
        }
        switch RelayForm.fields(Substring(text)) {
        case .success(let f):
            require(RelayForm.query(text) == (text.isEmpty ? [:] : f), "query and form read one text differently")
            if case .success(let d) = RelayForm.deviceAuthorization(f) {
                require(d.codeChallenge.utf8.count == 43 && d.scope.split(separator: " ").contains("openid")
                        && Syntax.isPrintableASCII(d.host) && Syntax.isPrintableASCII(d.user) && d.user.utf8.count <= 64,
                        "device authorization fields out of form")
            }
            if case .success(let code) = RelayForm.tokenRequest(f) {
                require((1...128).contains(code.utf8.count) && f["grant_type"] == RelayRequests.deviceCodeGrant, "token request out of form")
            }
            if let code = f["code"], RelayForm.isWellFormedCode(code) { require(Syntax.isURLSafeToken(code), "callback code") }
        case .failure(let p):
            require(RelayForm.query(text) == nil, "query read a text the form refused")
            require(oneLine(p.reason), "refusal is not one line: \(p.reason)")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let c = RelayForm.cookie(lines, "relay_csrf") { require(!c.contains(";"), "a cookie value holding ;") }
        let address = RelayForm.clientAddress(peer: "127.0.0.1", forwardedFor: lines)
        require(address == "127.0.0.1" || (address.utf8.count <= 45 && address.utf8.allSatisfy(Syntax.isHexDigitOrSeparator)),
                "client address \(address)")
        require(RelayForm.clientAddress(peer: "192.0.2.1", forwardedFor: lines) == "192.0.2.1", "X-Forwarded-For believed from a remote peer")
        if let code = UserCode.normalize(text) {
            require(code.utf8.count == UserCode.length && code.utf8.allSatisfy(UserCode.alphabet.contains), "user code \(code)")
            require(UserCode.normalize(UserCode.display(code)) == code, "user code does not round-trip its display")
        }
    }
}
