// `gdqr data stats CONFIG-or-ROOT`: the training set's per-channel mean and standard
// deviation, image count, size range and classes (ModelTools/DataStatistics.swift),
// printed as the data-section YAML lines to paste into a config, or as JSON.

import ArgumentParser
import Foundation
import ModelTools

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Inspect a data set.", subcommands: [DataStats.self])
}

struct DataStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Per-channel mean and std of a training set (the config's data.channel_mean / channel_std), image count, sizes, classes.")

    @Argument(help: "A config (its data section names the set) or a data root: image-folder (ROOT/train/CLASS/...), VOC (ROOT/ImageSets/Segmentation/train.txt) or COCO as gdqr scenes write lays it out (ROOT/annotations/instances_train.json, ROOT/train/).")
    var source: String

    @Option(help: "Channels to count: 1 (grey) or 3 (RGB); 0 = the config's model.in_channels, or for a root the first image's.")
    var channels: Int = 0

    @Option(name: .customLong("set"), help: "Override a config key: section.key=value (repeatable).")
    var overrides: [String] = []

    @Flag(help: "Print JSON instead of YAML lines.")
    var json = false

    func run() throws {
        let d = try DataStatistics(source: source, channels: channels, overrides: overrides)
        let s = d.stats, n = d.channels
        if json {
            let report: [String: Any] = [
                "source": source, "set": d.set, "images": s.images, "pixels": s.pixels, "channels": n,
                "channel_mean": s.mean, "channel_std": s.std, "shared_std": s.sharedStd,
                "width": [s.minWidth, s.maxWidth], "height": [s.minHeight, s.maxHeight], "classes": d.classes,
            ]
            let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        func list(_ xs: [Double]) -> String { "[" + xs.map { String(format: "%.8f", $0) }.joined(separator: ", ") + "]" }
        print("# \(s.images) training images (\(d.set)), \(n == 1 ? "grey" : "RGB"), "
            + "\(s.minWidth)x\(s.minHeight) to \(s.maxWidth)x\(s.maxHeight) pixels (smallest, largest width x height)")
        if !d.classes.isEmpty { print("# \(d.classes.count) classes: \(d.classes.joined(separator: ", "))") }
        if n > 1 {
            print("# per-channel std \(list(s.std)); the integer model's stem fold takes one std for all")
            print("# channels, so channel_std below repeats their root mean square")
        }
        print("data:")
        print("  channel_mean: \(list(s.mean))")
        print("  channel_std: \(list([Double](repeating: s.sharedStd, count: n)))")
        if n == 1 {
            print(String(format: "  normalize_mean: %.8f", s.mean[0]))
            print(String(format: "  normalize_std: %.8f", s.std[0]))
        }
    }
}
