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

/// What an activation quantizer's input holds, so that its grid fits it.
public enum ActivationRange: Equatable, Sendable {
    /// After a ReLU: unsigned levels 0 ... 2^b - 1 up to the threshold.
    case relu
    /// After a ReLU6: as relu with the threshold capped at 6, so the quantizer's clip is ReLU6's
    /// whenever its own would lie above it (min(T_a, 6): clamp(min(a, 6), 0, T') = clamp(a, 0, T')).
    case relu6
    /// No activation before it (MobileNetV2's linear bottlenecks): symmetric levels
    /// -(2^(b-1) - 1) ... 2^(b-1) - 1 with the same threshold rule on |a|.
    case signed
}

public protocol QuantizationPolicy: AnyObject {
    /// The transform for the weights of layer `name` (registered parameters go in `builder`).
    func weightTransform(layer name: String, weight: ParamRef, builder: ArenaBuilder,
                         position: LayerPosition) -> WeightTransform?

    /// A quantizer for the activation `name` of per-sample `shape` holding `range`, which feeds
    /// a layer at `position`; nil leaves it in float.
    func activationQuantizer(name: String, shape: FeatureShape, maxBatch: Int, builder: ArenaBuilder,
                             feeds position: LayerPosition, range: ActivationRange) -> Layer?
}

extension QuantizationPolicy {
    /// The quantizer of an activation after a ReLU.
    public func activationQuantizer(name: String, shape: FeatureShape, maxBatch: Int, builder: ArenaBuilder,
                                    feeds position: LayerPosition) -> Layer? {
        activationQuantizer(name: name, shape: shape, maxBatch: maxBatch, builder: builder, feeds: position, range: .relu)
    }
}
