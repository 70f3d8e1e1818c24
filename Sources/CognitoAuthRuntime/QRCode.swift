import CQRencode
import CognitoAuthCore

/// A QR code of a URL through the system libqrencode, drawn with half blocks (`QRText`).
public enum QRCode {
    /// The modules (true = dark), or nil when libqrencode cannot encode the text.
    public static func modules(_ text: String) -> [[Bool]]? {
        guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1) else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        guard width > 0, let data = code.pointee.data else { return nil }
        return (0..<width).map { row in (0..<width).map { col in data[row * width + col] & 1 == 1 } }
    }

    public static func text(_ url: String) -> String? {
        modules(url).map { QRText.halfBlocks($0) }
    }
}
