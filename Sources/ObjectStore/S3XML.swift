import Foundation

/// The few pieces of S3's XML answers Weir reads (keys, sizes, prefixes, tokens, error codes), and the XML bodies
/// it sends: a scanner for flat `<Tag>text</Tag>` elements, not a general parser.
enum S3XML {
    /// The text of every `<tag>…</tag>` in `xml`, entities decoded, in order.
    static func values(_ tag: String, in xml: Substring) -> [String] {
        self.elements(tag, in: xml).map { self.unescape(String($0)) }
    }

    /// The first `<tag>` text, if any.
    static func value(_ tag: String, in xml: Substring) -> String? { self.values(tag, in: xml).first }

    /// The raw contents of every `<tag>…</tag>` (for nested blocks such as `<Contents>`).
    static func elements(_ tag: String, in xml: Substring) -> [Substring] {
        var result: [Substring] = []
        let open = "<\(tag)>"
        let close = "</\(tag)>"
        var rest = xml[...]
        while let start = rest.range(of: open) {
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            result.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return result
    }

    /// `text` with `& < > " '` escaped.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }

    private static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
