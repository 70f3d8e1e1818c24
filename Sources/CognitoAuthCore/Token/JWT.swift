import Foundation

/// A compact JWS split into its parts. Parsing checks structure only; nothing here is trusted until
/// `TokenVerifier` has checked the signature and the claims.
public struct CompactJWS: Sendable {
    public static let maxBytes = 16_384

    public var header: [String: JSONValue]
    public var claims: [String: JSONValue]
    public var signingInput: [UInt8]
    public var signature: Data

    public static func parse(_ token: String) -> Result<CompactJWS, Refusal> {
        guard token.utf8.count <= maxBytes else {
            return .failure(Refusal(.tokenTooLarge, "token is \(token.utf8.count) bytes, over the \(maxBytes)-byte limit"))
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            return .failure(Refusal(.malformedToken, "token has \(parts.count) dot-separated parts, not 3"))
        }
        guard let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else {
            return .failure(Refusal(.malformedToken, "token part is not canonical unpadded base64url"))
        }
        guard let header = JSONValue.parseObject(headerBytes) else {
            return .failure(Refusal(.malformedToken, "token header is not a JSON object"))
        }
        guard let claims = JSONValue.parseObject(payloadBytes) else {
            return .failure(Refusal(.malformedToken, "token payload is not a JSON object"))
        }
        let input = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        return .success(CompactJWS(header: header, claims: claims, signingInput: input, signature: signature))
    }
}
