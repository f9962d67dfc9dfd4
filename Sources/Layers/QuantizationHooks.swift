// Where quantization plugs into a model while it is built. The models ask a
// policy, for every conv/linear, for a weight transform (fake quantization of
// the weights), and for every activation that feeds a quantized layer, for an
// activation quantizer (a layer of the same shape). The GDQR module provides the
// policy; FP32 models are built without one.

public enum LayerPosition: Sendable {
    case first    // the stem conv, fed by the (normalised) image
    case middle
    case last     // the classifier
}

public protocol QuantizationPolicy: AnyObject {
    /// The transform for the weights of layer `name` (registered parameters go in `builder`).
    func weightTransform(layer name: String, weight: ParamRef, builder: ArenaBuilder,
                         position: LayerPosition) -> WeightTransform?

    /// A quantizer for the activation `name` of per-sample `shape`, which feeds a
    /// layer at `position`; nil leaves it in float.
    func activationQuantizer(name: String, shape: FeatureShape, maxBatch: Int, builder: ArenaBuilder,
                             feeds position: LayerPosition) -> Layer?
}
