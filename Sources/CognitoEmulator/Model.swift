import Foundation

/// A person in the emulated user pool.
public struct EmulatorUser: Sendable, Equatable {
    public var email: String
    public var password: String
    /// `cognito:groups`; omitted from tokens when empty, as Cognito does.
    public var groups: [String]
    public var emailVerified: Bool
    /// `cognito:username`. In a pool that signs in by email, Cognito's username is the UUID `sub`;
    /// that is the default here too.
    public var username: String
    public var sub: String
    /// Custom attributes, keys with the `custom:` prefix (added if missing); values are strings,
    /// as Cognito puts them in tokens.
    public var custom: [String: String]

    public init(email: String, password: String, groups: [String] = [], emailVerified: Bool = true,
                username: String? = nil, sub: String? = nil, custom: [String: String] = [:]) {
        let sub = sub ?? UUID().uuidString.lowercased()
        self.email = email
        self.password = password
        self.groups = groups
        self.emailVerified = emailVerified
        self.username = username ?? sub
        self.sub = sub
        var normalized: [String: String] = [:]
        for (k, v) in custom { normalized[k.hasPrefix("custom:") ? k : "custom:" + k] = v }
        self.custom = normalized
    }
}

/// The user pool app client.
public struct EmulatorClient: Sendable, Equatable {
    public var clientId: String
    /// nil for a public client (no secret; sends only `client_id`).
    public var clientSecret: String?
    /// Callback URLs, compared byte-for-byte with `redirect_uri`.
    public var redirectURIs: [String]
    /// The OAuth scopes the app client may be granted.
    public var allowedScopes: [String]

    public static let defaultScopes = ["openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"]

    public init(clientId: String, clientSecret: String? = nil, redirectURIs: [String],
                allowedScopes: [String] = EmulatorClient.defaultScopes) {
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.redirectURIs = redirectURIs
        self.allowedScopes = allowedScopes
    }
}

/// Ways an ID token can be wrong. While a fault is set, every ID token the emulator issues
/// (code and refresh grants) carries exactly that defect; access tokens stay correct.
public enum TokenFault: String, Sendable, CaseIterable {
    /// One bit of the RS256 signature flipped.
    case badSignature = "bad_signature"
    /// Signed by a key that is not in the JWKS, under a fresh `kid`.
    case unknownKid = "unknown_kid"
    /// Header `alg: none`, empty signature (`header.payload.`).
    case algNone = "alg_none"
    /// `aud` names another app client.
    case wrongAudience = "wrong_aud"
    /// `iss` names another user pool.
    case wrongIssuer = "wrong_iss"
    /// An ID token whose `token_use` is `access`.
    case tokenUseAccess = "token_use_access"
    /// `iat` two hours ago, `exp` one hour ago.
    case expired = "expired"
    /// `nonce` differs from the one sent to /oauth2/authorize.
    case nonceMismatch = "nonce_mismatch"
    /// `email_verified: false`.
    case emailVerifiedFalse = "email_verified_false"
    /// No `kid` in the header (signature otherwise valid).
    case missingKid = "missing_kid"
    /// Header `alg: HS256`, HMAC-SHA256 keyed with the UTF-8 of the ID key's public key in PEM
    /// (SPKI, `-----BEGIN PUBLIC KEY-----`, exactly swift-crypto's `pemRepresentation`): the
    /// RS256/HS256 key-confusion attack.
    case hs256WithPublicKey = "hs256_public_key"
    /// Header `alg: RS384`, a valid RSASSA-PKCS1-v1_5 SHA-384 signature by the published ID key.
    case rs384 = "rs384"
    /// `iat` one hour in the future.
    case iatInFuture = "iat_future"
    /// No `nonce` claim.
    case missingNonce = "missing_nonce"
    /// No `exp` claim.
    case missingExp = "missing_exp"
    /// `at_hash` of another access token.
    case atHashMismatch = "at_hash_mismatch"
    /// `exp` as a JSON string.
    case expAsString = "exp_string"
    /// `aud` as a JSON number.
    case audAsNumber = "aud_number"
    /// `cognito:groups` as one comma-joined string instead of an array.
    case groupsAsString = "groups_string"
    /// Signed by an ID key that `rotateSigningKey()` removed from the JWKS (under its old `kid`).
    /// Before any rotation: a key that was never published, under a stable `kid`.
    case signedWithRemovedKey = "removed_key"
    /// No `sub` claim.
    case missingSub = "missing_sub"
    /// No `email` claim.
    case missingEmail = "missing_email"
    /// `email_verified` as the string `"true"` (as userInfo returns it) instead of a boolean.
    case emailVerifiedAsString = "email_verified_string"
    /// `nbf` one hour in the future.
    case nbfInFuture = "nbf_future"
    /// `auth_time` two days ago (for `max_auth_age`); the token is otherwise fresh.
    case authTimeOld = "auth_time_old"
    /// Header `crit: ["exp"]`, an extension the verifier cannot understand (RFC 7515 §4.1.11).
    case critHeader = "crit_header"
    /// Header carries its own `jwk` (an attacker key) and is signed by it, `kid` not in the JWKS.
    case embeddedJWK = "jwk_header"
    /// Header `kid` names the access-token key (in the JWKS) but the ID key signed it: a verifier
    /// that tries every JWKS key instead of the named one accepts this.
    case kidMismatch = "kid_mismatch"
    /// Header `alg: nOnE` with an empty signature.
    case algNoneMixedCase = "alg_none_mixed_case"
    /// Header `alg: RS256` with an empty signature.
    case emptySignature = "empty_signature"
    /// The payload has `aud` twice: the right client first, another client last.
    case duplicateAudience = "duplicate_aud"
}
