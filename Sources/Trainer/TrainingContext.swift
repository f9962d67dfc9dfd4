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
    /// The in-memory splits; nil for data.dataset image-folder, which streams from files
    /// (`folderTrain` / `folderTest`; use trainCount / testCount, makeTrainLoader, makeEvalBatches).
    public let train: ImageDataset!
    public let test: ImageDataset!
    public let folderTrain: ImageFolderSource?
    public let folderTest: ImageFolderSource?
    /// The COCO or VOC splits (data.dataset coco / voc), streamed from their files like the image folders.
    public let annotatedTrain: AnnotatedSource?
    public let annotatedTest: AnnotatedSource?
    /// Files skipped under data.skip_bad (image-folder).
    public let badFiles: BadFileLog?
    /// The rendered scenes (targets by scene index) for the scene models; their
    /// images are `train` and `test`.
    public let trainScenes: SceneSet?
    public let testScenes: SceneSet?
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
        normalization = c.normalization
        if c.data.dataset == .imageFolder {
            trainScenes = nil
            testScenes = nil
            train = nil
            test = nil
            let bad = c.data.folder.skipBad ? BadFileLog(warn: { Log.warning($0) }) : nil
            (folderTrain, folderTest) = try Self.imageFolder(c, normalization: normalization, badFiles: bad)
            badFiles = bad
            annotatedTrain = nil; annotatedTest = nil
        } else if c.data.dataset == .coco || c.data.dataset == .voc {
            trainScenes = nil; testScenes = nil; train = nil; test = nil; folderTrain = nil; folderTest = nil
            let bad = c.data.folder.skipBad ? BadFileLog(warn: { Log.warning($0) }) : nil
            (annotatedTrain, annotatedTest) = try Self.annotated(c, normalization: normalization, badFiles: bad)
            badFiles = bad
        } else if c.model.isScene {
            trainScenes = try Self.scenes(c, split: .train)
            testScenes = try Self.scenes(c, split: .test)
            train = trainScenes!.images
            test = testScenes!.images
            folderTrain = nil; folderTest = nil; badFiles = nil
            annotatedTrain = nil; annotatedTest = nil
        } else {
            trainScenes = nil
            testScenes = nil
            let trainFiles = try ImageDataset.mnistLayout(directory: c.data.root, split: .train, limit: c.data.trainLimit,
                                                          classes: c.model.numClasses, keeping: c.data.classes).kept
            let testFiles = try ImageDataset.mnistLayout(directory: c.data.root, split: .test, limit: c.data.testLimit,
                                                         classes: c.model.numClasses, keeping: c.data.classes).kept
            train = c.data.resize ? try trainFiles.resized(to: c.model.imageSize) : trainFiles
            test = c.data.resize ? try testFiles.resized(to: c.model.imageSize) : testFiles
            folderTrain = nil; folderTest = nil; badFiles = nil
            annotatedTrain = nil; annotatedTest = nil
        }
        let m = c.model
        guard train == nil || (train.channels == m.inChannels && train.height == m.imageSize && train.width == m.imageSize) else {
            throw TrainerError("data \(train.source) has images \(train.channels)x\(train.height)x\(train.width), "
                + "but model.in_channels/image_size say \(m.inChannels)x\(m.imageSize)x\(m.imageSize)"
                + (c.data.dataset == .imageFolder || c.model.isScene ? "" : " (data.resize: true resamples them)"))
        }
        augmentation = Augmentation(cropPadding: c.data.cropPadding, horizontalFlip: c.data.hflip)
        if comm.rank == 0 {
            folder = try RunFolder(path: options.outDir ?? "runs/\(c.name)")
            try folder!.write("config.yaml", c.resolvedYAML)
        } else {
            folder = nil
        }
    }

    public var modelSpec: ModelSpec { config.modelSpec }

    /// Renders scenes 0..<N of a split (N = the scene count, or the data limit when smaller).
    static func scenes(_ c: RunConfig, split: ImageDataset.Split) throws -> SceneSet {
        let d = c.data, s = c.sceneSettings
        let source = try ImageDataset.fashionMNIST(directory: d.root, split: split)
        let composer = try SceneComposer(source: source, split: split, settings: s)
        let limit = split == .train ? d.trainLimit : d.testLimit
        return try SceneSet(composer: composer, count: limit > 0 ? min(limit, composer.count) : composer.count)
    }

    /// The model of a phase: the classifier, or a scene network with its targets.
    func makeModel(policy: QuantizationPolicy?) -> PhaseModel {
        let m = config.model, seed = UInt64(config.seed)
        switch m.kind {
        case .classifier:
            return ClassifierModel(Network(modelSpec, maxBatch: localBatch, threads: threads, seed: seed, policy: policy))
        case .centerNet, .fcn:
            let net = SceneNetwork(kind: m.kind == .fcn ? .fcn : .centerNet, depth: m.depth, width: m.width,
                                   input: FeatureShape(m.inChannels, m.imageSize, m.imageSize), classes: m.numClasses,
                                   maxBatch: localBatch, threads: threads, seed: seed, headChannels: m.headChannels,
                                   policy: policy)
            let (train, test) = sceneTargets()
            let model: SceneModel & PhaseModel = m.kind == .fcn
                ? SceneSegmentationModel(net, train: train, test: test, normalization: normalization, pool: pool)
                : SceneDetectionModel(net, train: train, test: test, normalization: normalization, pool: pool)
            if comm.size > 1 {
                let comm = self.comm
                model.sumAcrossRanks = { values in try values.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) } }
            }
            return model
        }
    }

    func banner(_ model: PhaseModel, phase: String) {
        guard comm.rank == 0 else { return }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if comm.localSize * threads > cores {
            Log.warning("\(comm.localSize) ranks x \(threads) threads on this node exceed its \(cores) cores: "
                + "ranks will compete for cores (set train.threads so that ranks x threads <= cores)")
        }
        guard !options.quiet else { return }
        progress.line("gdqr \(BuildInfo.version)  \(BuildInfo.cpuLine)  world \(comm.size) x \(threads) threads  config \(config.hashHex)")
        progress.line("phase \(phase): model \(model.description), \(model.arena.parameterCount) parameters, "
            + String(format: "%.1f MFLOPs/image forward", Double(model.macsPerSample) * 2e-6))
        let sc = config.data.scenes
        let what = config.data.dataset == .fashionScenes ? "\(sc.size)x\(sc.size) scenes (seed \(sc.seed)) of items" : "samples"
        progress.line("data \(trainCount) train / \(testCount) test \(what) from \(config.data.root); "
            + "batch \(config.train.batchSize) (\(localBatch) per rank)")
        if let folder { progress.line("run folder \(folder.path)") }
    }
}
