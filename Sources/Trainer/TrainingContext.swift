// What every phase of a run shares: config, communicator, threads, data, run
// folder and progress display. Built once per process.

import Foundation
import TensorEngine
import Layers
import Datasets
import Distributed

public struct TrainOptions {
    public var outDir: String?
    public var initFrom: String?
    /// "auto" (the newest valid checkpoint of the run folder) or a checkpoint path.
    public var resume: String?
    public var quiet = false
    public init(outDir: String? = nil, initFrom: String? = nil) {
        self.outDir = outDir
        self.initFrom = initFrom
    }
}

public final class TrainingContext {
    public let config: RunConfig
    public let comm: Communicator
    public let options: TrainOptions
    public let threads: Int
    public let pool: ThreadPool?
    public let train: ImageDataset
    public let test: ImageDataset
    public let normalization: Normalization
    public let augmentation: Augmentation
    public let localBatch: Int
    public let folder: RunFolder?
    let progress: ProgressDisplay

    public init(config: RunConfig, comm: Communicator, options: TrainOptions) throws {
        self.config = config
        self.comm = comm
        self.options = options
        try comm.checkSame(config.hashHex, what: "resolved config hash")
        let cores = ProcessInfo.processInfo.activeProcessorCount
        threads = config.train.threads > 0 ? config.train.threads : max(1, cores / max(comm.localSize, 1))
        pool = threads > 1 ? ThreadPool(threads: threads) : nil
        progress = ProgressDisplay(enabled: comm.rank == 0 && !options.quiet)
        guard config.train.batchSize % comm.size == 0 else {
            throw TrainerError("train.batch_size \(config.train.batchSize) is not divisible by the world size \(comm.size)")
        }
        localBatch = config.train.batchSize / comm.size
        let c = config
        train = try ImageDataset.mnistLayout(directory: c.data.root, split: .train, limit: c.data.trainLimit,
                                             classes: c.model.numClasses)
        test = try ImageDataset.mnistLayout(directory: c.data.root, split: .test, limit: c.data.testLimit,
                                            classes: c.model.numClasses)
        let m = c.model
        guard train.channels == m.inChannels, train.height == m.imageSize, train.width == m.imageSize else {
            throw TrainerError("data \(train.source) has images \(train.channels)x\(train.height)x\(train.width), "
                + "but model.in_channels/image_size say \(m.inChannels)x\(m.imageSize)x\(m.imageSize)")
        }
        normalization = Normalization(mean: Float(c.data.normalizeMean), std: Float(c.data.normalizeStd))
        augmentation = Augmentation(cropPadding: c.data.cropPadding, horizontalFlip: c.data.hflip)
        if comm.rank == 0 {
            folder = try RunFolder(path: options.outDir ?? "runs/\(c.name)")
            try folder!.write("config.yaml", c.resolvedYAML)
        } else {
            folder = nil
        }
    }

    public var modelSpec: ModelSpec {
        let m = config.model
        return ModelSpec(arch: m.arch == .cnn ? .cnn : .resnet, depth: m.depth, width: m.width,
                         numClasses: m.numClasses, input: FeatureShape(m.inChannels, m.imageSize, m.imageSize))
    }

    func banner(_ net: Network, phase: String) {
        guard comm.rank == 0 else { return }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if comm.localSize * threads > cores {
            Log.warning("\(comm.localSize) ranks x \(threads) threads on this node exceed its \(cores) cores: "
                + "ranks will compete for cores (set train.threads so that ranks x threads <= cores)")
        }
        guard !options.quiet else { return }
        progress.line("gdqr \(BuildInfo.version)  cpu target \(BuildInfo.targetCPU)  world \(comm.size) x \(threads) threads  config \(config.hashHex)")
        progress.line("phase \(phase): model \(net.spec.description), \(net.arena.parameterCount) parameters, "
            + String(format: "%.1f MFLOPs/image forward", Double(net.macsPerSample) * 2e-6))
        progress.line("data \(train.count) train / \(test.count) test from \(config.data.root); "
            + "batch \(config.train.batchSize) (\(localBatch) per rank)")
        if let folder { progress.line("run folder \(folder.path)") }
    }
}
