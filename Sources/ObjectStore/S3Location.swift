/// A place in object storage, `s3://bucket/prefix`: a bucket and a key prefix (without leading or trailing `/`).
public struct S3Location: Sendable, Hashable, CustomStringConvertible {
    /// The bucket.
    public var bucket: String
    /// The key prefix, empty for the bucket's top.
    public var prefix: String

    /// Creates a location.
    public init(bucket: String, prefix: String) {
        self.bucket = bucket
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
    }

    /// Whether `path` is an object-storage URL (`s3://…`).
    public static func isObjectStoreURL(_ path: String) -> Bool { path.hasPrefix("s3://") }

    /// Parses `s3://bucket/prefix…`.
    /// - Throws: `.invalidConfiguration` for anything else or an empty bucket.
    public init(url: String) throws(ObjectStoreError) {
        guard Self.isObjectStoreURL(url) else {
            throw ObjectStoreError(code: .invalidConfiguration, message: "'\(url)' is not an s3://bucket/prefix URL")
        }
        let rest = url.dropFirst(5)
        let bucket = rest.prefix { $0 != "/" }
        guard !bucket.isEmpty else {
            throw ObjectStoreError(
                code: .invalidConfiguration, message: "'\(url)' names no bucket: write s3://bucket/prefix")
        }
        self.init(bucket: String(bucket), prefix: String(rest.dropFirst(bucket.count)))
    }

    /// The key of `relative` under the prefix.
    public func key(_ relative: String) -> String {
        self.prefix.isEmpty ? relative : relative.isEmpty ? self.prefix : "\(self.prefix)/\(relative)"
    }

    /// `s3://bucket/prefix`.
    public var description: String { self.prefix.isEmpty ? "s3://\(self.bucket)" : "s3://\(self.bucket)/\(self.prefix)" }
}
