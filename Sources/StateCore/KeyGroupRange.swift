/// A contiguous, half-open range of key groups `[start, end)` owned by one backend (one subtask).
///
/// Invariants: 1. `0 <= start <= end <= maxParallelism`.
public struct KeyGroupRange: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The first key group in the range.
    public let start: Int
    /// One past the last key group in the range.
    public let end: Int

    /// Creates the range `[start, end)`.
    /// - Precondition: `0 <= start <= end <= Limits.maxParallelismMax`.
    public init(start: Int, end: Int) {
        precondition(start >= 0 && start <= end && end <= Limits.maxParallelismMax, "bad key-group range \(start)..<\(end)")
        self.start = start
        self.end = end
    }

    /// Every key group of a job with `maxParallelism` key groups.
    public static func all(maxParallelism: Int) -> KeyGroupRange {
        KeyGroupRange(start: 0, end: maxParallelism)
    }

    /// The range that subtask `index` of `parallelism` owns, split as Flink splits it so that rescaling moves
    /// whole contiguous ranges.
    /// - Precondition: `0 <= index < parallelism <= maxParallelism`.
    public static func forSubtask(index: Int, parallelism: Int, maxParallelism: Int) -> KeyGroupRange {
        precondition(parallelism > 0 && parallelism <= maxParallelism, "parallelism must be in 1...maxParallelism")
        precondition(index >= 0 && index < parallelism, "subtask index out of range")
        let start = (index * maxParallelism + parallelism - 1) / parallelism
        let end = ((index + 1) * maxParallelism + parallelism - 1) / parallelism
        return KeyGroupRange(start: start, end: end)
    }

    /// Whether `keyGroup` belongs to the range.
    @inlinable
    public func contains(_ keyGroup: Int) -> Bool { keyGroup >= self.start && keyGroup < self.end }

    /// The number of key groups in the range.
    public var count: Int { self.end - self.start }

    /// `[start, end)`.
    public var description: String { "[\(self.start), \(self.end))" }
}
