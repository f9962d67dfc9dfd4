import CPUFeatures

/// The kernel level this process runs: chosen at start-up from CPUID (never from
/// the build host), or forced with GDQR_ISA / `--isa`. Every Swift module is
/// compiled for x86-64-v3; the GEMM micro-kernels and the integer engine's dot
/// products also exist per level (GemmKernelsV3/V4, IntegerSIMD*), and the
/// dispatchers switch on `CPULevel.current`.
public enum CPULevel: Int, CustomStringConvertible, Sendable {
    case v3 = 3, v3VNNI = 4, v4 = 5, v4VNNI = 6

    /// Whether the level's GEMM kernels use AVX-512 (zmm, 32 registers).
    @inline(__always) public var hasAVX512: Bool { rawValue >= CPULevel.v4.rawValue }

    /// The level in use (GDQR_ISA was checked before main: see cpu_features.c).
    @inline(__always) public static var current: CPULevel {
        CPULevel(rawValue: Int(gdqr_isa_level())) ?? .v3
    }

    /// The highest level this CPU supports.
    public static var best: CPULevel { CPULevel(rawValue: Int(gdqr_cpu_best_level())) ?? .v3 }

    public var description: String { String(cString: gdqr_level_name(Int32(rawValue))) }

    /// Forces a level by name ("auto", "v3", "v3-vnni", "v4", "v4-vnni"); throws with the
    /// missing CPU features when this CPU lacks it.
    public static func force(_ name: String) throws {
        var why = [CChar](repeating: 0, count: 320)
        if gdqr_isa_select(name, &why, Int32(why.count)) != 0 {
            throw CPULevelError(message: String(cString: why))
        }
    }

    /// The CPU's vector and integer-dot-product features, as CPUID reports them.
    public static var cpuFeatures: [String] {
        let f = gdqr_cpu_features()
        let named: [(Int, String)] = [
            (Int(GDQR_CPU_AVX2), "avx2"), (Int(GDQR_CPU_FMA), "fma"), (Int(GDQR_CPU_F16C), "f16c"),
            (Int(GDQR_CPU_BMI2), "bmi2"), (Int(GDQR_CPU_AVX512F), "avx512f"), (Int(GDQR_CPU_AVX512BW), "avx512bw"),
            (Int(GDQR_CPU_AVX512VL), "avx512vl"), (Int(GDQR_CPU_AVX512VNNI), "avx512vnni"),
            (Int(GDQR_CPU_AVXVNNI), "avxvnni"),
        ]
        return named.filter { Int(f) & $0.0 != 0 }.map(\.1)
    }

    /// The kernels this level runs, for `gdqr info`, banners, summary.json and bench lines.
    public var kernels: [String: String] {
        switch self {
        case .v3:
            return ["gemm": "v3 8x32 tile as 4x16 ymm sub-tiles", "gemm_dot": "v3 2x3 dot blocks",
                    "integer_dot": "v3 avx2 vpmaddubsw pairs (4-bit layers), portable (8-bit)"]
        case .v3VNNI:
            return ["gemm": "v3 8x32 tile as 4x16 ymm sub-tiles", "gemm_dot": "v3 2x3 dot blocks",
                    "integer_dot": "v3 avx-vnni vpdpbusd on ymm"]
        case .v4:
            return ["gemm": "v4 8x32 zmm tile", "gemm_dot": "v4 4x3 dot blocks",
                    "integer_dot": "v3 avx2 vpmaddubsw pairs (4-bit layers), portable (8-bit)"]
        case .v4VNNI:
            return ["gemm": "v4 8x32 zmm tile", "gemm_dot": "v4 4x3 dot blocks",
                    "integer_dot": "v4 avx512 vnni vpdpbusd"]
        }
    }
}

public struct CPULevelError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
