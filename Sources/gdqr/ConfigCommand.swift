// `gdqr config`: validate a config without training, and print the reference of
// every key (the README's "Configuration reference" is this output verbatim).

import ArgumentParser
import Trainer

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a config file, or print the reference of every key.",
        subcommands: [ConfigCheck.self, ConfigReference.self])
}

struct ConfigCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config (with overrides) and print the resolved YAML and its hash.")

    @Argument(help: "The YAML experiment config.")
    var file: String

    @Option(name: .customLong("set"), help: "Override a config key: section.key=value (repeatable).")
    var overrides: [String] = []

    func run() throws {
        let cfg = try ConfigLoader.load(path: file, overrides: overrides)
        print(cfg.resolvedYAML, terminator: "")
        print("# config hash \(cfg.hashHex)")
    }
}

struct ConfigReference: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reference", abstract: "Print every config key: type, default, range, meaning (Markdown).")

    func run() {
        print(ConfigSchema.markdownReference(), terminator: "")
    }
}
