// VGG with batch norm (torchvision's vgg*_bn layout): 3x3 conv + BN + ReLU units
// and 2x2 max pools, then a classifier of Linear + ReLU hidden layers and the
// output Linear on the flattened features (no adaptive pool, no dropout: at 224x224
// the flattened 512x7x7 features are exactly torchvision's classifier input).
// Depth 7 is VGG-small (6 convs 128-128-M-256-256-M-512-512-M and one Linear, the
// "VGG-7" of the low-bit literature); 11, 13, 16, 19 are configurations A, B, D, E.
// Channels are scaled by the width multiplier. Names follow torchvision's
// nn.Sequential indices: features.I (conv I, BN I+1, ReLU I+2, pool 1 slot) and
// classifier.3J (Linear, ReLU, Dropout slots).

public enum VGGLayout {
    /// Output channels of each conv, 0 = max pool, for a depth; nil when the depth is not a VGG.
    public static func features(depth: Int) -> [Int]? {
        switch depth {
        case 7: return [128, 128, 0, 256, 256, 0, 512, 512, 0]
        case 11: return [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0]
        case 13: return [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0]
        case 16: return [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]
        case 19: return [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0]
        default: return nil
        }
    }

    public static let depthRule = "7 (VGG-small), 11, 13, 16 or 19"

    /// Channels scaled by the width multiplier, at least 1.
    public static func scaled(_ channels: Int, _ multiplier: Double) -> Int {
        max(1, Int((Double(channels) * multiplier).rounded()))
    }
}

extension Builder {
    func vgg(_ s: ModelSpec) -> Sequential {
        guard let plan = VGGLayout.features(depth: s.depth) else {
            preconditionFailure("vgg depth \(s.depth): \(VGGLayout.depthRule)")
        }
        let layers = LayerList(b)
        var shape = s.input
        var index = 0
        let lastConv = plan.lastIndex { $0 > 0 }!
        for (i, channels) in plan.enumerated() {
            if channels == 0 {
                let p = MaxPoolLayer(input: shape, kernel: 2, stride: 2, maxBatch: maxBatch)
                layers.append(p)
                shape = p.outputShape
                index += 1
                continue
            }
            // torchvision's VGG convs keep their bias (redundant before batch norm, but counted).
            let c = conv("features.\(index)", shape, VGGLayout.scaled(channels, s.widthMultiplier), bias: true,
                         position: index == 0 ? .first : .middle)
            layers.append(c)
            layers.append(BatchNormLayer(b, name: "features.\(index + 1)", shape: c.outputShape, fuseReLU: true,
                                         maxBatch: maxBatch))
            shape = c.outputShape
            // Quantized before the max pool, which keeps values on the grid.
            let feedsClassifier = i == lastConv && s.classifier.isEmpty
            if let q = actQuant("features.\(index + 2).act", shape, feeds: feedsClassifier ? .last : .middle) {
                layers.append(q)
            }
            index += 3
        }
        for (j, hidden) in s.classifier.enumerated() {
            let l = LinearLayer(b, name: "classifier.\(3 * j)", input: shape, outFeatures: hidden, maxBatch: maxBatch,
                                policy: policy, position: .middle)
            layers.append(l)
            layers.append(ActivationLayer(.relu, shape: l.outputShape, maxBatch: maxBatch))
            shape = l.outputShape
            let feeds: LayerPosition = j == s.classifier.count - 1 ? .last : .middle
            if let q = actQuant("classifier.\(3 * j + 1).act", shape, feeds: feeds) { layers.append(q) }
        }
        layers.append(LinearLayer(b, name: "classifier.\(3 * s.classifier.count)", input: shape,
                                  outFeatures: s.numClasses, maxBatch: maxBatch, policy: policy))
        return layers.sequential()
    }
}
