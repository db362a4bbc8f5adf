// The `Weir` library product: one import for the keyed state backend, checkpoints, the streaming runtime,
// checkpoint inspection (the functions behind the `weir` CLI) and their vocabulary.
@_exported import Checkpointing
@_exported import Inspection
@_exported import KeyedState
@_exported import Monitoring
@_exported import RocksKit
@_exported import Runtime
@_exported import StateCore
