// Progress on rank 0: one rewritten line on a terminal, plain lines otherwise.

import Foundation

public final class ProgressDisplay {
    public let enabled: Bool
    private let isTerminal: Bool
    private var lastWidth = 0

    public init(enabled: Bool) {
        self.enabled = enabled
        isTerminal = isatty(STDOUT_FILENO) != 0
    }

    /// A transient status line (terminal only: rewritten in place).
    public func update(_ text: String) {
        guard enabled, isTerminal else { return }
        let pad = max(0, lastWidth - text.count)
        FileHandle.standardOutput.write(Data(("\r" + text + String(repeating: " ", count: pad)).utf8))
        lastWidth = text.count
    }

    /// Progress: rewritten in place on a terminal, a plain line otherwise.
    public func status(_ text: String) {
        if isTerminal { update(text) } else { line(text) }
    }

    /// A permanent line (clears any status line first).
    public func line(_ text: String) {
        guard enabled else { return }
        if isTerminal && lastWidth > 0 {
            FileHandle.standardOutput.write(Data(("\r" + String(repeating: " ", count: lastWidth) + "\r").utf8))
            lastWidth = 0
        }
        print(text)
        fflush(stdout)
    }

    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}

@inline(__always) func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
