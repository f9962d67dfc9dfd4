import CBuildInfo
import Foundation

/// What this binary was compiled for, for `gdqr info` and run banners.
public enum BuildInfo {
    public static let version = "0.1.0"

    /// The `-target-cpu` the Swift kernels were compiled with.
    public static var targetCPU: String { String(cString: gdqr_build_target_cpu()) }

    /// Width in floats of the widest vector the compiled kernels use natively.
    public static var simdWidthFloats: Int {
        #if arch(x86_64)
        if targetCPU == "native" { return hostHasAVX512 ? 16 : 8 }
        let wide = ["skylake-avx512", "cascadelake", "cooperlake", "icelake-server", "icelake-client",
                    "tigerlake", "sapphirerapids", "znver4", "znver5", "x86-64-v4"]
        return wide.contains(targetCPU) ? 16 : 8
        #else
        return 4
        #endif
    }

    /// Whether the running CPU reports AVX-512F (from /proc/cpuinfo).
    public static var hostHasAVX512: Bool { hostCPUFlags.contains("avx512f") }

    public static var hostCPUFlags: Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    public static var hostCPUModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
