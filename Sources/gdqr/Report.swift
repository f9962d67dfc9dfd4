// `gdqr report RUN_DIR`: writes the run's report.html (training curves,
// quantization table, weight histograms, parity, pictures), self-contained.

import ArgumentParser
import RunReport

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write RUN_DIR/report.html: one self-contained page of curves, quantization, parity and pictures.")

    @Argument(help: "The run folder (runs/NAME).")
    var runDir: String

    @Option(name: .long, help: "The output file (default RUN_DIR/report.html).")
    var out: String?

    func run() throws {
        // A missing or malformed run file is a runtime failure (exit 1), with its message.
        print(try RunReport.write(runDirectory: runDir, to: out))
    }
}
