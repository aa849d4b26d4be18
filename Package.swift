// swift-tools-version:6.1
import PackageDescription

/// Every target: an async function runs on its caller's executor unless marked `@concurrent`
/// (SE-0461). A call started on the connection's thread stays there until it really suspends,
/// without an executor switch at each async call on its way (docs/ARCHITECTURE.md, "A call").
let swiftSettings: [SwiftSetting] = [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]

let package = Package(
  name: "practiced",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "practiced", targets: ["practiced"]),
    .executable(name: "practicectl", targets: ["practicectl"]),
    .library(name: "PracticeClient", targets: ["PracticeClient"]),
    .library(name: "PracticeProto", targets: ["PracticeProto"]),
    .library(name: "PracticeFuzz", targets: ["PracticeFuzz"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
  ],
  targets: [
    // Generated protobuf code (scripts/gen-proto) and the method catalog built on it.
    .target(
      name: "PracticeProto",
      dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
      swiftSettings: swiftSettings
    ),
    // The core of RPC semantics, without NIO: statuses, reasons, RPCError, method routing and dispatch,
    // call context and control, peers, call metrics (swift-metrics' API), the lock type, the version.
    .target(
      name: "PracticeCore",
      dependencies: [
        "PracticeProto",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // Wire: frames and envelopes on NIO's ByteBuffer, and the loop-bound writer. No sockets.
    .target(
      name: "PracticeWire",
      dependencies: [
        "PracticeProto", "PracticeCore",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // Domain rules: pure functions and values, no I/O.
    .target(
      name: "PracticeDomain",
      dependencies: ["PracticeProto", "PracticeCore"],
      swiftSettings: swiftSettings
    ),
    // One connection's calls on a NIO event loop: in-flight bound, deadlines, cancellation, streaming.
    .target(
      name: "PracticeRPC",
      dependencies: [
        "PracticeProto", "PracticeCore", "PracticeWire",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // Store: the Store protocol and its SQLite (GRDB) implementation.
    .target(
      name: "PracticeStore",
      dependencies: [
        "PracticeProto", "PracticeDomain", "PracticeCore",
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // The PostgreSQL backend of the Store contract (postgres-nio): many daemons, one database.
    .target(
      name: "PracticeStorePostgres",
      dependencies: [
        "PracticeProto", "PracticeDomain", "PracticeCore", "PracticeStore",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // Services: one per practice.v1 service, over the store and the domain rules.
    .target(
      name: "PracticeServices",
      dependencies: [
        "PracticeProto", "PracticeCore", "PracticeDomain", "PracticeStore",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // The daemon: NIO Unix-socket transport, peer credentials, configuration, lifecycle.
    .target(
      name: "PracticeServer",
      dependencies: [
        "PracticeProto", "PracticeCore", "PracticeWire", "PracticeRPC", "PracticeStore", "PracticeServices", "PracticeDomain",
        "PracticeStorePostgres",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    // The Swift client library: one connection, many calls multiplexed by call_id.
    .target(
      name: "PracticeClient",
      dependencies: [
        "PracticeProto", "PracticeCore", "PracticeWire",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "practiced",
      dependencies: [
        "PracticeServer",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "practicectl",
      dependencies: [
        "PracticeClient", "PracticeProto", "PracticeCore", "PracticeWire",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // The entry points of the fuzz targets (Fuzz/), replayed over Fuzz/FailCases by the tests.
    .target(
      name: "PracticeFuzz",
      dependencies: [
        "PracticeProto", "PracticeCore", "PracticeWire", "PracticeRPC", "PracticeServices", "PracticeStore",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // Benchmarks (scripts/bench): seeds a database with a bulk loader and drives a daemon over the socket.
    .executableTarget(
      name: "practice-bench",
      dependencies: [
        "PracticeClient", "PracticeProto", "PracticeStore", "PracticeStorePostgres", "PracticeCore", "PracticeWire",
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "bench/practice-bench",
      swiftSettings: swiftSettings
    ),
    // Test support in C: connect to a Unix socket with other credentials on the calling thread only.
    .target(name: "CTestSupport", path: "Tests/CTestSupport"),
    // Test support in Swift: request builders, fixtures and expectations shared by the service tests
    // (in-process transport) and the end-to-end tests (socket), generic over the client transport.
    .target(
      name: "PracticeTestSupport",
      dependencies: [
        "PracticeCore", "PracticeProto", "CTestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Tests/PracticeTestSupport",
      swiftSettings: swiftSettings
    ),
    // One test target per library target; EndToEndTests drive real daemons.
    .testTarget(
      name: "PracticeCoreTests",
      dependencies: [
        "PracticeCore", "PracticeProto", "PracticeTestSupport",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeProtoTests",
      dependencies: ["PracticeProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeWireTests",
      dependencies: [
        "PracticeCore", "PracticeWire", "PracticeProto",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeDomainTests",
      dependencies: ["PracticeDomain", "PracticeProto", "PracticeCore"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeStoreTests",
      dependencies: [
        "PracticeStore", "PracticeProto", "PracticeCore", "PracticeWire",
        .product(name: "GRDB", package: "GRDB.swift"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeRPCTests",
      dependencies: [
        "PracticeRPC", "PracticeServices", "PracticeStore", "PracticeProto", "PracticeCore", "PracticeWire",
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeServicesTests",
      dependencies: [
        "PracticeServices", "PracticeRPC", "PracticeStore", "PracticeDomain", "PracticeProto", "PracticeCore", "PracticeWire",
        "PracticeTestSupport",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      resources: [.copy("Fixtures")],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeServerTests",
      dependencies: [
        "PracticeServer", "PracticeRPC", "PracticeServices", "PracticeStore", "PracticeStorePostgres", "PracticeProto",
        "PracticeCore", "PracticeWire", "CTestSupport",
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeFuzzTests",
      dependencies: ["PracticeFuzz"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PracticeClientTests",
      dependencies: [
        "PracticeClient", "PracticeProto", "PracticeCore", "PracticeWire",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),
    // practicectl's formatting and parsing, without a daemon (the executable module, @testable).
    .testTarget(
      name: "PracticectlTests",
      dependencies: ["practicectl", "PracticeProto", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "EndToEndTests",
      dependencies: [
        "PracticeClient", "PracticeProto", "PracticeCore", "PracticeWire", "PracticeDomain", "CTestSupport",
        "PracticeTestSupport",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
  ],
  swiftLanguageModes: [.v6]
)
