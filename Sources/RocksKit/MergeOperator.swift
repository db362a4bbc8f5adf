import CRocksDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A merge operator built into RocksKit. Merge operators run on RocksDB's threads, so they are plain C functions.
public enum MergeOperator: Sendable, Hashable {
    /// Appends operands to the existing value byte for byte, with no delimiter. Callers frame their operands
    /// (e.g. length-prefixed list elements), so a list append is one `merge` that never reads the list.
    case concatenation

    /// The name RocksDB records in the OPTIONS file; a database must be reopened with the same operator.
    public var name: String {
        switch self {
        case .concatenation: "weir.concatenation.v1"
        }
    }

    /// Creates the C operator. RocksDB takes ownership when it is set on options.
    func makeHandle() -> OpaquePointer {
        switch self {
        case .concatenation:
            return rocksdb_mergeoperator_create(
                nil, releaseNothing, concatenationFullMerge, concatenationPartialMerge, freeMergedValue, concatenationName)
        }
    }
}

/// RocksDB calls the destructor unconditionally; the concatenation operator has no state to release.
private func releaseNothing(_ state: UnsafeMutableRawPointer?) {}

private let concatenationNameString: StaticString = "weir.concatenation.v1"

private func concatenationName(_ state: UnsafeMutableRawPointer?) -> UnsafePointer<CChar>? {
    UnsafeRawPointer(concatenationNameString.utf8Start).assumingMemoryBound(to: CChar.self)
}

private func freeMergedValue(_ state: UnsafeMutableRawPointer?, _ value: UnsafePointer<CChar>?, _ length: Int) {
    free(UnsafeMutableRawPointer(mutating: value))
}

/// Concatenates `existing` (if any) and the operands into one `malloc`ed buffer.
private func concatenate(
    existing: UnsafePointer<CChar>?, existingLength: Int,
    operands: UnsafePointer<UnsafePointer<CChar>?>?, operandLengths: UnsafePointer<Int>?, count: Int32,
    success: UnsafeMutablePointer<UInt8>?, newLength: UnsafeMutablePointer<Int>?
) -> UnsafeMutablePointer<CChar>? {
    var total = existing == nil ? 0 : existingLength
    for i in 0..<Int(count) { total += operandLengths?[i] ?? 0 }
    guard let buffer = malloc(max(total, 1))?.assumingMemoryBound(to: CChar.self) else {
        success?.pointee = 0
        return nil
    }
    var at = 0
    if let existing, existingLength > 0 {
        memcpy(buffer, existing, existingLength)
        at = existingLength
    }
    for i in 0..<Int(count) {
        let length = operandLengths?[i] ?? 0
        if length > 0, let operand = operands?[i] {
            memcpy(buffer + at, operand, length)
            at += length
        }
    }
    newLength?.pointee = total
    success?.pointee = 1
    return buffer
}

private func concatenationFullMerge(
    _ state: UnsafeMutableRawPointer?, _ key: UnsafePointer<CChar>?, _ keyLength: Int,
    _ existing: UnsafePointer<CChar>?, _ existingLength: Int,
    _ operands: UnsafePointer<UnsafePointer<CChar>?>?, _ operandLengths: UnsafePointer<Int>?, _ count: Int32,
    _ success: UnsafeMutablePointer<UInt8>?, _ newLength: UnsafeMutablePointer<Int>?
) -> UnsafeMutablePointer<CChar>? {
    concatenate(
        existing: existing, existingLength: existingLength, operands: operands, operandLengths: operandLengths,
        count: count, success: success, newLength: newLength)
}

private func concatenationPartialMerge(
    _ state: UnsafeMutableRawPointer?, _ key: UnsafePointer<CChar>?, _ keyLength: Int,
    _ operands: UnsafePointer<UnsafePointer<CChar>?>?, _ operandLengths: UnsafePointer<Int>?, _ count: Int32,
    _ success: UnsafeMutablePointer<UInt8>?, _ newLength: UnsafeMutablePointer<Int>?
) -> UnsafeMutablePointer<CChar>? {
    concatenate(
        existing: nil, existingLength: 0, operands: operands, operandLengths: operandLengths,
        count: count, success: success, newLength: newLength)
}
