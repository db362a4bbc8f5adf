import StateCore

extension KeyedStateBackend {
    private func metadata(
        _ name: String, _ kind: StateKind, namespace: SerializerSchema, value: SerializerSchema,
        userKey: SerializerSchema? = nil, options: StateOptions
    ) -> StateMetadata {
        StateMetadata(
            name: name, kind: kind, keySchema: self.keySerializer.schema, namespaceSchema: namespace,
            valueSchema: value, userKeySchema: userKey, ttl: options.ttl,
            valueSeparation: self.engine == .heap ? nil : options.valueSeparation)
    }

    private func accessor<Namespace>(
        _ metadata: StateMetadata, _ namespaceSerializer: any StateSerializer<Namespace>, _ namespace: Namespace
    ) throws(StateError) -> StateAccessor<Namespace> {
        let column = try self.core.register(metadata)
        if metadata.kind == .map {
            let keySerializer = self.keySerializer
            try self.core.store.resolvePrimaryLengths(column) { key in
                try? ByteReader.withReader(over: key) { reader throws(SerializationError) -> Int in
                    guard reader.remaining >= 2 else { throw SerializationError(schema: metadata.keySchema, message: "no key group") }
                    try? reader.skip(2)
                    _ = try keySerializer.deserialize(from: &reader)
                    _ = try namespaceSerializer.deserialize(from: &reader)
                    return reader.offset
                }
            }
        }
        return StateAccessor(
            core: self.core, name: metadata.name, column: column, ttl: metadata.ttl,
            namespaceSerializer: namespaceSerializer, namespace: namespace)
    }

    /// Registers (or gets again) a value state with a namespace.
    /// - Parameters:
    ///   - descriptor: Name, serializer, TTL and separation.
    ///   - namespaceSerializer: Serializes namespaces.
    ///   - namespace: The initial namespace.
    /// - Throws: `StateError` `.incompatibleRegistration` (registered before with another kind, serializer or
    ///   options), `.incompatibleSerializer` (stored with another schema), `.invalidArgument` (bad name).
    public func valueState<Value, Namespace>(
        _ descriptor: ValueStateDescriptor<Value>, namespaceSerializer: any StateSerializer<Namespace>,
        namespace: Namespace
    ) throws(StateError) -> ValueState<Value, Namespace> {
        let metadata = self.metadata(
            descriptor.name, .value, namespace: namespaceSerializer.schema, value: descriptor.serializer.schema,
            options: descriptor.options)
        return ValueState(
            accessor: try self.accessor(metadata, namespaceSerializer, namespace), serializer: descriptor.serializer)
    }

    /// Registers (or gets again) a value state without namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func valueState<Value>(_ descriptor: ValueStateDescriptor<Value>) throws(StateError)
        -> ValueState<Value, VoidNamespace>
    {
        try self.valueState(descriptor, namespaceSerializer: VoidNamespaceSerializer(), namespace: VoidNamespace())
    }

    /// Registers (or gets again) a list state with a namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func listState<Element, Namespace>(
        _ descriptor: ListStateDescriptor<Element>, namespaceSerializer: any StateSerializer<Namespace>,
        namespace: Namespace
    ) throws(StateError) -> ListState<Element, Namespace> {
        let metadata = self.metadata(
            descriptor.name, .list, namespace: namespaceSerializer.schema, value: descriptor.serializer.schema,
            options: descriptor.options)
        return ListState(
            accessor: try self.accessor(metadata, namespaceSerializer, namespace), serializer: descriptor.serializer)
    }

    /// Registers (or gets again) a list state without namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func listState<Element>(_ descriptor: ListStateDescriptor<Element>) throws(StateError)
        -> ListState<Element, VoidNamespace>
    {
        try self.listState(descriptor, namespaceSerializer: VoidNamespaceSerializer(), namespace: VoidNamespace())
    }

    /// Registers (or gets again) a map state with a namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func mapState<UserKey, UserValue, Namespace>(
        _ descriptor: MapStateDescriptor<UserKey, UserValue>, namespaceSerializer: any StateSerializer<Namespace>,
        namespace: Namespace
    ) throws(StateError) -> MapState<UserKey, UserValue, Namespace> {
        let metadata = self.metadata(
            descriptor.name, .map, namespace: namespaceSerializer.schema,
            value: descriptor.valueSerializer.schema, userKey: descriptor.keySerializer.schema,
            options: descriptor.options)
        return MapState(
            accessor: try self.accessor(metadata, namespaceSerializer, namespace),
            keySerializer: descriptor.keySerializer, valueSerializer: descriptor.valueSerializer)
    }

    /// Registers (or gets again) a map state without namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func mapState<UserKey, UserValue>(_ descriptor: MapStateDescriptor<UserKey, UserValue>)
        throws(StateError) -> MapState<UserKey, UserValue, VoidNamespace>
    {
        try self.mapState(descriptor, namespaceSerializer: VoidNamespaceSerializer(), namespace: VoidNamespace())
    }

    /// Registers (or gets again) a reducing state with a namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func reducingState<Value, Namespace>(
        _ descriptor: ReducingStateDescriptor<Value>, namespaceSerializer: any StateSerializer<Namespace>,
        namespace: Namespace
    ) throws(StateError) -> ReducingState<Value, Namespace> {
        let metadata = self.metadata(
            descriptor.name, .reducing, namespace: namespaceSerializer.schema,
            value: descriptor.serializer.schema, options: descriptor.options)
        return ReducingState(
            accessor: try self.accessor(metadata, namespaceSerializer, namespace), serializer: descriptor.serializer,
            reduce: descriptor.reduce)
    }

    /// Registers (or gets again) a reducing state without namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func reducingState<Value>(_ descriptor: ReducingStateDescriptor<Value>) throws(StateError)
        -> ReducingState<Value, VoidNamespace>
    {
        try self.reducingState(descriptor, namespaceSerializer: VoidNamespaceSerializer(), namespace: VoidNamespace())
    }

    /// Registers (or gets again) an aggregating state with a namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func aggregatingState<Input, Accumulator, Output, Namespace>(
        _ descriptor: AggregatingStateDescriptor<Input, Accumulator, Output>,
        namespaceSerializer: any StateSerializer<Namespace>, namespace: Namespace
    ) throws(StateError) -> AggregatingState<Input, Accumulator, Output, Namespace> {
        let metadata = self.metadata(
            descriptor.name, .aggregating, namespace: namespaceSerializer.schema,
            value: descriptor.accumulatorSerializer.schema, options: descriptor.options)
        return AggregatingState(
            accessor: try self.accessor(metadata, namespaceSerializer, namespace),
            serializer: descriptor.accumulatorSerializer, function: descriptor.function)
    }

    /// Registers (or gets again) an aggregating state without namespace.
    /// - Throws: See `valueState(_:namespaceSerializer:namespace:)`.
    public func aggregatingState<Input, Accumulator, Output>(
        _ descriptor: AggregatingStateDescriptor<Input, Accumulator, Output>
    ) throws(StateError) -> AggregatingState<Input, Accumulator, Output, VoidNamespace> {
        try self.aggregatingState(
            descriptor, namespaceSerializer: VoidNamespaceSerializer(), namespace: VoidNamespace())
    }
}
