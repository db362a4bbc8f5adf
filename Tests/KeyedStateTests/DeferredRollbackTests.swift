@testable import KeyedState
import RocksKit
import StateCore
import StateTestSupport
import Testing

/// The bookkeeping of a lazy rollback's deferred keys, against a plain set as the model.
@Suite struct DeferredRollbackTests {
    /// Seeded random operations (add, remove, take one column, take all) on the deferred set and on a model: the
    /// keys, per-column presence and what each take returns (sorted, only that column) always agree.
    @Test(arguments: [UInt64(1), 2, 3])
    func deferredKeysMatchAModel(seed: UInt64) throws {
        let directory = TemporaryDirectory(prefix: "weir-deferred")
        defer { directory.remove() }
        let database = try RocksDatabase(path: directory.appending("db"))
        defer { try? database.close() }
        var generator = SeededGenerator(seed: seed)
        func randomKey() -> RawStateKey {
            RawStateKey(column: Int.random(in: 0..<4, using: &generator), key: [UInt8.random(in: 0..<40, using: &generator)])
        }
        var model = Set((0..<30).map { _ in randomKey() })
        var deferred = DeferredRollback(point: database.snapshot(), keys: model)
        for step in 0..<2_000 {
            switch Int.random(in: 0..<100, using: &generator) {
            case 0..<40:
                let more = (0..<3).map { _ in randomKey() }
                deferred.formUnion(more)
                model.formUnion(more)
            case 40..<90:
                let key = randomKey()
                deferred.remove(key.column, key.key)
                model.remove(key)
            case 90..<98:
                let column = Int.random(in: 0..<5, using: &generator)  // 4: a column with no keys ever
                let taken = deferred.take(column: column)
                let expected = model.filter { $0.column == column }.sorted()
                #expect(taken == expected, "step \(step)")
                model.subtract(expected)
            default:
                #expect(deferred.take(column: nil) == model.sorted(), "step \(step)")
                model.removeAll()
            }
            #expect(deferred.keys == model, "step \(step)")
            #expect(deferred.isEmpty == model.isEmpty, "step \(step)")
            for column in 0..<5 {
                #expect(deferred.has(column: column) == model.contains { $0.column == column }, "step \(step) column \(column)")
            }
            let probe = randomKey()
            #expect(deferred.contains(probe.column, probe.key) == model.contains(probe), "step \(step)")
        }
    }
}
