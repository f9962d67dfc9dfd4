// One phase of a run (FP32 training, or quantization-aware fine-tuning): a model,
// its optimizer and schedule, epochs of DESIGN.md's "one training step"
// (TrainingStep.swift), and evaluation on the test split. Every rank runs it on
// its slice of each global batch; rank 0 alone writes metrics and progress.

import Foundation
import TensorEngine
import Layers
import Datasets
import Distributed
import GDQR

public struct PhaseResult {
    public var name: String
    /// The primary test metric (accuracy, mAP or mIoU) of the last evaluation, and its best.
    public var testAccuracy = 0.0
    public var bestTestAccuracy = 0.0
    public var testLoss: Double?
    /// Every named metric of the last evaluation.
    public var testMetrics: [String: Any] = [:]
    public var trainSeconds = 0.0
    public var trainImages = 0
    public var epochs = 0
    public var steps = 0
    public var skippedSteps = 0
    public var checkpointStalls: [Double] = []
    /// Seconds the training loop waited for batches (not part of trainSeconds).
    public var dataWaitSeconds = 0.0
    public var imagesPerSecond: Double { Double(trainImages) / max(trainSeconds, 1e-9) }
}

public final class TrainingPhase {
    public let name: String
    public let ctx: TrainingContext
    public let model: PhaseModel
    public let rt: Runtime
    public let epochs: Int
    public let baseLR: Double
    /// Called after backward, before the gradients are averaged (PSG gradient scaling).
    public var gradientHook: ((Runtime) -> Void)?
    /// The bucketed gradient all-reduce (nil on one rank), TrainingStep.swift.
    let sync: GradientSync?
    /// Exposed communication seconds since the last log line.
    var exposedWindow = 0.0
    let loader: TrainBatchSource
    private let evalBatches: EvalBatchSource
    /// A data error met by calibrate() (which cannot throw), thrown by the next evaluate().
    private var calibrationError: Error?
    /// Global step offset of this phase within the run (metrics keep counting across phases).
    public let stepOffset: Int
    /// The quantizers, for quantized phases (TensorBoard and quantization.json).
    public let quantPolicy: GDQRPolicy?
    /// Per activation quantizer (policy order): clip fraction over the last evaluate().
    public internal(set) var evaluationActivationClip: [Double] = []

    public init(name: String, ctx: TrainingContext, policy: QuantizationPolicy?, epochs: Int, lr: Double,
                stepOffset: Int = 0) throws {
        self.name = name
        self.ctx = ctx
        self.epochs = epochs
        self.baseLR = lr
        self.stepOffset = stepOffset
        quantPolicy = policy as? GDQRPolicy
        model = ctx.makeModel(policy: policy)
        rt = Runtime(arena: model.arena, pool: ctx.pool)
        sync = Self.wire(rt, model: model, ctx: ctx)
        loader = try ctx.makeTrainLoader()
        evalBatches = try ctx.makeEvalBatches()
    }

    public var stepsPerEpoch: Int { loader.stepsPerEpoch }

    /// Rank 0's parameters and statistics become everyone's.
    public func broadcastState() throws {
        let comm = ctx.comm
        guard comm.size > 1 else { return }
        let a = model.arena
        try comm.broadcast(UnsafeMutableBufferPointer(start: a.values, count: a.parameterCount), root: 0)
        try comm.broadcast(UnsafeMutableBufferPointer(start: a.momentum, count: a.parameterCount), root: 0)
        try comm.broadcast(UnsafeMutableBufferPointer(start: a.statistics, count: a.statisticCount), root: 0)
    }

    func makeSchedule() -> LRSchedule {
        let c = ctx.config, steps = loader.stepsPerEpoch
        return LRSchedule(kind: LRSchedule.Kind(rawValue: c.schedule.kind.rawValue)!, baseLR: baseLR,
                          warmupSteps: Int((c.schedule.warmupEpochs * Double(steps)).rounded()),
                          totalSteps: steps * epochs, stepsPerEpoch: steps,
                          stepEpochs: c.schedule.stepEpochs, gamma: c.schedule.stepGamma,
                          minFraction: c.schedule.minLRFraction)
    }

