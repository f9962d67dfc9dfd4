import Foundation

/// Process-wide engine settings.
public enum Engine {
    /// Threads to use when nothing says otherwise: GDQR_THREADS, else the cores online.
    public static var defaultThreads: Int {
        if let s = ProcessInfo.processInfo.environment["GDQR_THREADS"], let n = Int(s), n >= 1 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }
}
