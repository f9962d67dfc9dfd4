// `gdqr bench loader`'s work: the image-folder loader alone (decode, resize the
// shorter side, the training crop and flip, normalisation), no model. The config is
// built from the request and the loader by the trainer's own functions
// (TrainingContext.imageFolder, imageFolderTrainLoader), so what is timed is the code
// path a run's training phase takes; the consumer only takes the batches.
// Cluster/bench-loader-vs-pil.sh runs it beside PIL doing the same work per image.

import Foundation
import Datasets
import Trainer
import Distributed
import JSONFormat

public struct LoaderBenchRequest {
    /// An image folder: ROOT/train/CLASS/IMAGE (ROOT/val must exist, as for training).
    public var root: String
    /// model.image_size: the side of the square each image becomes.
    public var imageSize: Int
    /// model.in_channels (1 or 3); 0 = the first training image's.
    public var channels = 0
    /// data.crop: pad-crop or random-resized-crop.
    public var crop = "random-resized-crop"
    public var workers = 2
    public var prefetch = 2
    public var batch = 128
    /// data.train_limit: the first N training images only; 0 = all.
    public var limit = 0
    public var seconds = 5.0
    /// Further `section.key=value` settings (data.hflip, data.crop_padding, ...).
    public var overrides: [String] = []

    public init(root: String, imageSize: Int) {
        self.root = root
        self.imageSize = imageSize
    }
}

public struct LoaderBenchReport {
    public let root: String
    public let imageSize: Int
    public let channels: Int
    public let crop: String
    public let workers: Int
    public let batch: Int
    /// Images delivered after the first batch, and the wall and process-CPU seconds they took.
    public let images: Int
    public let seconds: Double
    public let cpuSeconds: Double

    public var imagesPerSecond: Double { Double(images) / seconds }
    public var imagesPerSecondPerWorker: Double { imagesPerSecond / Double(workers) }

    public var jsonLine: String {
        "{\"framework\":\"gdqr\",\"root\":\(JSONText.quoted(root)),\"size\":\(imageSize),\"channels\":\(channels),"
            + "\"crop\":\"\(crop)\",\"workers\":\(workers),\"batch\":\(batch),\"images\":\(images),"
            + String(format: "\"seconds\":%.3f,\"cpu_seconds\":%.3f,\"images_per_s\":%.1f,\"images_per_s_per_worker\":%.1f}",
                     seconds, cpuSeconds, imagesPerSecond, imagesPerSecondPerWorker)
    }

    public var textLine: String {
        String(format: "%@  %dx%dx%d %@  workers %d  batch %d: %.1f images/s (%.1f per worker), %d images in %.2f s, CPU %.2f s",
               root, channels, imageSize, imageSize, crop, workers, batch, imagesPerSecond, imagesPerSecondPerWorker,
               images, seconds, cpuSeconds)
    }
}

public enum LoaderBench {
    /// The run config a training run on `r.root` would have, with the request's settings.
    /// The config schema checks the sizes, counts and crop and names the setting at fault;
    /// the folder is read as the training run reads it (ImageFolderIndex.load, in run()).
    static func config(_ r: LoaderBenchRequest) throws -> RunConfig {
        guard r.seconds > 0, r.seconds.isFinite else {
            throw ToolError(usage: "bench loader: --seconds \(r.seconds), expected a positive number")
        }
        let classes = try ImageFolderIndex.classNames(trainDirectory: r.root + "/train")
        guard classes.count >= 2 else {
            throw ToolError("\(r.root)/train: 1 class folder (\(classes[0])); training needs at least 2 (model.num_classes)")
        }
        var channels = r.channels
        if channels == 0 {   // the first training image's; run() lists the folder again either way
            let (train, _) = try ImageFolderIndex.load(root: r.root)
            var buffer: [UInt8] = []
            channels = try ImageDecoder.decode(file: train.path(0), buffer: &buffer).channels
        }
        let settings = [
            "model.arch=cnn", "model.num_classes=\(classes.count)", "model.in_channels=\(channels)",
            "model.image_size=\(r.imageSize)", "data.dataset=image-folder", "data.root=\(r.root)", "data.crop=\(r.crop)",
            "data.workers=\(r.workers)", "data.prefetch_batches=\(r.prefetch)", "data.train_limit=\(r.limit)",
            "train.batch_size=\(r.batch)",
        ]
        return try ConfigLoader.load(yaml: "name: bench-loader\n", sourceName: "bench-loader", overrides: settings + r.overrides)
    }

    /// Takes training batches (epoch after epoch) for `r.seconds` after the first one.
    public static func run(_ r: LoaderBenchRequest) throws -> LoaderBenchReport {
        let c = try config(r)
        let (train, _) = try TrainingContext.imageFolder(c, normalization: c.normalization, badFiles: nil)
        let loader = try TrainingContext.imageFolderTrainLoader(c, source: train)
        var epoch = 0
        loader.startEpoch(epoch)
        // The first batch carries the threads' start and the first files' cold reads.
        _ = try loader.next()
        var step = 1
        let t0 = monotonicSeconds(), c0 = processCPUSeconds()
        var images = 0, elapsed = 0.0
        while elapsed < r.seconds {
            if step == loader.stepsPerEpoch {
                epoch += 1
                step = 0
                loader.startEpoch(epoch)
            }
            guard let b = try loader.next() else { break }
            images += b.count
            step += 1
            elapsed = monotonicSeconds() - t0
        }
        return LoaderBenchReport(root: r.root, imageSize: r.imageSize, channels: c.model.inChannels, crop: r.crop,
                                 workers: r.workers, batch: r.batch, images: images, seconds: elapsed,
                                 cpuSeconds: processCPUSeconds() - c0)
    }
}
