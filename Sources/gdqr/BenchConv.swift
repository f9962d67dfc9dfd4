import ArgumentParser

struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conv")
    func run() throws { throw ValidationError("not built yet") }
}