    /// Trains for `epochs`, evaluating as configured; with `resume`, restores the
    /// checkpoint's arenas (rank 0, then broadcast) and continues at its position.
    /// `checkpoints` (rank 0 only) receives snapshots as configured.
    func run(resume: ResumePoint? = nil, checkpoints: RunCheckpoints? = nil,
             extra: [String: String] = [:]) throws -> PhaseResult {
        let c = ctx.config
        let sgd = SGD(arena: model.arena, settings: SGDSettings(
            momentum: Float(c.optim.momentum), nesterov: c.optim.nesterov, weightDecay: Float(c.optim.weightDecay),
            decayNormAndBias: c.optim.decayBNAndBias, gradClipNorm: Float(c.optim.gradClipNorm)))
        let steps = loader.stepsPerEpoch
        let schedule = makeSchedule()
        var result = PhaseResult(name: name)
        result.epochs = epochs
        var firstEpoch = 0, firstStep = 0
        if let resume {
            if let contents = resume.contents { try contents.restore(into: model.arena, file: resume.path) }
            try broadcastState()
            firstEpoch = resume.epoch
            firstStep = resume.stepInEpoch
            result.bestTestAccuracy = resume.bestTestAccuracy
            // Records up to the checkpoint's step stay (the resumed run logs from the next
            // step on): TensorBoard drops the earlier files' events from this step on.
            try ctx.folder?.tensorBoard().sessionStart(step: stepOffset + firstEpoch * steps + firstStep + 1)
        }
        ctx.banner(model, phase: name)
        let start = now()
        var window = StepWindow()
        var lastSaved = -1
        func checkpoint(epoch: Int, stepInEpoch: Int, metric: Double?, _ result: inout PhaseResult) throws {
            let global = stepOffset + epoch * steps + stepInEpoch
            guard let checkpoints, global != lastSaved else { return }
            result.checkpointStalls.append(try checkpoints.save(
                model.arena, phase: name, globalStep: global, epoch: epoch, stepInEpoch: stepInEpoch,
                best: result.bestTestAccuracy, metric: metric, extra: extra))
            lastSaved = global
        }
        for epoch in firstEpoch..<epochs {
            loader.startEpoch(epoch, fromStep: epoch == firstEpoch ? firstStep : 0)
            let epochStart = now()
            try trainEpoch(epoch, sgd: sgd, schedule: schedule, runStart: start, window: &window, result: &result,
                           checkpoints: checkpoints) { e, s, r in
                try checkpoint(epoch: e, stepInEpoch: s, metric: nil, &r)
            }
            var metric: Double?
            if (epoch + 1) % c.train.evalEveryEpochs == 0 || epoch == epochs - 1 {
                let e = try evaluate()
                metric = e.primary
                result.record(e)
                var record: [String: Any] = ["phase": name, "split": "test", "step": stepOffset + (epoch + 1) * steps,
                                             "epoch": epoch + 1]
                record.merge(e.metrics) { a, _ in a }
                if let loss = e.loss { record["loss"] = loss }
                try ctx.folder?.appendMetrics(record)
                try writeQuantizationSnapshot(phase: name, step: stepOffset + (epoch + 1) * steps, epoch: epoch + 1)
                let p = model.primaryMetric
                ctx.progress.line(String(format: "%@ epoch %d/%d  test loss %@  %@ %.2f%%  (best %.2f%%)  %.1fs",
                                         name, epoch + 1, epochs, e.loss.map { String(format: "%.4f", $0) } ?? "-", p,
                                         e.primary * 100, result.bestTestAccuracy * 100, now() - epochStart))
            }
            let everyEpochs = c.checkpoint.everyEpochs
            if (everyEpochs > 0 && (epoch + 1) % everyEpochs == 0) || epoch == epochs - 1 {
                try checkpoint(epoch: epoch + 1, stepInEpoch: 0, metric: metric, &result)
            }
        }
        try checkpoints?.finish()
        return result
    }

    /// The model's metrics over the whole test split (each rank its shard, sums all-reduced).
    public func evaluate() throws -> TestResult {
        rt.training = false
        defer { rt.training = true }
        evalBatches.reset()
        let actQuantizers = quantPolicy?.activationQuantizers ?? []
        for q in actQuantizers { q.resetEvaluationCounts() }
        let evaluator = model.makeEvaluator()
        if let e = calibrationError { calibrationError = nil; throw e }
        while let b = try evalBatches.next() { evaluator.add(b, rt: rt) }
        var totals = evaluator.totals
        let n = totals.count
        // Activation clip counts ride along with the totals (one all-reduce).
        for q in actQuantizers { totals += [Double(q.evaluationClipped), Double(q.evaluationCount)] }
        if ctx.comm.size > 1 { totals = try ctx.comm.allReduceSum(totals) }
        evaluationActivationClip = actQuantizers.indices.map { totals[n + 2 * $0] / max(totals[n + 1 + 2 * $0], 1) }
        return evaluator.finish(Array(totals[0..<n]))
    }

