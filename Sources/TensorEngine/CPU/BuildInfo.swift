import CBuildInfo
import Foundation

/// What this binary was compiled for and what it runs on this CPU, for `gdqr info`,
/// run banners, summary.json and bench lines.
public enum BuildInfo {
    public static let version = "0.1.0"

    /// The `-target-cpu` of the Swift modules: x86-64-v3 by default (one binary for
    /// every AVX2 CPU; swiftc names x86-64-v3 "haswell").
    public static var targetCPU: String { String(cString: gdqr_build_target_cpu()) }

    /// The running CPU's model name (from /proc/cpuinfo; only for display).
    public static var hostCPUModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    /// One line: CPU, its features, the level in use and the best it supports.
    public static var cpuLine: String {
        let level = CPULevel.current, best = CPULevel.best
        return "cpu \(hostCPUModel) [\(CPULevel.cpuFeatures.joined(separator: " "))]  level \(level)"
            + (level == best ? "" : " (forced; best \(best))") + "  compiled for \(targetCPU)"
    }

    /// The CPU and kernels as JSON fields (no braces), for summary.json and bench lines.
    public static var cpuJSONFields: String {
        let k = CPULevel.current.kernels.sorted { $0.key < $1.key }
            .map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
        let features = CPULevel.cpuFeatures.map { "\"\($0)\"" }.joined(separator: ",")
        return "\"cpu_model\":\"\(hostCPUModel)\",\"cpu_features\":[\(features)],"
            + "\"isa_level\":\"\(CPULevel.current)\",\"kernels\":{\(k)}"
    }
}
