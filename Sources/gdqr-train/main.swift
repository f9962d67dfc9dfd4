import ArgumentParser
import Trainer

// gdqr-train is `gdqr train` under its own name.
struct GdqrTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gdqr-train", abstract: TrainCommand.configuration.abstract,
        version: "0.1.0")
    @OptionGroup var train: TrainCommand
    func run() throws { try train.run() }
}
GdqrTrain.main()
