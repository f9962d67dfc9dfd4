// ResNet layouts. A CIFAR-style ResNet (He et al. 2016, section 4.2) has three
// stages of n basic blocks (depth 6n+2, channels w, 2w, 4w); ResNet-18/34 (basic)
// and ResNet-50/101/152 (bottleneck, expansion 4) have torchvision's four stages
// (channels w, 2w, 4w, 8w, times 4 for bottlenecks; w = 64 is the standard width).
// The stem is a 3x3 stride-1 conv (cifar) or torchvision's 7x7 stride-2 conv +
// 3x3 stride-2 max pool (imagenet). Names follow torchvision (conv1, bn1,
// layerS.I..., fc) so weights move to and from PyTorch unchanged.

public enum ResNetLayout {
    /// Blocks per stage for a depth and block kind; nil when the depth has no standard layout.
    public static func stages(depth: Int, block: ModelSpec.Block) -> [Int]? {
        switch (block, depth) {
        case (.basic, 18): return [2, 2, 2, 2]
        case (.basic, 34): return [3, 4, 6, 3]
        case (.basic, _) where isCIFARDepth(depth): return Array(repeating: (depth - 2) / 6, count: 3)
        case (.bottleneck, 50): return [3, 4, 6, 3]
        case (.bottleneck, 101): return [3, 4, 23, 3]
        case (.bottleneck, 152): return [3, 8, 36, 3]
        default: return nil
        }
    }

    public static func isCIFARDepth(_ depth: Int) -> Bool { depth >= 8 && (depth - 2) % 6 == 0 }

    /// What a config may say: the depths each block kind has.
    public static let depthRule = "basic blocks: 18, 34, or 6n+2 (8, 14, 20, ...); bottleneck blocks: 50, 101, 152"
}

extension Builder {
    func resnet(_ s: ModelSpec) -> Sequential {
        guard let stages = ResNetLayout.stages(depth: s.depth, block: s.block) else {
            preconditionFailure("resnet depth \(s.depth) with \(s.block.rawValue) blocks: \(ResNetLayout.depthRule)")
        }
        let layers = LayerList(b)
        let imagenet = s.stem == .imagenet
        let stem = conv("conv1", s.input, s.width, kernel: imagenet ? 7 : 3, stride: imagenet ? 2 : 1,
                        padding: imagenet ? 3 : 1, position: .first)
        layers.append(stem)
        layers.append(BatchNormLayer(b, name: "bn1", shape: stem.outputShape, fuseReLU: true, maxBatch: maxBatch))
        // Max pooling keeps values on the quantization grid, so quantize before it.
        if let q = actQuant("bn1.act", stem.outputShape) { layers.append(q) }
        var shape = stem.outputShape
        if imagenet {
            let pool = MaxPoolLayer(input: shape, kernel: 3, stride: 2, padding: 1, maxBatch: maxBatch)
            layers.append(pool)
            shape = pool.outputShape
        }
        for (stage, blocks) in stages.enumerated() {
            let planes = s.width << stage
            for i in 0..<blocks {
                let name = "layer\(stage + 1).\(i)"
                let stride = (stage > 0 && i == 0) ? 2 : 1
                let block: OutputQuantizable = s.block == .basic
                    ? BasicBlock(b, name: name, input: shape, outChannels: planes, stride: stride, maxBatch: maxBatch,
                                 threads: threads, policy: policy)
                    : BottleneckBlock(b, name: name, input: shape, planes: planes, stride: stride, maxBatch: maxBatch,
                                      threads: threads, policy: policy)
                block.outputQuantizer = actQuant("\(name).act_out", block.outputShape)
                layers.append(block)
                shape = block.outputShape
            }
        }
        head(shape, s, into: layers)
        return layers.sequential()
    }
}
