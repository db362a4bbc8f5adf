#ifndef WEIR_CROCKSDB_SHIM_H
#define WEIR_CROCKSDB_SHIM_H
// RocksDB's C API (Debian librocksdb-dev 7.8.3). Only the RocksKit module imports this.
#include <rocksdb/c.h>
#endif
