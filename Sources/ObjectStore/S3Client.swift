import AsyncHTTPClient
import Crypto
import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A blocking S3 client for the calls checkpointing makes: PUT (optionally `If-None-Match: *`), ranged GET,
/// HEAD, DELETE, `DeleteObjects`, `ListObjectsV2`, multipart uploads, bucket creation.
///
/// Every request is signed (SigV4), has a deadline (`requestTimeout` plus `timeoutPerMebibyte` per MiB of body)
/// and is retried with exponential backoff on a transport error, a timeout, HTTP 5xx, 408 or 429. Methods block
/// the calling thread (checkpointing calls them from its own worker threads, never from an event loop) and
/// throw `ObjectStoreError` naming the endpoint, bucket and key.
public final class S3Client: Sendable {
    /// Where and how requests go.
    public let configuration: S3Configuration
    private let signer: SigV4Signer
    private let http: HTTPClient
    private let host: String
    private let scheme: String

    /// An object's size and entity tag.
    public struct ObjectInfo: Sendable, Hashable {
        /// The size in bytes.
        public var size: Int
        /// The entity tag, quotes included.
        public var etag: String
    }

    /// One page-merged `ListObjectsV2` answer.
    public struct Listing: Sendable {
        /// The objects directly under the prefix (or all under it without a delimiter): key and size.
        public var objects: [(key: String, size: Int)] = []
        /// The common prefixes (with a delimiter), each ending in it.
        public var prefixes: [String] = []
    }

    /// Creates a client.
    public init(_ configuration: S3Configuration) {
        self.configuration = configuration
        self.signer = SigV4Signer(
            accessKeyID: configuration.accessKeyID, secretAccessKey: configuration.secretAccessKey,
            region: configuration.region)
        self.http = HTTPClient.shared
        let afterScheme = configuration.endpoint.split(separator: "://", maxSplits: 1)
        self.scheme = afterScheme.count == 2 ? String(afterScheme[0]) : "https"
        self.host = String((afterScheme.last ?? "").prefix { $0 != "/" })
    }

    // MARK: Objects

    /// Stores an object and returns its entity tag. With `ifNoneMatch`, only when no object has the key.
    ///
    /// A conditional create whose answer was lost (the connection reset after the server stored it) is retried
    /// and then refused as existing: when the object there has these very bytes (its entity tag is their MD5),
    /// the create is taken as done.
    /// - Throws: `.alreadyExists` when `ifNoneMatch` and the key holds another object.
    @discardableResult
    public func put(bucket: String, key: String, bytes: [UInt8], ifNoneMatch: Bool = false) throws(ObjectStoreError)
        -> String
    {
        do throws(ObjectStoreError) {
            let response = try self.send(
                "PUT", bucket: bucket, key: key, headers: ifNoneMatch ? [("If-None-Match", "*")] : [], body: bytes)
            return response.headers.first(name: "ETag") ?? ""
        } catch where error.code == .alreadyExists {
            let md5 = Insecure.MD5.hash(data: bytes).map { byte in
                let hex = String(byte, radix: 16)
                return byte < 16 ? "0" + hex : hex
            }.joined()
            guard let existing = try self.head(bucket: bucket, key: key),
                existing.etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == md5
            else { throw error }
            ObjectStoreTelemetry.log.debug("PUT s3://\(bucket)/\(key): already there with these bytes (a lost answer)")
            return existing.etag
        }
    }

    /// Part of an object as `getRange` read it.
    public struct PartialObject: Sendable {
        /// The bytes read (fewer than asked at the object's end).
        public var bytes: [UInt8]
        /// The object's size in bytes.
        public var objectSize: Int
        /// The object's entity tag, quotes included.
        public var etag: String
    }

    /// Reads up to `count` bytes at `offset`, with the object's size and entity tag (one request: a whole
    /// small object, or the first part of a large one).
    /// - Throws: `.notFound` for a missing key.
    public func getRange(bucket: String, key: String, offset: Int, count: Int) throws(ObjectStoreError) -> PartialObject {
        let response: Response
        do throws(ObjectStoreError) {
            response = try self.send(
                "GET", bucket: bucket, key: key, headers: [("Range", "bytes=\(offset)-\(offset + max(count, 1) - 1)")],
                expectedBytes: count)
        } catch where error.status == 416 {
            // Nothing at `offset` (an empty object, or past the end).
            guard let info = try self.head(bucket: bucket, key: key) else {
                throw ObjectStoreError(code: .notFound, message: "s3://\(bucket)/\(key) does not exist", status: 404)
            }
            return PartialObject(bytes: [], objectSize: info.size, etag: info.etag)
        }
        let etag = response.headers.first(name: "ETag") ?? ""
        // `Content-Range: bytes 0-99/1234`; a server that ignores the range sends the whole object with 200.
        let total = response.headers.first(name: "Content-Range").flatMap { $0.split(separator: "/").last }
            .flatMap { Int($0) }
        guard response.status == 206, let total else {
            let bytes = response.body
            let slice = offset < bytes.count ? Array(bytes[offset..<min(bytes.count, offset + count)]) : []
            return PartialObject(bytes: slice, objectSize: bytes.count, etag: etag)
        }
        return PartialObject(bytes: response.body, objectSize: total, etag: etag)
    }

