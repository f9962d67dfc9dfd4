import ArgumentParser
import TensorEngine
import Trainer
import TrainerCLI

// gdqr-train is `gdqr train` under its own name.
struct GdqrTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gdqr-train", abstract: TrainCommand.configuration.abstract,
        version: BuildInfo.version)
    @OptionGroup var train: TrainCommand
    func run() throws { try train.run() }
}
CommandLineEntry.main(GdqrTrain.self)
