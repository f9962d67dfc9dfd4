// Where a phase's batches come from: the in-memory datasets (IDX files, scenes)
// through BatchLoader / EvalBatches, or an image folder streamed from its files
// through StreamingLoader / StreamingEvalBatches (data.dataset image-folder).

import Foundation
import TensorEngine
import Datasets

extension TrainingContext {
    /// The image folder's training (ROOT/train) and test (ROOT/val) splits.
    public static func imageFolder(_ c: RunConfig, normalization: Normalization,
                            badFiles: BadFileLog?) throws -> (ImageFolderSource, ImageFolderSource) {
        var (train, val) = try ImageFolderIndex.load(root: c.data.root)
        guard train.classes.count == c.model.numClasses else {
            throw TrainerError("\(c.data.root)/train has \(train.classes.count) class folders "
                + "(\(train.classes.prefix(5).joined(separator: ", "))\(train.classes.count > 5 ? ", ..." : "")), "
                + "but model.num_classes is \(c.model.numClasses)")
        }
        if c.data.trainLimit > 0 { train = train.prefix(c.data.trainLimit) }
        if c.data.testLimit > 0 { val = val.prefix(c.data.testLimit) }
        for split in [train, val] {
            if split.ignoredCount > 0 {
                Log.warning("\(split.directory): ignored \(split.ignoredCount) files without a .png/.jpg/.jpeg extension "
                    + "(e.g. \(split.ignoredExamples.joined(separator: ", ")))")
            }
            if !split.emptyClasses.isEmpty {
                Log.warning("\(split.directory): no images for class \(split.emptyClasses.joined(separator: ", "))")
            }
        }
        var s = ImageFolderSettings(imageSize: c.model.imageSize, channels: c.model.inChannels, normalization: normalization)
        s.crop = c.data.folder.crop == .padCrop ? .padCrop : .randomResizedCrop
        s.cropPadding = c.data.cropPadding
        s.minScale = c.data.folder.cropMinScale
        s.horizontalFlip = c.data.hflip
        s.seed = UInt64(c.seed)
        s.skipBad = c.data.folder.skipBad
        return (try ImageFolderSource(index: train, settings: s, badFiles: badFiles),
                try ImageFolderSource(index: val, settings: s, badFiles: badFiles))
    }

    public var trainCount: Int { folderTrain?.count ?? annotatedTrain?.count ?? train.count }
    public var testCount: Int { folderTest?.count ?? annotatedTest?.count ?? test.count }
    /// Class names (image-folder), in label order.
    public var classNames: [String]? { folderTrain?.index.classes }

    /// This rank's training batches for a phase.
    func makeTrainLoader() throws -> TrainBatchSource {
        let c = config
        if let src = folderTrain {
            return try Self.imageFolderTrainLoader(c, source: src, rank: comm.rank, worldSize: comm.size)
        }
        if let src = annotatedTrain {
            return try StreamingLoader(source: src, seed: UInt64(c.seed), globalBatchSize: c.train.batchSize, rank: comm.rank,
                                       worldSize: comm.size, augment: c.data.hflip, workers: c.data.folder.workers,
                                       prefetch: c.data.folder.prefetchBatches)
        }
        return try BatchLoader(dataset: train, globalBatchSize: c.train.batchSize, rank: comm.rank,
                               worldSize: comm.size, seed: UInt64(c.seed), augmentation: augmentation,
                               augment: !augmentation.isIdentity, normalization: normalization)
    }

    /// The training loader of an image folder's split as a run makes it (also what
    /// `gdqr bench loader` measures): data.workers threads, data.prefetch_batches ahead.
    public static func imageFolderTrainLoader(_ c: RunConfig, source: ImageFolderSource, rank: Int = 0,
                                              worldSize: Int = 1) throws -> StreamingLoader {
        let augment = c.data.hflip || c.data.cropPadding > 0 || c.data.folder.crop == .randomResizedCrop
        return try StreamingLoader(source: source, globalBatchSize: c.train.batchSize, rank: rank,
                                   worldSize: worldSize, augment: augment, workers: c.data.folder.workers,
                                   prefetch: c.data.folder.prefetchBatches)
    }

    /// This rank's evaluation batches of the test split for a phase.
    func makeEvalBatches() throws -> EvalBatchSource {
        if let src = (folderTest as StreamedSource?) ?? (annotatedTest as StreamedSource?) {
            return try StreamingEvalBatches(source: src, batchSize: localBatch, rank: comm.rank, worldSize: comm.size,
                                            workers: config.data.folder.workers,
                                            prefetch: config.data.folder.prefetchBatches)
        }
        return try EvalBatches(dataset: test, batchSize: localBatch, rank: comm.rank, worldSize: comm.size,
                               normalization: normalization)
    }

    /// Files skipped under data.skip_bad, summed over ranks (a file met on two ranks counts twice).
    func badFileCount() throws -> Int? {
        guard let badFiles else { return nil }
        var t = [Double(badFiles.count)]
        if comm.size > 1 { t = try comm.allReduceSum(t) }
        return Int(t[0])
    }
}

extension DataConfig.Dataset {
    /// The datasets decoded from image files while training (per-channel statistics apply).
    var decodesFiles: Bool { self == .imageFolder || self == .coco || self == .voc }
}

extension TrainingContext {
    /// The COCO (detection) or VOC (segmentation) training and evaluation splits.
    public static func annotated(_ c: RunConfig, normalization: Normalization,
                                 badFiles: BadFileLog?) throws -> (AnnotatedSource, AnnotatedSource) {
        let d = c.data
        var train: AnnotatedIndex, val: AnnotatedIndex
        if d.dataset == .coco {
            (train, val) = try AnnotatedIndex.cocoPair(trainAnnotations: d.coco.trainAnnotations, trainImages: d.coco.trainImages,
                                                       valAnnotations: d.coco.valAnnotations, valImages: d.coco.valImages)
            guard train.classes.count == c.model.numClasses else {
                throw TrainerError("\(d.coco.trainAnnotations) has \(train.classes.count) categories, but model.num_classes is \(c.model.numClasses)")
            }
            if train.crowdSkipped + val.crowdSkipped > 0 {
                Log.warning("COCO: \(train.crowdSkipped + val.crowdSkipped) crowd annotations (iscrowd 1) left out")
            }
        } else {
            train = try AnnotatedIndex.voc(root: d.root, split: "train", classes: c.model.numClasses)
            val = try AnnotatedIndex.voc(root: d.root, split: "val", classes: c.model.numClasses)
        }
        if d.trainLimit > 0 { train = train.prefix(d.trainLimit) }
        if d.testLimit > 0 { val = val.prefix(d.testLimit) }
        var s = AnnotatedSettings(imageSize: c.model.imageSize, channels: c.model.inChannels, normalization: normalization,
                                  classes: c.model.numClasses)
        s.horizontalFlip = d.hflip
        s.seed = UInt64(c.seed)
        s.skipBad = d.folder.skipBad
        s.letterbox = d.folder.letterbox
        return (try AnnotatedSource(index: train, settings: s, badFiles: badFiles),
                try AnnotatedSource(index: val, settings: s, badFiles: badFiles))
    }

    /// The scene model's targets: the composed scenes or the annotated files.
    func sceneTargets() -> (train: SceneTargets, test: SceneTargets) {
        if let annotatedTrain, let annotatedTest {
            return (AnnotatedTargets(annotatedTrain, augment: config.data.hflip), AnnotatedTargets(annotatedTest, augment: false))
        }
        return (ComposedTargets(trainScenes!), ComposedTargets(testScenes!))
    }
}
