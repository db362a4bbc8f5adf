import Crypto

/// Signs S3 requests with AWS Signature Version 4 (header form, `UNSIGNED-PAYLOAD` or a payload hash).
///
/// Pure: the same request, credentials and time give the same headers, which `SigV4SignerTests` checks against
/// the example in Amazon's S3 documentation.
public struct SigV4Signer: Sendable {
    /// The access key id.
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String
    /// The region (for example `us-east-1`).
    public var region: String
    /// The service name: `s3`.
    public var service = "s3"

    /// Creates a signer.
    public init(accessKeyID: String, secretAccessKey: String, region: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
    }

    /// The SHA-256 of an empty payload, hex.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The hex SHA-256 of `bytes`.
    public static func payloadHash(_ bytes: [UInt8]) -> String { Self.hex(SHA256.hash(data: bytes)) }

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256` and `Authorization`.
    /// - Parameters:
    ///   - method: `GET`, `PUT`, …
    ///   - path: The URI path, already percent-encoded (each segment with `uriEncode`).
    ///   - query: The query parameters, not encoded.
    ///   - headers: Headers to sign besides `host` and the `x-amz-*` ones this adds (names any case).
    ///   - host: The `Host` header (with the port when it is not the scheme's default).
    ///   - payloadHash: `payloadHash(body)`, `emptyPayloadHash`, or `UNSIGNED-PAYLOAD`.
    ///   - date: The request time as `yyyyMMdd'T'HHmmss'Z'`.
    public func sign(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], host: String,
        payloadHash: String, date: String
    ) -> [(String, String)] {
        var signed = headers.map { ($0.0.lowercased(), Self.trim($0.1)) }
        signed.append(("host", host))
        signed.append(("x-amz-content-sha256", payloadHash))
        signed.append(("x-amz-date", date))
        signed.sort { $0.0 < $1.0 }
        let signedNames = signed.map(\.0).joined(separator: ";")
        let encoded: [(name: String, value: String)] = query.map { (Self.uriEncode($0.0), Self.uriEncode($0.1)) }
        let ordered = encoded.sorted { left, right in
            left.name == right.name ? left.value < right.value : left.name < right.name
        }
        let canonicalQuery = ordered.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let canonicalHeaders = signed.map { "\($0.0):\($0.1)\n" }.joined()
        let lines: [String] = [method, path, canonicalQuery, canonicalHeaders, signedNames, payloadHash]
        let canonicalRequest = lines.joined(separator: "\n")
        let day = String(date.prefix(8))
        let scope = "\(day)/\(self.region)/\(self.service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", date, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        var key = SymmetricKey(data: Array("AWS4\(self.secretAccessKey)".utf8))
        for part in [day, self.region, self.service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(self.accessKeyID)/\(scope), SignedHeaders=\(signedNames), "
            + "Signature=\(signature)"
        return [("x-amz-date", date), ("x-amz-content-sha256", payloadHash), ("Authorization", authorization)]
    }

    /// Percent-encodes everything but unreserved characters (`A-Z a-z 0-9 - . _ ~`), and `/` when `keepSlash`.
    public static func uriEncode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                let digits = Array("0123456789ABCDEF")
                out.append("%")
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0xF)])
            }
        }
        return out
    }

    private static func trim(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    private static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef")
        var out = ""
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return out
    }
}
