/// The reference model of keyed state for model tests: plain dictionaries keyed by
/// (state, key, namespace) with the TTL rules applied by hand.
public struct StateModel: Sendable {
    /// A (key, namespace) cell.
    public struct Cell: Hashable, Sendable {
        /// The record key.
        public var key: Int64
        /// The namespace.
        public var namespace: Int32
        /// Creates a cell.
        public init(key: Int64, namespace: Int32) {
            self.key = key
            self.namespace = namespace
        }
    }

    /// Value state: the value and the time it was written.
    public var values: [Cell: (value: Int64, stamp: Int64)] = [:]
    /// List state: elements with their stamps.
    public var lists: [Cell: [(value: String, stamp: Int64)]] = [:]
    /// Map state: entries with their stamps.
    public var maps: [Cell: [Int32: (value: String, stamp: Int64)]] = [:]
    /// Reducing state (sum).
    public var sums: [Cell: Int64] = [:]
    /// Aggregating state (count, total).
    public var averages: [Cell: (count: Int64, total: Int64)] = [:]

    /// Creates an empty model.
    public init() {}
}
