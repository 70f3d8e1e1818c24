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
        // Work on the UTF-8 bytes: splitting a String by Character costs more than the RSA check.
        let bytes = Array(token.utf8)
        let dots = bytes.indices.filter { bytes[$0] == UInt8(ascii: ".") }
        guard dots.count == 2 else {
            return .failure(Refusal(.malformedToken, "token has \(dots.count + 1) dot-separated parts, not 3"))
        }
        let decoded = bytes.withUnsafeBufferPointer { all -> (Data, Data, Data)? in
            guard let h = Base64URL.decode(bytes: UnsafeBufferPointer(rebasing: all[0..<dots[0]])),
                  let p = Base64URL.decode(bytes: UnsafeBufferPointer(rebasing: all[(dots[0] + 1)..<dots[1]])),
                  let s = Base64URL.decode(bytes: UnsafeBufferPointer(rebasing: all[(dots[1] + 1)...])) else { return nil }
            return (h, p, s)
        }
        guard let (headerBytes, payloadBytes, signature) = decoded else {
            return .failure(Refusal(.malformedToken, "token part is not canonical unpadded base64url"))
        }
        guard let header = JSONValue.parseObject(headerBytes) else {
            return .failure(Refusal(.malformedToken, "token header is not a JSON object"))
        }
        guard let claims = JSONValue.parseObject(payloadBytes) else {
            return .failure(Refusal(.malformedToken, "token payload is not a JSON object"))
        }
        let input = Array(bytes[..<dots[1]])
        return .success(CompactJWS(header: header, claims: claims, signingInput: input, signature: signature))
    }
}
