// One training run: config -> data -> model -> epochs of steps -> evaluation ->
// run folder. The loop is DESIGN.md's "one training step"; every rank runs it on
// its slice of each global batch, and rank 0 alone writes files and progress.

import Foundation
import TensorEngine
import Layers
import Datasets
import Distributed
import Checkpoint

public struct TrainOptions {
    public var outDir: String?
    public var initFrom: String?
    public var quiet = false
    public init(outDir: String? = nil, initFrom: String? = nil) {
        self.outDir = outDir
        self.initFrom = initFrom
    }
}

public final class TrainingSession {
    public let config: RunConfig
    public let comm: Communicator
    public let threads: Int
    public let pool: ThreadPool?
    public let net: Network
    public let rt: Runtime
    public let train: ImageDataset
    public let test: ImageDataset
    public let folder: RunFolder?
    let progress: ProgressDisplay
    let options: TrainOptions
    private let loader: BatchLoader
    private let evalBatches: EvalBatches

    public init(config: RunConfig, comm: Communicator, options: TrainOptions) throws {
        self.config = config
        self.comm = comm
        self.options = options
        try comm.checkSame(config.hashHex, what: "resolved config hash")
        let cores = ProcessInfo.processInfo.activeProcessorCount
        threads = config.train.threads > 0 ? config.train.threads : max(1, cores / max(comm.localSize, 1))
        pool = threads > 1 ? ThreadPool(threads: threads) : nil
        progress = ProgressDisplay(enabled: comm.rank == 0 && !options.quiet)

        let world = comm.size
        guard config.train.batchSize % world == 0 else {
            throw TrainerError("train.batch_size \(config.train.batchSize) is not divisible by the world size \(world)")
        }
        let localBatch = config.train.batchSize / world
        (train, test) = try TrainingSession.loadData(config)
        let m = config.model
        guard train.channels == m.inChannels, train.height == m.imageSize, train.width == m.imageSize else {
            throw TrainerError("data \(train.source) has images \(train.channels)x\(train.height)x\(train.width), "
                + "but model.in_channels/image_size say \(m.inChannels)x\(m.imageSize)x\(m.imageSize)")
        }
        let spec = ModelSpec(arch: m.arch == .cnn ? .cnn : .resnet, depth: m.depth, width: m.width,
                             numClasses: m.numClasses, input: FeatureShape(m.inChannels, m.imageSize, m.imageSize))
        net = Network(spec, maxBatch: localBatch, threads: threads, seed: UInt64(config.seed))
        rt = Runtime(arena: net.arena, pool: pool)
        let norm = Normalization(mean: Float(config.data.normalizeMean), std: Float(config.data.normalizeStd))
        let aug = Augmentation(cropPadding: config.data.cropPadding, horizontalFlip: config.data.hflip)
        loader = try BatchLoader(dataset: train, globalBatchSize: config.train.batchSize, rank: comm.rank,
                                 worldSize: world, seed: UInt64(config.seed), augmentation: aug,
                                 augment: !aug.isIdentity, normalization: norm)
        evalBatches = try EvalBatches(dataset: test, batchSize: localBatch, rank: comm.rank, worldSize: world,
                                      normalization: norm)
        if comm.rank == 0 {
            folder = try RunFolder(path: options.outDir ?? "runs/\(config.name)")
            try folder!.write("config.yaml", config.resolvedYAML)
        } else {
            folder = nil
        }
        if let path = options.initFrom { try ArenaSafetensors.load(net.arena, from: path) }
        try broadcastState()
    }

    static func loadData(_ c: RunConfig) throws -> (ImageDataset, ImageDataset) {
        let classes = c.model.numClasses
        let tr = try ImageDataset.mnistLayout(directory: c.data.root, split: .train,
                                              limit: c.data.trainLimit, classes: classes)
        let te = try ImageDataset.mnistLayout(directory: c.data.root, split: .test,
                                              limit: c.data.testLimit, classes: classes)
        return (tr, te)
    }

