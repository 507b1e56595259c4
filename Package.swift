// swift-tools-version:6.1
// Coffer: an encrypted, signed backup vault for SQLite/PostgreSQL, Redis and env vars.
// Layering (a module imports only those listed before it):
//   C shims -> CofferSystem -> CofferCrypto, CofferCompression -> CofferFormat -> CofferSources
//   -> CofferStorage -> CofferCore -> CofferServer -> coffer (CLI)
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "coffer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "coffer", targets: ["coffer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C libraries, each wrapped once by the module named beside it.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),  // CofferCrypto
        .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]), // CofferCrypto (SHA-256 only)
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),            // CofferCompression
        .systemLibrary(name: "CLibdeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]), // CofferCompression (gzip members)
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),   // CofferSources
        // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM flags; the header and library are in the default paths.
        .systemLibrary(name: "CHiredis"),                                                                // CofferSources (Redis; Debian libhiredis-dev)
        .systemLibrary(name: "CPq", pkgConfig: "libpq"),                                                 // CofferSources (PostgreSQL; Debian libpq-dev)

        .systemLibrary(name: "CMalloc"),                                                                  // CofferSystem (glibc's mallopt)
        .systemLibrary(name: "CProcess"),                                                                 // CofferSystem (prctl, renameat2, syncfs)
        .systemLibrary(name: "CChunkCut"),                                                                // CofferFormat (the gear-hash loop of content-defined chunking)

        .target(name: "CofferSystem", dependencies: ["CMalloc", "CProcess"], swiftSettings: strict),
        .target(name: "CofferCrypto", dependencies: ["CSodium", "CLibcrypto", "CofferSystem"], swiftSettings: strict),
        .target(name: "CofferCompression", dependencies: ["CZlib", "CLibdeflate", "CofferSystem"], swiftSettings: strict),
        .target(
            name: "CofferFormat",
            dependencies: ["CChunkCut", "CofferSystem", "CofferCrypto", "CofferCompression"],
            swiftSettings: strict
        ),
        .target(name: "CofferSources", dependencies: ["CSQLite", "CHiredis", "CPq", "CofferSystem", "CofferCrypto", "CofferFormat"], swiftSettings: strict),
        .target(
            name: "CofferStorage",
            dependencies: [
                "CofferSystem", "CofferCrypto", "CofferCompression", "CofferFormat",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                // TLS settings of the S3 client: the trust store and `[s3] ca_file`.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CofferCore",
            dependencies: [
                "CofferSystem", "CofferCrypto", "CofferFormat", "CofferSources", "CofferStorage",
                .product(name: "TOMLKit", package: "TOMLKit"),
                // Notifications only (NotificationTransport.swift); S3 has its own client in CofferStorage.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // `coffer serve`: the HTTP endpoints and the status page over CofferCore.
        .target(
            name: "CofferServer",
            dependencies: [
                "CofferCore", "CofferSystem",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "coffer",
            dependencies: [
                "CofferCore", "CofferServer", "CofferCrypto", "CofferFormat", "CofferSources", "CofferStorage", "CofferSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "coffer-bench",
            // CofferCore: the scale benchmark makes its bundles with SnapshotOperation and uploads them with CofferStorage.
            dependencies: ["CofferCore", "CofferStorage", "CofferCrypto", "CofferCompression", "CofferSystem"],
            swiftSettings: strict
        ),

        .testTarget(name: "CofferSystemTests", dependencies: ["CofferSystem"], swiftSettings: strict),
        .testTarget(name: "CofferCompressionTests", dependencies: ["CofferCompression", "CofferSystem"], swiftSettings: strict),
        .testTarget(
            name: "CofferCryptoTests",
            dependencies: ["CofferCrypto", "CofferCompression", "CofferSystem"],
            exclude: ["Fixtures", "Helpers"],
            swiftSettings: strict
        ),
        .testTarget(name: "CofferFormatTests", dependencies: ["CofferFormat", "CofferCrypto", "CofferSystem"], swiftSettings: strict),
        .testTarget(
            name: "CofferStorageTests", dependencies: ["CofferStorage", "CofferFormat", "CofferCrypto", "CofferSystem"], swiftSettings: strict),
        .testTarget(
            name: "CofferSourcesTests", dependencies: ["CofferSources", "CofferFormat", "CofferSystem"], exclude: ["Fixtures"],
            swiftSettings: strict),
        .testTarget(
            name: "CofferCoreTests",
            dependencies: ["CofferCore", "CofferCrypto", "CofferFormat", "CofferSources", "CofferStorage", "CofferSystem"],
            swiftSettings: strict
        ),
        // Runs the built `coffer` binary; depending on it makes `swift test` build it first.
        .testTarget(name: "CofferCLITests", dependencies: ["coffer"], exclude: ["Fixtures"], swiftSettings: strict),
    ]
)
