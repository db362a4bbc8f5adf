import StateCore

/// A list per key and namespace (Flink's `ListState`). `add` appends without reading the list: on RocksDB it is
/// one merge with the concatenation operator.
///
/// Stored as framed elements, `varint length ‖ [timestamp ‖] element`, so TTL applies per element and a
/// compaction filter can read timestamps without the element serializer.
public final class ListState<Element, Namespace> {
    let accessor: StateAccessor<Namespace>
    let serializer: any StateSerializer<Element>

    init(accessor: StateAccessor<Namespace>, serializer: any StateSerializer<Element>) {
        self.accessor = accessor
        self.serializer = serializer
    }

    /// The state's name.
    public var name: String { self.accessor.name }

    /// Sets the namespace for the following reads and writes.
    public func setCurrentNamespace(_ namespace: Namespace) { self.accessor.setNamespace(namespace) }

    /// The elements in the order they were added; empty when there are none. Expired elements are skipped and
    /// removed from storage.
    /// - Throws: `StateError`.
    public func get() throws(StateError) -> [Element] {
        let key = try self.accessor.primaryKey()
        let accessor = self.accessor
        let now = accessor.ttl == nil ? 0 : accessor.now
        var sawExpired = false
        var liveFrames = ByteWriter()
        let elements: [Element] = try accessor.core.store.get(accessor.column, key: key, primaryLength: key.count) {
            reader throws(StateError) -> [Element] in
            guard var reader else { return [] }
            var result: [Element] = []
            while !reader.isAtEnd {
                var element: ByteReader
                do throws(ByteReader.Error) {
                    let length = try reader.readLength()
                    element = try reader.readSlice(count: length)
                } catch {
                    throw accessor.corrupt(SerializationError(schema: self.serializer.schema, error))
                }
                var frame = element
                if let value = try accessor.decode(&element, with: self.serializer, now: now) {
                    result.append(value)
                    liveFrames.writeVarint(UInt64(frame.remaining))
                    liveFrames.writeBytes(frame.readRemainingBytes())
                } else {
                    sawExpired = true
                }
            }
            return result
        }
        if accessor.ttl?.updateType == .onReadAndWrite && !elements.isEmpty {
            try self.update(elements)  // renews every element's timestamp
        } else if sawExpired {
            // Drop the expired elements but keep the survivors' bytes, timestamps included.
            if elements.isEmpty {
                try accessor.core.store.delete(accessor.column, key: key, primaryLength: key.count)
            } else {
                try accessor.core.store.put(accessor.column, key: key, primaryLength: key.count, value: liveFrames.bytes)
            }
        }
        return elements
    }

    /// Appends one element without reading the list.
    /// - Throws: `StateError`.
    public func add(_ element: Element) throws(StateError) {
        try self.add(contentsOf: CollectionOfOne(element))
    }

    /// Appends elements without reading the list.
    /// - Throws: `StateError`.
    public func add(contentsOf elements: some Sequence<Element>) throws(StateError) {
        let key = try self.accessor.primaryKey()
        let operand = self.frame(elements)
        guard !operand.isEmpty else { return }
        try self.accessor.core.store.append(self.accessor.column, key: key, operand: operand)
    }

    /// Replaces the list; an empty list clears it.
    /// - Throws: `StateError`.
    public func update(_ elements: [Element]) throws(StateError) {
        let key = try self.accessor.primaryKey()
        if elements.isEmpty {
            return try self.accessor.core.store.delete(self.accessor.column, key: key, primaryLength: key.count)
        }
        try self.accessor.core.store.put(
            self.accessor.column, key: key, primaryLength: key.count, value: self.frame(elements))
    }

    /// Removes the list.
    /// - Throws: `StateError`.
    public func clear() throws(StateError) { try self.update([]) }

    /// `varint length ‖ [timestamp ‖] element` for each element, in the value scratch.
    private func frame(_ elements: some Sequence<Element>) -> [UInt8] {
        let core = self.accessor.core
        core.valueScratch.removeAll()
        let timestamp = self.accessor.ttl == nil ? nil : self.accessor.now
        for element in elements {
            core.elementScratch.removeAll()
            if let timestamp { core.elementScratch.writeInteger(timestamp) }
            self.serializer.serialize(element, into: &core.elementScratch)
            core.valueScratch.writeVarint(UInt64(core.elementScratch.count))
            core.valueScratch.writeBytes(core.elementScratch.bytes)
        }
        return core.valueScratch.bytes
    }
}