    /// Rank 0's parameters and statistics become everyone's.
    func broadcastState() throws {
        guard comm.size > 1 else { return }
        let a = net.arena
        try comm.broadcast(UnsafeMutableBufferPointer(start: a.values, count: a.parameterCount), root: 0)
        try comm.broadcast(UnsafeMutableBufferPointer(start: a.statistics, count: a.statisticCount), root: 0)
    }

    public var stepsPerEpoch: Int { loader.stepsPerEpoch }

    /// Trains for `config.train.epochs`, evaluating as configured; returns the summary.
    public func run() throws -> [String: Any] {
        let c = config
        let sgd = SGD(arena: net.arena, settings: SGDSettings(
            momentum: Float(c.optim.momentum), nesterov: c.optim.nesterov, weightDecay: Float(c.optim.weightDecay),
            decayNormAndBias: c.optim.decayBNAndBias, gradClipNorm: Float(c.optim.gradClipNorm)))
        let steps = loader.stepsPerEpoch
        let schedule = LRSchedule(kind: LRSchedule.Kind(rawValue: c.schedule.kind.rawValue)!, baseLR: c.optim.lr,
                                  warmupSteps: Int((c.schedule.warmupEpochs * Double(steps)).rounded()),
                                  totalSteps: steps * c.train.epochs, stepsPerEpoch: steps,
                                  stepEpochs: c.schedule.stepEpochs, gamma: c.schedule.stepGamma,
                                  minFraction: c.schedule.minLRFraction)
        banner()
        let start = now()
        var trainSeconds = 0.0, trainImages = 0
        var best = 0.0, lastAccuracy = 0.0
        var window = StepWindow()
        for epoch in 0..<c.train.epochs {
            loader.startEpoch(epoch)
            rt.training = true
            let epochStart = now()
            while let batch = loader.next() {
                let step = epoch * steps + batch.step
                let lr = schedule.lr(at: step)
                let t0 = now()
                let r = try trainStep(batch, sgd: sgd, lr: Float(lr))
                let dt = now() - t0
                trainSeconds += dt
                trainImages += c.train.batchSize
                window.add(loss: Double(r.loss) * Double(r.counted), correct: r.correct, count: r.counted, seconds: dt)
                if (step + 1) % c.train.logEverySteps == 0 || batch.step == steps - 1 {
                    try logTrain(&window, step: step + 1, epoch: epoch, lr: lr, epochStart: epochStart,
                                 stepInEpoch: batch.step + 1, steps: steps, runStart: start)
                }
            }
            if (epoch + 1) % c.train.evalEveryEpochs == 0 || epoch == c.train.epochs - 1 {
                let (loss, acc) = try evaluate()
                lastAccuracy = acc
                best = max(best, acc)
                try folder?.appendMetrics(["split": "test", "step": (epoch + 1) * steps, "epoch": epoch + 1,
                                           "loss": loss, "accuracy": acc])
                progress.line(String(format: "epoch %d/%d  test loss %.4f  accuracy %.2f%%  (best %.2f%%)  %.1fs",
                                     epoch + 1, c.train.epochs, loss, acc * 100, best * 100, now() - epochStart))
            }
        }
        let summary: [String: Any] = [
            "test_accuracy": lastAccuracy, "best_test_accuracy": best, "epochs": c.train.epochs,
            "steps": steps * c.train.epochs, "wall_seconds": now() - start,
            "train_seconds": trainSeconds, "images_per_second": Double(trainImages) / max(trainSeconds, 1e-9),
            "world_size": comm.size, "threads_per_rank": threads, "seed": c.seed, "config_hash": c.hashHex,
            "model": net.spec.description, "parameters": net.arena.parameterCount,
        ]
        if let folder {
            try ArenaSafetensors.save(net.arena, to: folder.file("model-fp32.safetensors"),
                             metadata: ["config_hash": c.hashHex, "model": net.spec.description])
            try folder.write("summary.json", JSON.pretty(summary))
        }
        return summary
    }

