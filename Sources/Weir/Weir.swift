// The `Weir` library product: one import for the keyed state backend, its vocabulary and its RocksDB options.
@_exported import Checkpointing
@_exported import KeyedState
@_exported import RocksKit
@_exported import StateCore
