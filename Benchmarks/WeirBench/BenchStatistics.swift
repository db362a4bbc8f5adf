import Foundation
import Checkpointing
import ObjectStore

/// The nearest-rank percentile of ascending `sorted` (`fraction` 0.5 = median), or nil when empty.
func percentile<T>(_ sorted: [T], _ fraction: Double) -> T? {
    guard !sorted.isEmpty else { return nil }
    return sorted[max(min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1), 0)]
}

/// A fresh root for one run under `parent` (`s3://bucket/prefix`: `run-<pid>-<ms>` below it), or nil without one.
func benchRunRoot(under parent: String?) -> String? {
    parent.map { "\($0)/run-\(getpid())-\(RecoveryTrace.now)" }
}

/// Removes a run's root when it is on object storage (a local one goes with the scratch directory).
func removeObjectStoreRoot(_ root: String) {
    if S3Location.isObjectStoreURL(root) { try? ObjectStoreFileSystem.forPath(root).remove(root) }
}

/// An object store from the environment with an empty cache in `cache`: a fresh machine's view of the server.
func freshObjectStore(cache: String) throws -> ObjectStoreFileSystem {
    try? FileManager.default.removeItem(atPath: cache)
    return try ObjectStoreFileSystem(configuration: try S3Configuration.fromEnvironment(), cache: try ObjectCache(directory: cache))
}

/// Regular files and their bytes under `path`.
func directoryContents(_ path: String) -> (files: Int, bytes: Int) {
    if S3Location.isObjectStoreURL(path) {
        guard let store = try? ObjectStoreFileSystem.forPath(path) as? ObjectStoreFileSystem,
            let location = try? S3Location(url: path),
            let listing = try? store.client.list(bucket: location.bucket, prefix: location.prefix + "/")
        else { return (0, 0) }
        return (listing.objects.count, listing.objects.reduce(0) { $0 + $1.size })
    }
    guard let enumerator = FileManager.default.enumerator(atPath: path) else { return (0, 0) }
    var files = 0
    var bytes = 0
    while let name = enumerator.nextObject() as? String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: "\(path)/\(name)")
        if attributes?[.type] as? FileAttributeType == .typeRegular {
            files += 1
            bytes += (attributes?[.size] as? Int) ?? 0
        }
    }
    return (files, bytes)
}

extension Duration {
    /// Seconds as a `Double`.
    var seconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
    /// Milliseconds as a `Double`.
    var milliseconds: Double { self.seconds * 1_000 }
}
