/// A column family of an open `RocksDatabase`. The database owns the C handle and destroys it when it closes;
/// using a `ColumnFamily` after its database closed is a programmer error.
public struct ColumnFamily: @unchecked Sendable, Hashable, CustomStringConvertible {
    // @unchecked: the handle is an immutable pointer to a RocksDB object that is thread-safe and lives until the
    // owning database closes.
    let handle: OpaquePointer
    /// The family's name.
    public let name: String
    /// RocksDB's numeric id of the family.
    public let id: UInt32

    /// The family's name.
    public var description: String { self.name }

    /// Two values are equal when they name the same family of the same database.
    public static func == (lhs: ColumnFamily, rhs: ColumnFamily) -> Bool { lhs.handle == rhs.handle }

    /// Hashes the handle.
    public func hash(into hasher: inout Hasher) { hasher.combine(self.handle) }
}
