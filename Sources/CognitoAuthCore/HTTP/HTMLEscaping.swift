/// Text for HTML: `& < > " '` as entities, and C0 controls and DEL as numeric references, so an
/// interpolated value can never open a tag or an attribute. Used by every page we serve (the
/// emulator's hosted UI, the relay's pages).
public enum HTMLEscaping {
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if c.value < 0x20 || c.value == 0x7F { out += "&#\(c.value);" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }
}
