/// The kinds of keyed state.
public enum StateKind: String, Sendable, Codable, Hashable {
    /// One value per key and namespace.
    case value
    /// A list per key and namespace; appends do not read the list.
    case list
    /// A map per key and namespace.
    case map
    /// One value that `add` folds with a reduce function.
    case reducing
    /// One accumulator that `add` folds with an aggregate function.
    case aggregating
}
