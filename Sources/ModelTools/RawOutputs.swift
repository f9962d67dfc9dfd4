// `gdqr eval --save-outputs`: the integer engine's outputs as raw little-endian
// float32, for byte comparisons across machines and CPU levels (Tests/scripts/qemu-levels.sh).

import Foundation

/// Writes `values` to `path` as raw float32 (this machine's byte order: little-endian on x86-64).
func writeRawFloats(_ values: [Float], to path: String) throws {
    do { try values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) } } catch {
        throw ToolError("\(path): cannot write: \(error.localizedDescription)")
    }
}
