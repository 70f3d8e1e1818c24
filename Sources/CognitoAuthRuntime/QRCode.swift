import CQRencode
import CognitoAuthCore

/// A QR code of a URL through the system libqrencode (dlopen'ed at the first one), drawn with half
/// blocks (`QRText`). Without the library the prompt shows the address and code alone.
public enum QRCode {
    /// The modules (true = dark), or nil when libqrencode cannot be loaded or cannot encode the text.
    public static func modules(_ text: String) -> Result<[[Bool]], QRUnavailable> {
        var why: UnsafePointer<CChar>? = nil
        guard let code = cognito_qr_encode(text, &why) else {
            return .failure(QRUnavailable(reason: why.map { String(cString: $0) } ?? "libqrencode failed"))
        }
        defer { cognito_qr_free(code) }
        let width = Int(code.pointee.width)
        guard width > 0, let data = code.pointee.data else { return .failure(QRUnavailable(reason: "libqrencode returned an empty code")) }
        return .success((0..<width).map { row in (0..<width).map { col in data[row * width + col] & 1 == 1 } })
    }

    public static func text(_ url: String) -> Result<String, QRUnavailable> {
        modules(url).map { QRText.halfBlocks($0) }
    }
}

public struct QRUnavailable: Error, Sendable {
    public let reason: String
}
