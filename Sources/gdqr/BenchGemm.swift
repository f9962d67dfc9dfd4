import ArgumentParser

struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm")
    func run() throws { throw ValidationError("not built yet") }
}
