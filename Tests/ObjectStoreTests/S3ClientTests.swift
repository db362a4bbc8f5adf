import ObjectStore
import StateTestSupport
import Testing

/// The client against a real S3-compatible server (SeaweedFS on free local ports).
@Suite(.serialized) struct S3ClientTests {
    static let bucket = "weir-client"

    @Test func putGetRangeHeadDeleteRoundTrip() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        let client = S3Client(server.configuration)
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try client.put(bucket: Self.bucket, key: "a/b c/obj+1", bytes: bytes)
        #expect(try client.get(bucket: Self.bucket, key: "a/b c/obj+1") == bytes)
        #expect(try client.get(bucket: Self.bucket, key: "a/b c/obj+1", offset: 100, count: 50) == Array(bytes[100..<150]))
        #expect(try client.get(bucket: Self.bucket, key: "a/b c/obj+1", offset: 9_990) == Array(bytes[9_990...]))
        #expect(try client.head(bucket: Self.bucket, key: "a/b c/obj+1")?.size == 10_000)
        #expect(try client.head(bucket: Self.bucket, key: "a/missing") == nil)
        let missing = #expect(throws: ObjectStoreError.self) { try client.get(bucket: Self.bucket, key: "a/missing") }
        #expect(missing?.code == .notFound)
        try client.delete(bucket: Self.bucket, key: "a/b c/obj+1")
        #expect(try client.head(bucket: Self.bucket, key: "a/b c/obj+1") == nil)
        try client.delete(bucket: Self.bucket, key: "a/b c/obj+1")    // missing is fine

        // Conditional create: the second writer of a key is refused and the first one's bytes stay.
        try client.put(bucket: Self.bucket, key: "chk-1/_metadata", bytes: [1, 2, 3], ifNoneMatch: true)
        let second = #expect(throws: ObjectStoreError.self) {
            try client.put(bucket: Self.bucket, key: "chk-1/_metadata", bytes: [9], ifNoneMatch: true)
        }
        #expect(second?.code == .alreadyExists)
        #expect(try client.get(bucket: Self.bucket, key: "chk-1/_metadata") == [1, 2, 3])

        // Listing: delimiter, prefixes, several pages; batch deletion.
        let keys = (0..<25).map { "root/shared/f\($0)" } + ["root/chk-1/_metadata", "root/chk-2/x", "root/top"]
        for key in keys { try client.put(bucket: Self.bucket, key: key, bytes: Array(key.utf8)) }
        let top = try client.list(bucket: Self.bucket, prefix: "root/", delimiter: "/", pageSize: 2)
        #expect(top.objects.map(\.key) == ["root/top"])
        #expect(top.prefixes.sorted() == ["root/chk-1/", "root/chk-2/", "root/shared/"])
        let shared = try client.list(bucket: Self.bucket, prefix: "root/shared/", pageSize: 7)
        #expect(Set(shared.objects.map(\.key)) == Set(keys.prefix(25)))
        #expect(shared.objects.first { $0.key == "root/shared/f3" }?.size == "root/shared/f3".utf8.count)
        try client.delete(bucket: Self.bucket, keys: keys)
        #expect(try client.list(bucket: Self.bucket, prefix: "root/").objects.isEmpty)
    }

    @Test func multipartUploadAssemblesPartsInOrder() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        let client = S3Client(server.configuration)
        let size = 12 * 1_048_576 + 12_345
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: ($0 >> 10) &+ $0) }
        try client.putMultipart(bucket: Self.bucket, key: "big", size: size, partSize: 5 * 1_048_576, concurrency: 3) {
            Array(bytes[$0..<($0 + $1)])
        }
        #expect(try client.head(bucket: Self.bucket, key: "big")?.size == size)
        #expect(try client.get(bucket: Self.bucket, key: "big") == bytes)
    }

    @Test func wrongCredentialsMissingBucketAndStoppedServerAreNamed() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        var wrong = server.configuration
        wrong.secretAccessKey = "not-the-secret"
        let denied = #expect(throws: ObjectStoreError.self) {
            try S3Client(wrong).put(bucket: Self.bucket, key: "k", bytes: [1])
        }
        #expect(denied?.code == .accessDenied)
        #expect(denied?.message.contains("AWS_SECRET_ACCESS_KEY") == true)

        let client = S3Client(server.configuration)
        // A read names the missing bucket (SeaweedFS creates a bucket on a first write; S3 answers it with
        // NoSuchBucket too, and the client probes the bucket when a write fails with HTTP 500).
        let noBucket = #expect(throws: ObjectStoreError.self) {
            try client.list(bucket: "no-such-bucket", prefix: "root/")
        }
        #expect(noBucket?.code == .noSuchBucket, "\(noBucket?.message ?? "")")
        #expect(noBucket?.message.contains("no-such-bucket") == true)

        server.kill()
        let down = #expect(throws: ObjectStoreError.self) { try client.get(bucket: Self.bucket, key: "k") }
        #expect(down?.code == .unreachable)
        #expect(down?.message.contains(server.configuration.endpoint) == true)
        #expect(down?.message.contains("3 times") == true)
    }

    @Test func aHangingServerTimesOutAndIsRetried() throws {
        let server = try SeaweedServer(bucket: Self.bucket)
        defer { server.stop() }
        var configuration = server.configuration
        configuration.requestTimeout = .milliseconds(300)
        let client = S3Client(configuration)
        try client.put(bucket: Self.bucket, key: "k", bytes: [7])
        server.pause()
        let started = ContinuousClock.now
        let hung = #expect(throws: ObjectStoreError.self) { try client.get(bucket: Self.bucket, key: "k") }
        let waited = ContinuousClock.now - started
        #expect(hung?.code == .unreachable)
        #expect(hung?.message.contains("no answer within") == true)
        // Three attempts of 300 ms plus 50 + 100 ms of backoff: bounded, not a hang.
        #expect(waited >= .milliseconds(900) && waited < .seconds(10))
        // Resumed, a retried request succeeds.
        server.resume()
        #expect(try client.get(bucket: Self.bucket, key: "k") == [7])
    }
}
