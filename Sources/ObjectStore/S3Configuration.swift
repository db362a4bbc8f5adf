import Foundation

/// Where an S3-compatible server is and how to talk to it: endpoint, region, credentials, and the request
/// timeout and retry policy (like Flink's changelog storage: 1 s per request, 3 attempts, a slow request is
/// retried rather than waited for).
public struct S3Configuration: Sendable, Hashable {
    /// The endpoint URL, `http(s)://host[:port]` (no path).
    public var endpoint: String
    /// The region the requests are signed for.
    public var region: String
    /// The access key id.
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String
    /// Path-style addressing (`endpoint/bucket/key`), what local servers such as SeaweedFS and MinIO need.
    /// Virtual-hosted style (`bucket.endpoint/key`) otherwise.
    public var pathStyle: Bool
    /// The time one request may take before it is abandoned and retried, plus `timeoutPerMebibyte` per MiB sent
    /// or received (a large part is not cut off at the small-request timeout).
    public var requestTimeout: Duration
    /// Extra time per MiB of request or response body.
    public var timeoutPerMebibyte: Duration
    /// Attempts per request (at least 1), with exponential backoff between them.
    public var attempts: Int
    /// The first backoff; each retry doubles it.
    public var backoff: Duration

    /// Creates a configuration.
    public init(
        endpoint: String, region: String = "us-east-1", accessKeyID: String, secretAccessKey: String,
        pathStyle: Bool = true, requestTimeout: Duration = .seconds(1), timeoutPerMebibyte: Duration = .milliseconds(100),
        attempts: Int = 3, backoff: Duration = .milliseconds(50)
    ) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.region = region
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.pathStyle = pathStyle
        self.requestTimeout = requestTimeout
        self.timeoutPerMebibyte = timeoutPerMebibyte
        self.attempts = max(attempts, 1)
        self.backoff = backoff
    }

    /// The configuration AWS tools read: `AWS_ENDPOINT_URL` (default: AWS in the region), `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`, default `us-east-1`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and
    /// `WEIR_S3_VIRTUAL_HOSTED=1` to leave path-style addressing.
    /// - Throws: `.invalidConfiguration` naming the missing variables.
    public static func fromEnvironment(_ environment: [String: String]? = nil) throws(ObjectStoreError) -> S3Configuration {
        let env = environment ?? Self.processEnvironment()
        let missing = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].filter { (env[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            throw ObjectStoreError(
                code: .invalidConfiguration,
                message: "an s3:// checkpoint root needs credentials: set \(missing.joined(separator: " and ")) "
                    + "(and AWS_ENDPOINT_URL for a server other than AWS, such as http://127.0.0.1:8333)")
        }
        let region = env["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let endpoint = env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"] ?? "https://s3.\(region).amazonaws.com"
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw ObjectStoreError(
                code: .invalidConfiguration,
                message: "AWS_ENDPOINT_URL is '\(endpoint)': it must start with http:// or https://")
        }
        return S3Configuration(
            endpoint: endpoint, region: region, accessKeyID: env["AWS_ACCESS_KEY_ID"]!,
            secretAccessKey: env["AWS_SECRET_ACCESS_KEY"]!, pathStyle: env["WEIR_S3_VIRTUAL_HOSTED"] != "1")
    }

    private static func processEnvironment() -> [String: String] { ProcessInfo.processInfo.environment }
}
