// swift-tools-version:6.0
// gdqr: a data-parallel trainer for 4-bit networks (GDQR quantization-aware training).
import PackageDescription
import Foundation

// Kernels are written with SIMD16<Float> and must be compiled for a CPU that has
// FMA: without a CPU target, SIMD.addProduct lowers to a software FMA about 100x
// slower. The default is the build machine's CPU; GDQR_TARGET_CPU names another
// (haswell, skylake-avx512, znver4, ...) for a cluster's lowest common node.
let targetCPU = ProcessInfo.processInfo.environment["GDQR_TARGET_CPU"] ?? "native"
let fastFlags: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", targetCPU, "-enforce-exclusivity=unchecked"]),
]
// IntegerSIMD reaches the VNNI dot-product instruction through the compiler's builtins
// (hence -parse-stdlib); without VNNI on the target CPU it uses its plain Swift path.
let vnniCPUs = ["icelake-server", "icelake-client", "tigerlake", "cascadelake", "cooperlake", "sapphirerapids",
                "graniterapids", "znver4", "znver5"]
let hasVNNI = targetCPU == "native"
    ? ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" avx512_vnni") ?? false)
    : vnniCPUs.contains(targetCPU)
let integerSIMDFlags: [SwiftSetting] = [.unsafeFlags(["-parse-stdlib"])] + fastFlags + (hasVNNI ? [.define("GDQR_VNNI")] : [])


let package = Package(
    name: "gdqr",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gdqr-train", targets: ["gdqr-train"]),
        .executable(name: "gdqr", targets: ["gdqr"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),
        .target(name: "CBuildInfo", path: "Sources/CBuildInfo",
                cSettings: [.define("GDQR_TARGET_CPU", to: "\"\(targetCPU)\"")]),
        // Float lane shuffles through the compiler's shufflevector builtin (hence -parse-stdlib).
        .target(name: "VectorShuffles", swiftSettings: [.unsafeFlags(["-parse-stdlib"])] + fastFlags),
        .target(name: "TensorEngine",
                dependencies: ["CBuildInfo", "VectorShuffles", .product(name: "Atomics", package: "swift-atomics")],
                swiftSettings: fastFlags),
        .target(name: "EngineBench", dependencies: ["TensorEngine"], swiftSettings: fastFlags),
        .target(name: "Layers", dependencies: ["TensorEngine"], swiftSettings: fastFlags),
        .target(name: "IntegerSIMD", swiftSettings: integerSIMDFlags),
        .target(name: "GDQR", dependencies: ["Layers", "IntegerSIMD"], swiftSettings: fastFlags),
        .target(name: "Datasets", dependencies: ["TensorEngine", "CZlib", "CPNG", "CJPEG"], swiftSettings: fastFlags),
        .target(name: "Distributed", dependencies: ["CMPI"], swiftSettings: fastFlags),
        .target(name: "Checkpoint", dependencies: ["Layers", "GDQR", "CZstd"], swiftSettings: fastFlags),
        .target(name: "RunReport"),
        .target(name: "Trainer",
                dependencies: ["Layers", "GDQR", "Datasets", "Distributed", "Checkpoint", "RunReport",
                               .product(name: "Yams", package: "Yams"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: fastFlags),
        .executableTarget(name: "gdqr-train",
                          dependencies: ["Trainer", "TensorEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: fastFlags),
        .executableTarget(name: "gdqr",
                          dependencies: ["Trainer", "EngineBench", "Layers", "GDQR", "RunReport",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: fastFlags),
        .testTarget(name: "TensorEngineTests", dependencies: ["TensorEngine"], swiftSettings: fastFlags),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Checkpoint"], swiftSettings: fastFlags),
        .testTarget(name: "GDQRTests", dependencies: ["GDQR"], swiftSettings: fastFlags),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"], swiftSettings: fastFlags),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"], swiftSettings: fastFlags),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], swiftSettings: fastFlags),
        .testTarget(name: "TrainerTests", dependencies: ["Trainer"], swiftSettings: fastFlags),
        // Counts malloc/calloc/realloc calls (an interposed allocator) to check that a
        // training step allocates nothing once the model is built.
        .testTarget(name: "AllocationTests",
                    dependencies: ["Layers", "GDQR", .product(name: "MallocInterposerSwift", package: "malloc-interposer")],
                    swiftSettings: fastFlags),
        .testTarget(name: "RunReportTests", dependencies: ["RunReport"]),
    ],
    swiftLanguageModes: [.v5]
)
