// `gdqr report RUN_DIR`: writes the run's report.html (training curves,
// quantization table, weight histograms, parity, pictures), self-contained.

import ArgumentParser
import RunReport
import Trainer
import TrainerCLI

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write RUN_DIR/report.html: one self-contained page of curves, quantization, parity and pictures.")

    @Argument(help: "The run folder (runs/NAME).")
    var runDir: String

    @Option(name: .long, help: "The output file (default RUN_DIR/report.html).")
    var out: String?

    @OptionGroup var output: OutputOptions

    func run() throws {
        Log.configure(output.verbosity)
        // A missing or malformed run file is a runtime failure (exit 1), with its message.
        let path = try RunReport.write(runDirectory: runDir, to: out)
        if !output.quiet { print(path) }
    }
}
