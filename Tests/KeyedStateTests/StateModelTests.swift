import KeyedState
import StateCore
import StateTestSupport
import Testing

/// Seeded random operations on every state kind, with namespaces, TTL on a manual clock and keys spread over
/// many key groups, compared with `StateModel` after every step.
@Suite struct StateModelTests {
    static let seeds: [UInt64] = [1, 2, 3, 42, 0xDEAD_BEEF]
    static let ttlMilliseconds: Int64 = 5_000

    @Test(arguments: TestEngine.allCases, seeds)
    func randomOperationsMatchTheModel(engine: TestEngine, seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let test = try TestBackend(engine, keySerializer: .int64, maxParallelism: 16)
        let backend = test.backend
        let clock = test.clock
        let ttl = StateOptions(ttl: StateTTL(timeToLive: .milliseconds(Self.ttlMilliseconds)))
        let value = try backend.valueState(
            ValueStateDescriptor("value", serializer: .int64, options: ttl), namespaceSerializer: .int32,
            namespace: Int32(0))
        let list = try backend.listState(
            ListStateDescriptor("list", serializer: .string), namespaceSerializer: .int32, namespace: Int32(0))
        let map = try backend.mapState(
            MapStateDescriptor("map", keySerializer: .int32, valueSerializer: .string, options: ttl),
            namespaceSerializer: .int32, namespace: Int32(0))
        let sum = try backend.reducingState(
            ReducingStateDescriptor("sum", serializer: .int64) { $0 &+ $1 }, namespaceSerializer: .int32,
            namespace: Int32(0))
        let average = try backend.aggregatingState(
            AggregatingStateDescriptor(
                "avg", function: AverageFunction(), accumulatorSerializer: ArraySerializer(IntegerSerializer<Int64>())),
            namespaceSerializer: .int32, namespace: Int32(0))
        var model = StateModel()
        var trace: [String] = []
        let live = { (stamp: Int64) in stamp + Self.ttlMilliseconds > clock.nowMilliseconds() }

        for step in 0..<1_500 {
            let cell = StateModel.Cell(key: Int64.random(in: 0..<40, using: &random), namespace: Int32.random(in: 0..<3, using: &random))
            try backend.setCurrentKey(cell.key)
            for state in [value.setCurrentNamespace, list.setCurrentNamespace, map.setCurrentNamespace,
                          sum.setCurrentNamespace, average.setCurrentNamespace] { state(cell.namespace) }
            let now = clock.nowMilliseconds()
            let operation = Int.random(in: 0..<14, using: &random)
            let number = Int64.random(in: -1_000...1_000, using: &random)
            trace.append("\(step): op \(operation) key \(cell.key) ns \(cell.namespace) n \(number)")
            switch operation {
            case 0: try value.update(number); model.values[cell] = (number, now)
            case 1: try value.clear(); model.values[cell] = nil
            case 2: try list.add("e\(number)"); model.lists[cell, default: []].append(("e\(number)", now))
            case 3:
                let items = (0..<Int(number & 3)).map { "u\(number)-\($0)" }
                try list.update(items)
                model.lists[cell] = items.isEmpty ? nil : items.map { ($0, now) }
            case 4: try map.put(Int32(number & 7), "m\(number)"); model.maps[cell, default: [:]][Int32(number & 7)] = ("m\(number)", now)
            case 5: try map.remove(Int32(number & 7)); model.maps[cell]?[Int32(number & 7)] = nil
            case 6: try map.clear(); model.maps[cell] = nil
            case 7: try sum.add(number); model.sums[cell, default: 0] &+= number
            case 8: try average.add(number)
                let current = model.averages[cell] ?? (0, 0)
                model.averages[cell] = (current.count + 1, current.total + number)
            case 9: try sum.clear(); model.sums[cell] = nil
            case 10: clock.advance(by: Int64.random(in: 0...3_000, using: &random))
            default: break  // reads only
            }
            // Compare every state of this cell with the model.
            let expectedValue = model.values[cell].flatMap { live($0.stamp) ? $0.value : nil }
            #expect(try value.value() == expectedValue, "seed \(seed) \(engine)\n\(trace.suffix(20).joined(separator: "\n"))")
            #expect(try list.get() == (model.lists[cell] ?? []).map(\.value), "seed \(seed) step \(step)")
            let expectedMap = (model.maps[cell] ?? [:]).filter { live($0.value.stamp) }.mapValues(\.value)
            let actualMap = Dictionary(uniqueKeysWithValues: try map.entries().map { ($0.key, $0.value) })
            #expect(actualMap == expectedMap, "seed \(seed) step \(step)")
            #expect(try map.isEmpty() == expectedMap.isEmpty)
            #expect(try sum.get() == model.sums[cell], "seed \(seed) step \(step)")
            let expectedAverage = model.averages[cell].map { Double($0.total) / Double($0.count) }
            #expect(try average.get() == expectedAverage, "seed \(seed) step \(step)")
        }
    }
}
