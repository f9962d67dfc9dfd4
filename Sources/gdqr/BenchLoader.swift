// `gdqr bench loader`: the image-folder loader's throughput alone, decode and train
// augmentation with no model (ModelTools/LoaderBench.swift), as text or one JSON line.

import ArgumentParser
import Foundation
import ModelTools

struct BenchLoader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "Image-folder loader images/s (decode, resize, training crop and flip, normalisation; no model).")

    @Option(help: "Image folder ROOT (ROOT/train/CLASS/IMAGE and ROOT/val, as for data.dataset image-folder).")
    var root: String

    @Option(help: "model.image_size: side of the square input.")
    var size: Int

    @Option(help: "model.in_channels: 1 or 3 (default: the first training image's).")
    var channels: Int = 0

    @Option(help: "data.crop: pad-crop or random-resized-crop.")
    var crop: String = "random-resized-crop"

    @Option(help: "data.workers: decoding threads.")
    var workers: Int = 2

    @Option(help: "data.prefetch_batches: batches decoded ahead.")
    var prefetch: Int = 2

    @Option(help: "train.batch_size.")
    var batch: Int = 128

    @Option(help: "data.train_limit: the first N training images only (0 = all).")
    var limit: Int = 0

    @Option(help: "Seconds to measure (after the first batch).")
    var seconds: Double = 5

    @Option(name: .customLong("set"), help: "Further config settings, section.key=value (e.g. data.hflip=false); repeatable.")
    var overrides: [String] = []

    @Flag(help: "One JSON object.")
    var json = false

    func run() throws {
        var r = LoaderBenchRequest(root: root, imageSize: size)
        r.channels = channels
        r.crop = crop
        r.workers = workers
        r.prefetch = prefetch
        r.batch = batch
        r.limit = limit
        r.seconds = seconds
        r.overrides = overrides
        let report = try LoaderBench.run(r)
        print(json ? report.jsonLine : report.textLine)
    }
}