    /// Forward, loss, backward, gradient average across ranks, SGD update.
    func trainStep(_ batch: Batch, sgd: SGD, lr: Float) throws -> CrossEntropyResult {
        let n = batch.count
        let logits = net.forward(batch.images.data, batch: n, rt: rt)
        let r = net.backward(logits: logits, labels: batch.labels.baseAddress!, batch: n, rt: rt)
        guard r.loss.isFinite else {
            throw TrainerError("non-finite training loss \(r.loss) at epoch \(batch.epoch) step \(batch.step)")
        }
        let a = net.arena
        if comm.size > 1 {
            try comm.allReduceMean(UnsafeMutableBufferPointer(start: a.grads, count: a.parameterCount))
            try comm.allReduceMean(UnsafeMutableBufferPointer(start: a.statistics, count: a.statisticCount))
        }
        sgd.step(lr: lr)
        return r
    }

    /// Loss and accuracy over the whole test split (each rank its shard, counts summed).
    public func evaluate() throws -> (loss: Double, accuracy: Double) {
        rt.training = false
        defer { rt.training = true }
        evalBatches.reset()
        var totals = [0.0, 0.0, 0.0]   // loss sum, correct, count
        while let b = evalBatches.next() {
            let logits = net.forward(b.images.data, batch: b.count, rt: rt)
            let r = softmaxCrossEntropy(logits: logits, labels: b.labels.baseAddress!, gradLogits: nil,
                                        batch: b.count, classes: net.spec.numClasses, pool: pool)
            totals[0] += Double(r.loss) * Double(r.counted)
            totals[1] += Double(r.correct)
            totals[2] += Double(r.counted)
        }
        if comm.size > 1 { totals = try comm.allReduceSum(totals) }
        return (totals[0] / max(totals[2], 1), totals[1] / max(totals[2], 1))
    }

    private func logTrain(_ w: inout StepWindow, step: Int, epoch: Int, lr: Double, epochStart: Double,
                          stepInEpoch: Int, steps: Int, runStart: Double) throws {
        var t = [w.lossSum, Double(w.correct), Double(w.count)]
        if comm.size > 1 { t = try comm.allReduceSum(t) }
        let loss = t[0] / max(t[2], 1), acc = t[1] / max(t[2], 1)
        let ips = Double(w.steps * config.train.batchSize) / max(w.seconds, 1e-9)
        try folder?.appendMetrics(["split": "train", "step": step, "epoch": Double(epoch) + Double(stepInEpoch) / Double(steps),
                                   "loss": loss, "accuracy": acc, "lr": lr, "images_per_second": ips])
        let totalSteps = steps * config.train.epochs
        let elapsed = now() - runStart
        let eta = elapsed / Double(step) * Double(totalSteps - step)
        let text = String(format: "epoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %@",
                          epoch + 1, config.train.epochs, stepInEpoch, steps, loss, acc * 100, ips,
                          ProgressDisplay.duration(eta))
        if progress.enabled { if isatty(STDOUT_FILENO) != 0 { progress.update(text) } else { progress.line(text) } }
        w = StepWindow()
    }

    private func banner() {
        guard comm.rank == 0, !options.quiet else { return }
        let s = net.spec
        progress.line("gdqr \(BuildInfo.version)  cpu target \(BuildInfo.targetCPU)  world \(comm.size) x \(threads) threads  config \(config.hashHex)")
        progress.line("model \(s.description): \(net.arena.parameterCount) parameters, "
            + String(format: "%.1f MFLOPs/image forward", Double(net.macsPerSample) * 2e-6))
        progress.line("data \(train.count) train / \(test.count) test from \(config.data.root); "
            + "batch \(config.train.batchSize) (\(config.train.batchSize / comm.size) per rank), \(stepsPerEpoch) steps/epoch")
        if let folder { progress.line("run folder \(folder.path)") }
    }
}

/// Training statistics since the last log line.
struct StepWindow {
    var lossSum = 0.0, correct = 0, count = 0, steps = 0, seconds = 0.0
    mutating func add(loss: Double, correct c: Int, count n: Int, seconds s: Double) {
        lossSum += loss; correct += c; count += n; steps += 1; seconds += s
    }
}
