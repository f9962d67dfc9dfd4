// What `gdqr eval` is asked to do, as plain values: the executable fills it from its
// options, and ClassifierEval / SceneEval / OODEval carry it out and return a report.

import IntegerInference

public struct EvalRequest {
    /// The .gdqr model file (for out-of-distribution sets also a run folder or a .safetensors file).
    public var model: String
    /// An MNIST-layout data folder; nil: the data of `compare`'s run, else what the model names (EvalData).
    public var data: String?
    /// A run folder whose fake-quant model is compared with the integer one.
    public var compare: String?
    /// Only the first N test images or scenes (0 = all).
    public var limit = 0
    public var threads = 2
    public var batch = 128
    public var arithmetic: IntegerEngine.Arithmetic = .int32

    // Scene models.
    /// Test scenes written as files (instances.json, PGM images and masks); nil: composed ones.
    public var scenes: String?
    /// Seed of the composed test scenes (with `compare`: the run's).
    public var sceneSeed: UInt64 = 0
    /// Detection models: write the integer engine's detections here (COCO results JSON).
    public var cocoResults: String?
    /// Write the integer engine's output maps here (raw little-endian float32 [scenes][C][H][W]).
    public var saveOutputs: String?

    // Out-of-distribution detection.
    /// The sets (OODEval.images says what each may be); empty: no OOD evaluation.
    public var ood: [String] = []
    /// Temperature of the energy score.
    public var temperature = 1.0
    /// Fit the Mahalanobis means and covariance on the first N training images (0 = all).
    public var fitLimit = 0
    /// Add every image's scores to the report.
    public var perImage = false

    public init(model: String) { self.model = model }

    var batchSize: Int { max(1, batch) }
    var threadCount: Int { max(1, threads) }
}
