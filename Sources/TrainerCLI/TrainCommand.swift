// `gdqr-train` and `gdqr train`: the same options, parsed once, run here.

import ArgumentParser
import Foundation
import Distributed
import Trainer
import RunReport

public struct TrainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model from a YAML config (data-parallel under mpirun).")

    @Option(name: .long, help: "The YAML experiment config.")
    var config: String

    @Option(name: .customLong("set"), help: "Override a config key: section.key=value (repeatable).")
    var overrides: [String] = []

    @Option(name: .long, help: "The run folder (default runs/NAME).")
    var out: String?

    @Option(name: .customLong("init-from"), help: "Initial float weights (.safetensors), matched by name.")
    var initFrom: String?

    @Option(name: .long, help: "Resume: 'auto' (newest valid checkpoint in the run folder) or a checkpoint path.")
    var resume: String?

    @Option(name: .long, help: "Random seed (overrides the config's seed).")
    var seed: Int?

    @OptionGroup var output: OutputOptions
    @OptionGroup var engine: EngineOptions

    public init() {}

    public func run() throws {
        let comm: Communicator
        do { comm = try CommunicatorFactory.make() } catch {
            throw TrainerError("cannot start MPI: \(error)")
        }
        Log.configure(output.verbosity, rank: comm.rank, worldSize: comm.size)
        StopSignal.install()   // SIGTERM/SIGUSR1: checkpoint after the step, exit 75
        let code: Int32 = runOrAbort(comm) {
            var sets = overrides
            if let seed { sets.append("seed=\(seed)") }
            let cfg = try ConfigLoader.load(path: config, overrides: sets)
            var options = TrainOptions(outDir: out, initFrom: initFrom)
            options.quiet = output.quiet
            options.resume = resume
            let ctx = try TrainingContext(config: cfg, comm: comm, options: options)
            do { _ = try TrainingPipeline(ctx).run() } catch let p as Preempted {
                if comm.rank == 0 { writeStderr("gdqr-train: \(p)\n") }
                return Preempted.status
            }
            // report.html is a convenience: failing to write it warns but does not fail the run.
            if let folder = ctx.folder {
                do { try RunReport.write(runDirectory: folder.path) } catch {
                    Log.warning("report.html not written: \(error)")
                }
            }
            return 0
        }
        try comm.finalize()
        if code != 0 { throw ExitCode(code) }
    }
}
