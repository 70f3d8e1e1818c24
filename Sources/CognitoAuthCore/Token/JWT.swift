import Crypto
import CryptoExtras
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// A compact JWS split into its parts. Parsing checks structure only; nothing here is trusted until
/// `TokenVerifier` has checked the signature and the claims.
///
/// Parsing works on the token's UTF-8 bytes in place: header and payload are decoded into one
/// buffer that both JSON views share, and the signing input is hashed straight from the token
/// (splitting into Strings and copying cost more than the RSA check, see README "Performance").
public struct CompactJWS: Sendable {
    public static let maxBytes = 16_384

    public var header: JSONObjectView
    public var claims: JSONObjectView
    /// The token itself; the signing input is its first `signingInputCount` bytes.
    let token: String
    let signingInputCount: Int
    /// Header, payload and signature decoded into one buffer: [header | payload | signature].
    let decoded: [UInt8]
    let signatureRange: Range<Int>

    public var signature: Data { Data(decoded[signatureRange]) }

    /// The signature as swift-crypto takes it.
    public var rsaSignature: _RSA.Signing.RSASignature {
        _RSA.Signing.RSASignature(rawRepresentation: decoded[signatureRange])
    }

    /// SHA-256 of the signing input (`header.payload`, as sent).
    public func signingInputDigest() -> SHA256.Digest {
        let prefix = signingInputCount
        return token.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[..<prefix]))) }
            ?? SHA256.hash(data: Array(token.utf8.prefix(prefix)))
    }

    public static func parse(_ token: String) -> Result<CompactJWS, Refusal> {
        let size = token.utf8.count
        guard size <= maxBytes else {
            return .failure(Refusal(.tokenTooLarge, "token is \(size) bytes, over the \(maxBytes)-byte limit"))
        }
        return token.utf8.withContiguousStorageIfAvailable { parse(token, bytes: $0) }
            ?? Array(token.utf8).withUnsafeBufferPointer { parse(token, bytes: $0) }
    }

    static func parse(_ token: String, bytes: UnsafeBufferPointer<UInt8>) -> Result<CompactJWS, Refusal> {
        var dots = 0, first = 0, second = 0
        var from = 0
        while let dot = position(of: UInt8(ascii: "."), in: bytes, from: from) {
            dots += 1
            if dots == 1 { first = dot } else if dots == 2 { second = dot }
            from = dot + 1
        }
        guard dots == 2 else {
            return .failure(Refusal(.malformedToken, "token has \(dots + 1) dot-separated parts, not 3"))
        }
        let notBase64 = Refusal(.malformedToken, "token part is not canonical unpadded base64url")
        let headerText = UnsafeBufferPointer(rebasing: bytes[..<first])
        let payloadText = UnsafeBufferPointer(rebasing: bytes[(first + 1)..<second])
        let signatureText = UnsafeBufferPointer(rebasing: bytes[(second + 1)...])
        guard let headerCount = Base64URL.decodedCount(headerText.count),
              let payloadCount = Base64URL.decodedCount(payloadText.count),
              let signatureCount = Base64URL.decodedCount(signatureText.count) else { return .failure(notBase64) }
        // One buffer for all three parts: [header | payload | signature].
        let payloadEnd = headerCount + payloadCount
        var ok = false
        let decoded = [UInt8](unsafeUninitializedCapacity: payloadEnd + signatureCount) { out, initialized in
            ok = Base64URL.decode(headerText, into: UnsafeMutableBufferPointer(rebasing: out[..<headerCount]))
                && Base64URL.decode(payloadText, into: UnsafeMutableBufferPointer(rebasing: out[headerCount..<payloadEnd]))
                && Base64URL.decode(signatureText, into: UnsafeMutableBufferPointer(rebasing: out[payloadEnd...]))
            if !ok { out.initialize(repeating: 0) }
            initialized = out.count
        }
        guard ok else { return .failure(notBase64) }
        guard let header = JSONObjectView.parse(decoded, range: 0..<headerCount) else {
            return .failure(Refusal(.malformedToken, "token header is not a JSON object"))
        }
        guard let claims = JSONObjectView.parse(decoded, range: headerCount..<payloadEnd) else {
            return .failure(Refusal(.malformedToken, "token payload is not a JSON object"))
        }
        return .success(CompactJWS(header: header, claims: claims, token: token, signingInputCount: second,
                                   decoded: decoded, signatureRange: payloadEnd..<decoded.count))
    }
}

/// The index of the first `byte` at or after `from` (memchr: tokens are a kilobyte or more).
func position(of byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
    guard let base = bytes.baseAddress, from < bytes.count,
          let hit = memchr(base + from, Int32(byte), bytes.count - from) else { return nil }
    return UnsafeRawPointer(hit) - UnsafeRawPointer(base)
}
