// Diagnostics through swift-log. Progress and results go to standard output
// (ProgressDisplay, the commands' own prints); everything else (warnings, debug
// detail, errors that do not end the run) is a log line on standard error:
//
//   warning: resume: skipping runs/x/checkpoints/step-00000100.gdqrckpt: ...
//   [rank 3] debug: gradient buckets: 4 of at most 1048576 floats
//
// The rank prefix appears once the world has more than one rank. The level
// comes from --quiet (warnings and errors only), the default (info) or
// --verbose (debug).

import Foundation
import Logging
import Layers
import Distributed

public enum Verbosity: Sendable {
    case quiet, normal, verbose

    var level: Logger.Level {
        switch self {
        case .quiet: return .warning
        case .normal: return .info
        case .verbose: return .debug
        }
    }
}

public enum Log {
    /// The process's logger. Its level and rank prefix are set by `configure`.
    public static var logger: Logger {
        bootstrapOnce
        var l = Logger(label: "gdqr")
        l.logLevel = state.level
        return l
    }

    /// Sets the level (from the command's flags) and, under MPI, the rank prefix.
    public static func configure(_ verbosity: Verbosity, rank: Int = 0, worldSize: Int = 1) {
        bootstrapOnce
        state.level = verbosity.level
        state.prefix = worldSize > 1 ? "[rank \(rank)] " : ""
        // --verbose: each convolution's algorithm per pass, as the model is built.
        Conv2dLayer.report = verbosity == .verbose ? { Log.debug($0) } : nil
    }

    public static func warning(_ message: @autoclosure () -> String) { logger.warning("\(message())") }
    public static func info(_ message: @autoclosure () -> String) { logger.info("\(message())") }
    public static func debug(_ message: @autoclosure () -> String) { logger.debug("\(message())") }

    // LoggingSystem.bootstrap may run once per process (tests configure many times).
    private static let bootstrapOnce: Void = {
        LoggingSystem.bootstrap { _ in StderrLogHandler() }
    }()

    nonisolated(unsafe) static var state = (level: Logger.Level.info, prefix: "")
}

/// "PREFIX level: message" on standard error, written with one write(2) so lines
/// of different ranks do not interleave mid-line.
struct StderrLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        writeStderr(Log.state.prefix + "\(event.level): \(event.message)\n")
    }
}
