// The entry point of `gdqr` and `gdqr-train`: ArgumentParser's own `main()` with
// the project's exit statuses, which scripts and schedulers can rely on:
//
//   0  success (also --help and --version)
//   1  runtime failure: a missing or corrupt file, an MPI error, a diverged run
//   2  usage or configuration error: an unknown option or subcommand, a bad
//      option value, an invalid or unknown config key (ConfigError)
//
// ArgumentParser alone exits 64 (EX_USAGE) for usage errors; a caller that
// checks for 2 would miss them.

import ArgumentParser
import TensorEngine
import Distributed
import Trainer
import Foundation

/// Options every command that does work takes.
public struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print results and errors only (warnings still go to stderr).")
    public var quiet = false

    @Flag(name: .long, help: "Also print debug detail on stderr.")
    public var verbose = false

    public init() {}

    public var verbosity: Verbosity { quiet ? .quiet : (verbose ? .verbose : .normal) }

    public func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose exclude each other") }
    }
}

/// `--isa LEVEL`: the kernel level (as GDQR_ISA), refused before any work when this
/// CPU lacks it.
public struct EngineOptions: ParsableArguments {
    @Option(name: .long, help: "Kernel level: auto (default: the best this CPU has), v3 (AVX2), v3-vnni (AVX-VNNI), v4 (AVX-512), v4-vnni.")
    public var isa: String?

    public init() {}

    public func validate() throws {
        if let isa {
            do { try CPULevel.force(isa) } catch { throw ValidationError("--isa: \(error)") }
        }
    }
}

public enum CommandLineEntry {
    /// The exit status for an error thrown by parsing or by a command's `run()`.
    public static func exitStatus<C: ParsableCommand>(for error: Error, command: C.Type) -> Int32 {
        if let e = error as? ExitStatusError { return e.exitStatus }
        let code = command.exitCode(for: error)
        if code == .validationFailure { return 2 }
        return code.rawValue
    }

    /// Parses the process's arguments, runs the chosen command and exits.
    public static func main<C: ParsableCommand>(_ command: C.Type) -> Never {
        do {
            var parsed = try command.parseAsRoot()
            try parsed.run()
            exit(0)
        } catch {
            let status = exitStatus(for: error, command: command)
            if let e = error as? ExitStatusError {
                writeStderr("error: \(e)\n")
            } else {
                let message = command.fullMessage(for: error)
                if !message.isEmpty {
                    if status == 0 { print(message) } else { writeStderr(message + "\n") }
                }
            }
            exit(status)
        }
    }
}