    /// On rank 0, pictures/test-scenes-PHASE.svg: a few test samples with predictions beside the truth
    /// (scene models; the classifier has none).
    public func writePicture(count: Int = 4) throws {
        guard let folder = ctx.folder, let svg = try model.picture(rt: rt, count: count) else { return }
        let dir = folder.file("pictures")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try folder.write("pictures/test-scenes-\(name).svg", svg)
    }

    /// Runs eval-mode forward passes over the first `batches` training batches of
    /// epoch 0 without updating anything (post-training calibration: batch norm
    /// keeps its running statistics; calibrating quantizers record what they see).
    public func calibrate(batches: Int) {
        loader.startEpoch(0)
        rt.training = false
        defer { rt.training = true }
        var done = 0
        do {
            while done < batches, let b = try loader.next() {
                model.forward(b, rt: rt)
                done += 1
            }
        } catch {
            calibrationError = error
        }
    }

    func logTrain(_ w: inout StepWindow, step: Int, epoch: Int, lr: Double, stepInEpoch: Int, steps: Int,
                          runStart: Double) throws {
        let comm = ctx.comm
        var t = [w.lossSum, Double(w.correct), Double(w.count)]
        if comm.size > 1 { t = try comm.allReduceSum(t) }
        let loss = t[0] / max(t[2], 1), acc = t[1] / max(t[2], 1)
        let ips = Double(w.steps * ctx.config.train.batchSize) / max(w.seconds, 1e-9)
        var record: [String: Any] = ["phase": name, "split": "train", "step": stepOffset + step,
                                     "epoch": Double(epoch) + Double(stepInEpoch) / Double(steps),
                                     "loss": loss, "lr": lr, "images_per_second": ips,
                                     "comm_exposed_fraction": exposedWindow / max(w.seconds, 1e-9),
                                     "data_wait_fraction": w.dataWait / max(w.seconds + w.dataWait, 1e-9),
                                     "data_wait_ms_per_step": w.dataWait * 1000 / Double(max(w.steps, 1))]
        if model.reportsAccuracy { record["accuracy"] = acc }
        if comm.size > 1 {
            // Per rank, ms per step blocked in all-reduces and computing: the ranks wait
            // for the slowest, so a straggler shows as the rank that waits least.
            let n = Double(max(w.steps, 1))
            let waits = try comm.allGather(exposedWindow / n * 1000)
            let computes = try comm.allGather((w.seconds - exposedWindow) / n * 1000)
            record["comm_wait_ms_per_step_by_rank"] = waits
            record["compute_ms_per_step_by_rank"] = computes
        }
        try ctx.folder?.appendMetrics(record)
        exposedWindow = 0
        let totalSteps = steps * epochs
        let elapsed = now() - runStart
        let eta = elapsed / Double(step) * Double(totalSteps - step)
        let accText = model.reportsAccuracy ? String(format: "  acc %.2f%%", acc * 100) : ""
        let text = String(format: "%@ epoch %d/%d  step %d/%d  loss %.4f%@  %.0f img/s  ETA %@",
                          name, epoch + 1, epochs, stepInEpoch, steps, loss, accText, ips,
                          ProgressDisplay.duration(eta))
        ctx.progress.status(text)
        w = StepWindow()
    }
}

extension PhaseResult {
    /// Takes an evaluation's results (the primary metric as the accuracy slot).
    mutating func record(_ e: TestResult) {
        testAccuracy = e.primary
        testLoss = e.loss
        testMetrics = e.metrics
        bestTestAccuracy = max(bestTestAccuracy, e.primary)
    }
}

/// Training statistics since the last log line.
struct StepWindow {
    var lossSum = 0.0, correct = 0, count = 0, steps = 0, seconds = 0.0, dataWait = 0.0
    mutating func add(loss: Double, correct c: Int, count n: Int, seconds s: Double, dataWait d: Double) {
        lossSum += loss; correct += c; count += n; steps += 1; seconds += s; dataWait += d
    }
}
