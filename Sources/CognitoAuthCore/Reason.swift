/// Stable, machine-readable reason codes. They appear in audit lines (`reason=`), in the helper's
/// RESULT and in `cognito-auth test --json`; admins grep for them, so they never change meaning.
public enum ReasonCode: String, Sendable, CaseIterable {
    // success
    case ok
    // token structure and signature
    case malformedToken = "malformed_token"
    case tokenTooLarge = "token_too_large"
    case algNotAllowed = "alg_not_allowed"
    case missingKid = "missing_kid"
    case unknownKid = "unknown_kid"
    case keyRejected = "key_rejected"
    case badSignature = "bad_signature"
    // claims
    case wrongIssuer = "wrong_issuer"
    case wrongAudience = "wrong_audience"
    case wrongTokenUse = "wrong_token_use"
    case expired
    case missingExp = "missing_exp"
    case issuedInFuture = "iat_in_future"
    case nonceMismatch = "nonce_mismatch"
    case atHashMismatch = "at_hash_mismatch"
    case emailNotVerified = "email_not_verified"
    case claimWrongType = "claim_wrong_type"
    case missingClaim = "missing_claim"
    // identity
    case domainNotAllowed = "domain_not_allowed"
    case invalidLoginName = "invalid_login_name"
    case notInAccountMap = "not_in_account_map"
    case accountMismatch = "account_mismatch"
    case noLocalAccount = "no_local_account"
    case systemAccount = "system_account"
    case identityChanged = "identity_changed"
    case pinUnreadable = "pin_unreadable"
    case provisionFailed = "provision_failed"
    case accountLocked = "account_locked"
    // policy
    case groupNotAllowed = "group_not_allowed"
    case groupDenied = "group_denied"
    case claimMismatch = "claim_mismatch"
    case authTooOld = "auth_too_old"
    // sign-in flow
    case stateMismatch = "state_mismatch"
    case badRedirect = "bad_redirect"
    case idpError = "idp_error"
    case cancelled
    case timeout
    /// Device/relay flow: the person (or the IdP) refused the sign-in (`access_denied`).
    case accessDenied = "access_denied"
    /// Device/relay flow: the device authorization endpoint or the relay answered something unusable.
    case deviceAuthorizationFailed = "device_authorization_failed"
    case tokenExchangeFailed = "token_exchange_failed"
    // environment
    case idpUnavailable = "idp_unavailable"
    case discoveryInvalid = "discovery_invalid"
    case jwksInvalid = "jwks_invalid"
    case configInvalid = "config_invalid"
    case conversationFailed = "conversation_failed"
    case protocolError = "protocol_error"
    case internalError = "internal_error"
}

/// What a login attempt ends as. Maps one-to-one onto the helper protocol's RESULT outcomes and,
/// through pam_cognito.so, onto PAM codes (ARCHITECTURE.md §3).
public enum Outcome: String, Sendable, CaseIterable {
    case allowed
    case denied
    case policyDenied = "policy_denied"
    case unknownUser = "unknown_user"
    case unavailable
    case configError = "config_error"
    case convError = "conv_error"
    case timeout

    /// CLI exit code (ARCHITECTURE.md §5): 0 allowed, 1 refused, 2 configuration, 3 IdP unavailable.
    public var exitCode: Int32 {
        switch self {
        case .allowed: return 0
        case .denied, .policyDenied, .unknownUser, .timeout, .convError: return 1
        case .configError: return 2
        case .unavailable: return 3
        }
    }
}

/// A failure with its stable code and a one-line explanation for the admin.
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ReasonCode
    public var detail: String
    public init(_ code: ReasonCode, _ detail: String) { self.code = code; self.detail = detail }
    public var description: String { "\(code.rawValue): \(detail)" }
}