    /// Reads an object, or `count` bytes of it at `offset`.
    /// - Throws: `.notFound` for a missing key.
    public func get(bucket: String, key: String, offset: Int = 0, count: Int? = nil) throws(ObjectStoreError) -> [UInt8] {
        var headers: [(String, String)] = []
        if let count {
            guard count > 0 else { return [] }
            headers.append(("Range", "bytes=\(offset)-\(offset + count - 1)"))
        } else if offset > 0 {
            headers.append(("Range", "bytes=\(offset)-"))
        }
        return try self.send("GET", bucket: bucket, key: key, headers: headers, expectedBytes: count ?? 0).body
    }

    /// An object's size and entity tag, or `nil` when there is none.
    public func head(bucket: String, key: String) throws(ObjectStoreError) -> ObjectInfo? {
        do throws(ObjectStoreError) {
            let response = try self.send("HEAD", bucket: bucket, key: key)
            let size = response.headers.first(name: "Content-Length").flatMap { Int($0) } ?? 0
            return ObjectInfo(size: size, etag: response.headers.first(name: "ETag") ?? "")
        } catch where error.code == .notFound {
            return nil
        }
    }

    /// Deletes an object; a missing one is fine.
    public func delete(bucket: String, key: String) throws(ObjectStoreError) {
        _ = try self.send("DELETE", bucket: bucket, key: key)
    }

    /// Deletes objects in batches of 1,000 (`DeleteObjects`); missing ones are fine.
    /// - Throws: the first key the server could not delete, with its reason.
    public func delete(bucket: String, keys: [String]) throws(ObjectStoreError) {
        var start = 0
        while start < keys.count {
            let batch = keys[start..<min(start + 1_000, keys.count)]
            start += batch.count
            var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>"
            for key in batch { xml += "<Object><Key>\(S3XML.escape(key))</Key></Object>" }
            xml += "</Delete>"
            let body = Array(xml.utf8)
            let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
            let response = try self.send(
                "POST", bucket: bucket, key: "", query: [("delete", "")], headers: [("Content-MD5", md5)], body: body)
            let text = String(decoding: response.body, as: UTF8.self)[...]
            if let failure = S3XML.elements("Error", in: text).first {
                let key = S3XML.value("Key", in: failure) ?? "?"
                let code = S3XML.value("Code", in: failure) ?? "?"
                throw ObjectStoreError(
                    code: .server,
                    message: "\(self.configuration.endpoint) could not delete s3://\(bucket)/\(key): \(code) "
                        + "\(S3XML.value("Message", in: failure) ?? ""); it is retried at the next cleanup")
            }
        }
    }

