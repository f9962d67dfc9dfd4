// What a training phase needs from a model, whatever it predicts: its arena,
// one training step (forward, loss, backward into the gradient arena), a forward
// pass for calibration, and an evaluator for the test split. The classifier
// (Network on image labels) and the scene models (SceneNetwork on boxes or
// masks, SceneModels.swift) implement it, so checkpoints, resume, gradient
// averaging, SyncBN, schedules and the GDQR phases are the same code for all.

import Foundation
import TensorEngine
import Layers
import Datasets

/// The loss of one training step on this rank, and accuracy counts where the task has them.
public struct StepLoss {
    /// Mean loss over the `counted` examples (images or pixels).
    public var loss: Float
    public var correct: Int
    public var counted: Int
}

/// One evaluation of the test split (all ranks' shards).
public struct TestResult {
    /// Mean test loss; nil when the task does not compute one.
    public var loss: Double?
    /// The metric that "best" and checkpoint.keep_best follow (accuracy, mAP, mIoU), higher is better.
    public var primary: Double
    /// Named results for metrics.jsonl and summary.json ("test_" + name): numbers, and matrices.
    public var metrics: [String: Any]
}

public protocol PhaseModel: AnyObject {
    var arena: ParameterArena { get }
    /// For banners and the summary ("resnet20 (width 16)").
    var description: String { get }
    var macsPerSample: Int { get }
    /// The name of `TestResult.primary` ("accuracy", "map", "miou").
    var primaryMetric: String { get }
    /// True when train steps have an accuracy (StepLoss.correct) worth logging.
    var reportsAccuracy: Bool { get }
    /// True when backward reports finished gradients through Runtime.gradientsReady
    /// already multiplied by `gradientScale` (the all-reduce then overlaps backward);
    /// otherwise the model scales the arena after backward and the buckets are
    /// reduced when backward is over.
    var overlapsGradientSync: Bool { get }
    /// Forward, loss and backward of a training batch: every parameter gradient in
    /// the arena, multiplied by `gradientScale` (1/ranks: the all-reduced sums are
    /// means), or by the model's own share of a loss normalised over all ranks.
    func trainStep(_ batch: Batch, rt: Runtime, gradientScale: Float) throws -> StepLoss
    /// Forward only (post-training calibration).
    func forward(_ batch: Batch, rt: Runtime)
    /// A fresh evaluator of the test split.
    func makeEvaluator() -> PhaseEvaluator
    /// An SVG of the first `count` test samples with the predictions beside the
    /// truth (nil when the task has none). Eval-mode forward on the caller's rank alone.
    func picture(rt: Runtime, count: Int) throws -> String?
}

/// Accumulates one evaluation over this rank's test batches into sums that are
/// all-reduced across ranks (the same length on every rank), then reads the result.
public protocol PhaseEvaluator: AnyObject {
    func add(_ batch: Batch, rt: Runtime)
    var totals: [Double] { get }
    func finish(_ totals: [Double]) -> TestResult
}

/// The image classifier: Network with softmax cross-entropy on the labels.
final class ClassifierModel: PhaseModel {
    let net: Network
    init(_ net: Network) { self.net = net }

    var arena: ParameterArena { net.arena }
    var description: String { net.spec.description }
    var macsPerSample: Int { net.macsPerSample }
    var primaryMetric: String { "accuracy" }
    var reportsAccuracy: Bool { true }
    var overlapsGradientSync: Bool { true }

    func trainStep(_ batch: Batch, rt: Runtime, gradientScale: Float) -> StepLoss {
        let logits = net.forward(batch.images.data, batch: batch.count, rt: rt)
        let r = net.backward(logits: logits, labels: batch.labels.baseAddress!, batch: batch.count, rt: rt,
                             gradientScale: gradientScale)
        return StepLoss(loss: r.loss, correct: r.correct, counted: r.counted)
    }

    func forward(_ batch: Batch, rt: Runtime) { _ = net.forward(batch.images.data, batch: batch.count, rt: rt) }

    func makeEvaluator() -> PhaseEvaluator { ClassifierEvaluator(net) }

    func picture(rt: Runtime, count: Int) throws -> String? { nil }
}

/// Loss sum, correct and counted examples.
final class ClassifierEvaluator: PhaseEvaluator {
    let net: Network
    private(set) var totals = [0.0, 0.0, 0.0]
    init(_ net: Network) { self.net = net }

    func add(_ b: Batch, rt: Runtime) {
        let logits = net.forward(b.images.data, batch: b.count, rt: rt)
        let r = softmaxCrossEntropy(logits: logits, labels: b.labels.baseAddress!, gradLogits: nil,
                                    batch: b.count, classes: net.spec.numClasses, pool: rt.pool)
        totals[0] += Double(r.loss) * Double(r.counted)
        totals[1] += Double(r.correct)
        totals[2] += Double(r.counted)
    }

    func finish(_ t: [Double]) -> TestResult {
        let accuracy = t[1] / max(t[2], 1)
        return TestResult(loss: t[0] / max(t[2], 1), primary: accuracy, metrics: ["accuracy": accuracy])
    }
}
