#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Named points in checkpointing where crash tests kill the process (SIGKILL, nothing flushed or cleaned up).
///
/// Armed by `arm(_:)` or by the environment variable `WEIR_CRASH_AT=<point>`; disarmed, `hit` costs one lock.
/// `Tests/CrashChild` (`weir-crash-child`) runs a seeded workload with a point armed, and `CrashTests` check that
/// the last completed checkpoint restores.
package enum CrashPoint: String, Sendable, CaseIterable {
    /// Half of a changelog segment file is written.
    case midSegmentWrite = "mid-segment-write"
    /// A segment is durable but no checkpoint metadata references it yet.
    case afterSegmentBeforeMetadata = "after-segment-before-metadata"
    /// Some files of a materialization are uploaded, not all.
    case midMaterializationUpload = "mid-materialization-upload"
    /// `_metadata` is written under its staging name, not yet renamed.
    case midMetadataPublish = "mid-metadata-publish"
    /// The first of several unneeded files was deleted after a checkpoint completed.
    case midCleanup = "mid-cleanup"

    private static let armed = Mutex<CrashPoint?>(
        getenv("WEIR_CRASH_AT").flatMap { CrashPoint(rawValue: String(cString: $0)) })

    /// Arms `point` (or disarms, with `nil`).
    package static func arm(_ point: CrashPoint?) { Self.armed.withLock { $0 = point } }

    /// Kills the process if `point` is armed.
    package static func hit(_ point: CrashPoint) {
        guard Self.armed.withLock({ $0 }) == point else { return }
        kill(getpid(), SIGKILL)
        while true { pause() }
    }

    /// Whether `point` is armed (to write a partial file before `hit`).
    package static func isArmed(_ point: CrashPoint) -> Bool { Self.armed.withLock { $0 } == point }
}
