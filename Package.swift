// swift-tools-version:6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Weir",
    platforms: [.macOS(.v15)],
    products: [
        /// One import for all of it: the keyed state backend (RocksDB with KV separation, and a heap backend), checkpoints,
        /// the streaming runtime and checkpoint inspection.
        .library(name: "Weir", targets: ["Weir"]),
        .executable(name: "weir", targets: ["weir"]),
        .executable(name: "weir-bench", targets: ["WeirBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRocksDB",
            pkgConfig: "rocksdb",
            providers: [.apt(["librocksdb-dev"])]
        ),
        .target(name: "RocksKit", dependencies: ["CRocksDB", "StateCore"], swiftSettings: strictSettings),
        .target(name: "StateCore", swiftSettings: strictSettings),
        .target(name: "KeyedState", dependencies: ["StateCore", "RocksKit"], swiftSettings: strictSettings),
        .target(
            name: "ObjectStore",
            dependencies: [
                "StateCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "Checkpointing",
            dependencies: [
                "KeyedState", "ObjectStore", "RocksKit", "StateCore", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "Inspection", dependencies: ["Checkpointing", "KeyedState", "RocksKit", "StateCore"],
            swiftSettings: strictSettings),
        .target(
            name: "Runtime",
            dependencies: [
                "Checkpointing", "KeyedState", "RocksKit", "StateCore",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "Monitoring",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings),
        .target(
            name: "Weir",
            dependencies: ["Checkpointing", "Inspection", "KeyedState", "Monitoring", "Runtime", "RocksKit", "StateCore"],
            swiftSettings: strictSettings),
        .target(
            name: "StateTestSupport",
            dependencies: [
                "StateCore", "KeyedState", "Checkpointing", "Inspection", "ObjectStore", "RocksKit", "Runtime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings),
        .executableTarget(
            name: "weir",
            dependencies: [
                "Checkpointing", "Inspection", "KeyedState", "Monitoring", "Runtime", "RocksKit", "StateCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "WeirBench",
            dependencies: [
                "Checkpointing", "Inspection", "KeyedState", "ObjectStore", "Runtime", "StateCore", "RocksKit", "CRocksDB",
                "StateTestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/WeirBench",
            swiftSettings: strictSettings
        ),
        .testTarget(name: "RocksKitTests", dependencies: ["RocksKit"], swiftSettings: strictSettings),
        .executableTarget(
            name: "weir-crash-child",
            dependencies: ["Checkpointing", "KeyedState", "StateTestSupport"],
            path: "Tests/CrashChild",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CheckpointingTests",
            dependencies: [
                "Checkpointing", "Inspection", "KeyedState", "StateCore", "StateTestSupport", "weir-crash-child", "weir",
            ],
            exclude: ["Golden"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Checkpointing", "Inspection", "KeyedState", "Monitoring", "Runtime", "StateCore", "StateTestSupport", "Weir",
                "weir", "weir-crash-child",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "StateCoreTests", dependencies: ["StateCore"], swiftSettings: strictSettings),
        .testTarget(
            name: "ObjectStoreTests",
            dependencies: ["ObjectStore", "Checkpointing", "Inspection", "KeyedState", "StateCore", "StateTestSupport", "weir-crash-child"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "KeyedStateTests",
            dependencies: ["KeyedState", "StateCore", "StateTestSupport", "RocksKit"],
            swiftSettings: strictSettings
        ),
    ]
)
