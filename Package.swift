// swift-tools-version:6.0
// gdqr: a data-parallel trainer for 4-bit networks (GDQR quantization-aware training).
import PackageDescription
import Foundation

// Kernels are written with SIMD types and must be compiled for a CPU that has FMA:
// without a CPU target, SIMD.addProduct lowers to a software FMA about 100x slower.
// Every module is compiled for x86-64-v3 ("haswell": AVX2, FMA, F16C, BMI1/2, LZCNT,
// MOVBE; swiftc does not take the name x86-64-v3), so one binary runs
// on every such CPU whatever CPU built it; the kernels that depend on the register
// file (GEMM micro-kernels, integer dot products) also exist per level and are
// chosen at start-up from CPUID (TensorEngine/CPU/CPULevel.swift). There is no
// host-specific build: nothing reads the build host's CPU.
let targetCPU = "haswell"
let fastFlags: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", targetCPU, "-enforce-exclusivity=unchecked"]),
]
func levelFlags(_ cpu: String) -> [SwiftSetting] {
    [.unsafeFlags(["-target-cpu", cpu, "-enforce-exclusivity=unchecked"])]
}
// The integer dot products reach vpmaddubsw / vpdpbusd through the compiler's
// builtins (hence -parse-stdlib).
let integerV3Flags: [SwiftSetting] = [.unsafeFlags(["-parse-stdlib"])] + levelFlags("haswell")
let integerVNNIFlags: [SwiftSetting] = [.unsafeFlags(["-parse-stdlib"])] + levelFlags("icelake-server")
let integerAVXVNNIFlags: [SwiftSetting] = [.unsafeFlags(["-parse-stdlib"])] + levelFlags("alderlake")


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
        // CPUID / XGETBV, and the start-up check that refuses a CPU below x86-64-v3
        // (compiled for the baseline x86-64, like every C target here).
        .target(name: "CPUFeatures", path: "Sources/CPUFeatures"),
        .target(name: "GemmKernelsV3", swiftSettings: levelFlags("haswell")),
        .target(name: "GemmKernelsV4", swiftSettings: levelFlags("skylake-avx512")),
        // JSON for the files the project writes and the headers it parses: escaping, the
        // strict header parser, the run folder's JSON files.
        .target(name: "JSONFormat"),
        .target(name: "CBuildInfo", path: "Sources/CBuildInfo",
                cSettings: [.define("GDQR_TARGET_CPU", to: "\"\(targetCPU)\"")]),
        // Float lane shuffles through the compiler's shufflevector builtin (hence -parse-stdlib).
        .target(name: "VectorShuffles", swiftSettings: [.unsafeFlags(["-parse-stdlib"])] + fastFlags),
        .target(name: "TensorEngine",
                dependencies: ["CBuildInfo", "CPUFeatures", "GemmKernelsV3", "GemmKernelsV4", "VectorShuffles", .product(name: "Atomics", package: "swift-atomics")],
                swiftSettings: fastFlags),
        .target(name: "EngineBench", dependencies: ["TensorEngine", "JSONFormat"], swiftSettings: fastFlags),
        .target(name: "Layers", dependencies: ["TensorEngine"], swiftSettings: fastFlags),
        .target(name: "IntegerSIMD", swiftSettings: integerV3Flags),
        // The integer engine's register tiles per level: AVX2 pair products and the exact
        // portable step (x86-64-v3), VPDPBUSD on ymm (compiled for an AVX-VNNI CPU) and on zmm
        // (for an AVX512-VNNI CPU), each called only on a CPU that has it.
        .target(name: "IntegerTilesV3", dependencies: ["IntegerSIMD"], swiftSettings: levelFlags("haswell")),
        .target(name: "IntegerTilesAVXVNNI", swiftSettings: integerAVXVNNIFlags),
        .target(name: "IntegerTilesVNNI", swiftSettings: integerVNNIFlags),
        // The integer inference engine: the integer model, its reference and fast paths, the head ops.
        .target(name: "IntegerInference", dependencies: ["TensorEngine", "IntegerSIMD", "IntegerTilesV3", "IntegerTilesAVXVNNI", "IntegerTilesVNNI"],
                swiftSettings: fastFlags),
        .target(name: "GDQR", dependencies: ["TensorEngine", "Layers", "IntegerInference"], swiftSettings: fastFlags),
        .target(name: "Datasets", dependencies: ["TensorEngine", "Layers", "JSONFormat", "CZlib", "CPNG", "CJPEG"], swiftSettings: fastFlags),
        .target(name: "Distributed", dependencies: ["CMPI"], swiftSettings: fastFlags),
        .target(name: "Checkpoint", dependencies: ["JSONFormat", "Layers", "CZstd"], swiftSettings: fastFlags),
        // The files made for other programs: the integer model file (.gdqr) and ONNX.
        .target(name: "Export", dependencies: ["IntegerInference", "Checkpoint"], swiftSettings: fastFlags),
        .target(name: "RunReport"),
        // Metrics in one place: classifier accuracy and agreement, detection mAP, segmentation mIoU,
        // the scoring of scene models and the integer engine's parity with the fake-quant model;
        // out-of-distribution scores and their AUROC, AUPR, FPR95.
        .target(name: "Evaluation", dependencies: ["TensorEngine", "Layers", "IntegerInference", "GDQR", "Datasets"],
                swiftSettings: fastFlags),
        .target(name: "Trainer",
                dependencies: ["TensorEngine", "JSONFormat", "Layers", "GDQR", "IntegerInference", "Datasets", "Distributed", "Checkpoint", "Export",
                               "Evaluation",
                               .product(name: "Yams", package: "Yams"),
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: fastFlags),
        // The command-line code the two executables share: `train` (gdqr train, gdqr-train),
        // the common options and the exit statuses.
        .target(name: "TrainerCLI",
                dependencies: ["Trainer", "TensorEngine", "Distributed", "RunReport",
                               .product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: fastFlags),
        // What the gdqr tool does with a trained model, as library functions that return
        // reports: evaluate (accuracy, speed, parity, scenes, out-of-distribution), predict,
        // export, benchmark whole networks. The executable parses options and prints.
        .target(name: "ModelTools",
                dependencies: ["Trainer", "Evaluation", "Export", "GDQR", "IntegerInference", "Datasets", "Layers", "TensorEngine",
                               "Checkpoint", "Distributed", "JSONFormat"],
                swiftSettings: fastFlags),
        .executableTarget(name: "gdqr-train",
                          dependencies: ["Trainer", "TrainerCLI", "TensorEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: fastFlags),
        .executableTarget(name: "gdqr",
                          dependencies: ["Trainer", "TrainerCLI", "ModelTools", "EngineBench", "TensorEngine", "Layers", "IntegerInference",
                                         "Datasets", "Distributed", "Checkpoint", "Export", "RunReport", "Evaluation",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: fastFlags),
        // Replays inputs through the readers that need the package's modules; built with
        // -sanitize=fuzzer -DFUZZING it is their libFuzzer binary (Cluster/fuzz-package-readers.sh).
        .executableTarget(name: "gdqr-fuzz", dependencies: ["Checkpoint", "Datasets", "Export", "Trainer"],
                          path: "Tests/fuzz/ReaderFuzz", swiftSettings: fastFlags),
        .testTarget(name: "TensorEngineTests", dependencies: ["TensorEngine"], swiftSettings: fastFlags),
        .testTarget(name: "JSONFormatTests", dependencies: ["JSONFormat"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Checkpoint", "TensorEngine"], swiftSettings: fastFlags),
        .testTarget(name: "GDQRTests", dependencies: ["GDQR", "IntegerInference", "Layers", "TensorEngine"], swiftSettings: fastFlags),
        .testTarget(name: "IntegerInferenceTests", dependencies: ["IntegerInference", "IntegerSIMD", "IntegerTilesV3", "TensorEngine"],
                    swiftSettings: fastFlags),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Layers", "TensorEngine"], swiftSettings: fastFlags),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"], swiftSettings: fastFlags),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Layers"], swiftSettings: fastFlags),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Checkpoint", "GDQR", "IntegerInference", "Layers", "TensorEngine"],
                    swiftSettings: fastFlags),
        .testTarget(name: "TrainerTests", dependencies: ["Trainer", "JSONFormat", "Datasets", "Evaluation", "Distributed", "Layers", "GDQR", "TensorEngine"], swiftSettings: fastFlags),
        // Counts malloc/calloc/realloc calls (an interposed allocator) to check that a
        // training step allocates nothing once the model is built.
        .testTarget(name: "AllocationTests",
                    dependencies: ["Layers", "GDQR", "TensorEngine", .product(name: "MallocInterposerSwift", package: "malloc-interposer")],
                    swiftSettings: fastFlags),
        .testTarget(name: "RunReportTests", dependencies: ["RunReport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Datasets", "IntegerInference"], swiftSettings: fastFlags),
    ],
    swiftLanguageModes: [.v5]
)