    /// Lists the objects under `prefix` (every page of up to `pageSize` keys), with `delimiter` splitting off common
    /// prefixes; stops after the first page when `firstPageOnly` (enough to tell whether anything is there).
    public func list(
        bucket: String, prefix: String, delimiter: String? = nil, pageSize: Int = 1_000, firstPageOnly: Bool = false
    ) throws(ObjectStoreError) -> Listing {
        var listing = Listing()
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(pageSize))]
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let token { query.append(("continuation-token", token)) }
            let response = try self.send("GET", bucket: bucket, key: "", query: query)
            let text = String(decoding: response.body, as: UTF8.self)[...]
            for entry in S3XML.elements("Contents", in: text) {
                guard let key = S3XML.value("Key", in: entry) else { continue }
                listing.objects.append((key, S3XML.value("Size", in: entry).flatMap { Int($0) } ?? 0))
            }
            for entry in S3XML.elements("CommonPrefixes", in: text) {
                if let prefix = S3XML.value("Prefix", in: entry) { listing.prefixes.append(prefix) }
            }
            token = S3XML.value("IsTruncated", in: text) == "true" ? S3XML.value("NextContinuationToken", in: text) : nil
            if firstPageOnly { break }
        } while token != nil
        return listing
    }

    /// Creates a bucket; one that exists (and is this account's) is fine.
    public func createBucket(_ bucket: String) throws(ObjectStoreError) {
        do throws(ObjectStoreError) {
            _ = try self.send("PUT", bucket: bucket, key: "")
        } catch where error.status == 409 {
            return
        }
    }

    // MARK: Multipart

    /// Uploads an object of `size` bytes in parts of `partSize` (at least 5 MiB but the last), up to
    /// `concurrency` parts in flight, reading each part with `readPart(offset, count)`; returns the object's
    /// entity tag. A failed upload is aborted (the server drops its parts) and the error rethrown.
    @discardableResult
    public func putMultipart(
        bucket: String, key: String, size: Int, partSize: Int, concurrency: Int = 4,
        readPart: @escaping @Sendable (_ offset: Int, _ count: Int) throws -> [UInt8]
    ) throws(ObjectStoreError) -> String {
        let created = try self.send("POST", bucket: bucket, key: key, query: [("uploads", "")])
        let text = String(decoding: created.body, as: UTF8.self)[...]
        guard let uploadID = S3XML.value("UploadId", in: text) else {
            throw ObjectStoreError(
                code: .server, message: "\(self.configuration.endpoint) started no multipart upload for "
                    + "s3://\(bucket)/\(key): its answer has no UploadId")
        }
        let parts = max(1, (size + partSize - 1) / partSize)
        let etags: [String]
        do throws(ObjectStoreError) {
            etags = try ParallelCalls.map(Array(0..<parts), width: max(concurrency, 1)) { part throws(ObjectStoreError) in
                let offset = part * partSize
                let bytes: [UInt8]
                do {
                    bytes = try readPart(offset, min(partSize, size - offset))
                } catch {
                    throw ObjectStoreError(
                        code: .server, message: "reading part \(part + 1) of s3://\(bucket)/\(key) failed: \(error)")
                }
                let response = try self.send(
                    "PUT", bucket: bucket, key: key,
                    query: [("partNumber", String(part + 1)), ("uploadId", uploadID)], body: bytes)
                return response.headers.first(name: "ETag") ?? ""
            }
        } catch {
            _ = try? self.send("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadID)])
            throw error
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUpload>"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let completed = try self.send(
            "POST", bucket: bucket, key: key, query: [("uploadId", uploadID)], body: Array(xml.utf8))
        // A 200 can still carry an error (S3 reports late failures in the body).
        let answer = String(decoding: completed.body, as: UTF8.self)[...]
        if let code = S3XML.value("Code", in: answer), S3XML.value("ETag", in: answer) == nil {
            _ = try? self.send("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadID)])
            throw ObjectStoreError(
                code: .server, message: "\(self.configuration.endpoint) did not complete the multipart upload of "
                    + "s3://\(bucket)/\(key): \(code)")
        }
        return S3XML.value("ETag", in: answer) ?? ""
    }

    // MARK: Requests

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// Signs and sends a request with the deadline and retries; maps error answers to `ObjectStoreError`.
    func send(
        _ method: String, bucket: String, key: String, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: [UInt8] = [], expectedBytes: Int = 0, probeBucket: Bool = true
    ) throws(ObjectStoreError) -> Response {
        let what = "\(method) s3://\(bucket)/\(key) at \(self.configuration.endpoint)"
        let encodedKey = SigV4Signer.uriEncode(key, keepSlash: true)
        let (path, host) =
            self.configuration.pathStyle
            ? ("/\(bucket)" + (key.isEmpty ? "" : "/\(encodedKey)"), self.host)
            : ("/\(encodedKey)", "\(bucket).\(self.host)")
        let queryString = query.map { "\(SigV4Signer.uriEncode($0.0))=\(SigV4Signer.uriEncode($0.1))" }
            .joined(separator: "&")
        let url = "\(self.scheme)://\(host)\(path)" + (queryString.isEmpty ? "" : "?\(queryString)")
        let payloadHash = body.isEmpty ? SigV4Signer.emptyPayloadHash : SigV4Signer.payloadHash(body)
        let mebibytes = Double(max(body.count, expectedBytes)) / 1_048_576
        let timeout = self.configuration.requestTimeout + self.configuration.timeoutPerMebibyte * mebibytes
        var lastFailure = ""
        var answered = false
        for attempt in 0..<self.configuration.attempts {
            if attempt > 0 {
                let backoff = self.configuration.backoff * (1 << (attempt - 1))
                Thread.sleep(forTimeInterval: backoff.seconds)
            }
            var signed = headers
            signed += self.signer.sign(
                method: method, path: path, query: query, headers: headers, host: host, payloadHash: payloadHash,
                date: Self.amzDate(Date()))
            let response: HTTPClient.Response
            let started = ContinuousClock.now
            let last = attempt == self.configuration.attempts - 1
            do {
                var request = try HTTPClient.Request(
                    url: url, method: HTTPMethod(rawValue: method), headers: HTTPHeaders(signed))
                if !body.isEmpty || method == "PUT" || method == "POST" { request.body = .bytes(body) }
                response = try self.http.execute(
                    request: request, deadline: .now() + .nanoseconds(Int64(timeout.seconds * 1e9))
                ).wait()
            } catch {
                lastFailure = Self.describe(error, timeout: timeout)
                answered = false
                self.retrying(method, what: what, attempt: attempt, last: last, failure: lastFailure, since: started)
                continue
            }
            let status = Int(response.status.code)
            let bytes = response.body.map { Array($0.readableBytesView) } ?? []
            if (200..<300).contains(status) {
                ObjectStoreTelemetry.attempt(method, outcome: "ok", duration: ContinuousClock.now - started)
                return Response(status: status, headers: response.headers, body: bytes)
            }
            if status >= 500 || status == 408 || status == 429 {
                lastFailure = "HTTP \(status) \(S3XML.value("Code", in: String(decoding: bytes, as: UTF8.self)[...]) ?? "")"
                answered = true
                self.retrying(method, what: what, attempt: attempt, last: last, failure: lastFailure, since: started)
                continue
            }
            ObjectStoreTelemetry.attempt(method, outcome: "failed", duration: ContinuousClock.now - started)
            throw self.failure(status: status, body: bytes, what: what, method: method, bucket: bucket)
        }
        if answered {
            // Some servers (SeaweedFS) answer a write into a missing bucket with HTTP 500: say so when it is that.
            var missingBucket = false
            if probeBucket && !key.isEmpty {
                do throws(ObjectStoreError) {
                    _ = try self.send(
                        "GET", bucket: bucket, key: "", query: [("list-type", "2"), ("max-keys", "1")], probeBucket: false)
                } catch {
                    missingBucket = error.code == .noSuchBucket
                }
            }
            if missingBucket {
                throw ObjectStoreError(
                    code: .noSuchBucket,
                    message: "\(what) failed: the bucket '\(bucket)' does not exist. Create it, or fix the checkpoint "
                        + "root.", status: 404)
            }
            throw ObjectStoreError(
                code: .server,
                message: "\(what) failed \(self.configuration.attempts) times (last: \(lastFailure)): the server is in "
                    + "trouble. Nothing was deleted; retry once it is well.")
        }
        throw ObjectStoreError(
            code: .unreachable,
            message: "\(what) failed \(self.configuration.attempts) times (last: \(lastFailure)). Is the server running "
                + "and reachable at \(self.configuration.endpoint) (AWS_ENDPOINT_URL)? Nothing was deleted; retry "
                + "once it is back.")
    }

    /// Counts and logs an attempt that failed in a way worth retrying (the last one counts as failed).
    private func retrying(_ method: String, what: String, attempt: Int, last: Bool, failure: String, since started: ContinuousClock.Instant) {
        ObjectStoreTelemetry.attempt(method, outcome: last ? "failed" : "retried", duration: ContinuousClock.now - started)
        ObjectStoreTelemetry.log.debug(
            "\(what): attempt \(attempt + 1) of \(self.configuration.attempts) failed (\(failure))\(last ? "" : "; retrying")")
    }

    private func failure(status: Int, body: [UInt8], what: String, method: String, bucket: String) -> ObjectStoreError {
        let text = String(decoding: body, as: UTF8.self)[...]
        let code = S3XML.value("Code", in: text) ?? ""
        let detail = [code, S3XML.value("Message", in: text) ?? ""].filter { !$0.isEmpty }.joined(separator: ": ")
        let answered = "\(what) answered HTTP \(status)\(detail.isEmpty ? "" : " (\(detail))")"
        switch (status, code) {
        case (404, "NoSuchBucket"):
            return ObjectStoreError(
                code: .noSuchBucket,
                message: "\(answered): the bucket '\(bucket)' does not exist. Create it, or fix the checkpoint root.",
                status: status)
        case (404, _):
            return ObjectStoreError(code: .notFound, message: "\(answered): no such object", status: status)
        case (412, _):
            return ObjectStoreError(code: .alreadyExists, message: "\(answered): the object already exists", status: status)
        case (401, _), (403, _):
            return ObjectStoreError(
                code: .accessDenied,
                message: "\(answered): the server refused the credentials. Check AWS_ACCESS_KEY_ID and "
                    + "AWS_SECRET_ACCESS_KEY (and AWS_REGION) for \(self.configuration.endpoint).", status: status)
        default:
            return ObjectStoreError(code: .server, message: answered, status: status)
        }
    }

    private static func describe(_ error: any Error, timeout: Duration) -> String {
        if let http = error as? HTTPClientError, http == .deadlineExceeded || http == .readTimeout {
            return "no answer within \(timeout)"
        }
        return "\(error)"
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    static func amzDate(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let inDay = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)\(two(month))\(two(day))T\(two(inDay / 3_600))\(two(inDay / 60 % 60))\(two(inDay % 60))Z"
    }
}


extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
