/// What one change to keyed state did, as the changelog records it and replay applies it.
public enum StateChangeKind: UInt8, Sendable, CaseIterable {
    /// A value was written (replacing any value under the key).
    case put = 1
    /// Framed bytes were appended to a value (list state's `add`).
    case append = 2
    /// A value was deleted.
    case delete = 3
    /// Every value under a key prefix was deleted (map state's `clear`).
    case deletePrefix = 4
}

/// Receives every change a keyed state backend applied, in order, on the backend's owner thread.
///
/// `key` is the store key (`keyGroup ‖ key ‖ namespace` ‖ map key) and `primaryLength` where the map key starts;
/// `value` is the stored bytes for `put`, the operand for `append`, and empty otherwise. The buffers are the
/// backend's scratch: copy what must outlive the call.
package protocol StateChangeSink: AnyObject {
    /// Records one applied change of the state in `column`.
    func stateChanged(_ kind: StateChangeKind, column: Int, key: [UInt8], primaryLength: Int, value: [UInt8])
        throws(StateError)
}
