// The conv and linear layers inside a layer tree, in forward order, for the
// quantization policy's checks and reports (which need every weight layer's name,
// output channels and position without knowing each model's layout).

extension Network {
    /// Every Conv2dLayer and LinearLayer of the model, blocks opened, in forward order.
    public var weightLayers: [(name: String, outChannels: Int, position: LayerPosition)] {
        var out: [(String, Int, LayerPosition)] = []
        func visit(_ l: Layer) {
            switch l {
            case let s as Sequential: s.layers.forEach(visit)
            case let c as Conv2dLayer: out.append((c.name, c.outputShape.channels, c.position))
            case let f as LinearLayer: out.append((f.name, f.outputShape.channels, f.position))
            case let blk as BasicBlock: [blk.conv1, blk.conv2].forEach(visit); blk.downsample.map { visit($0.conv) }
            case let blk as BottleneckBlock: blk.stages.forEach { visit($0.conv) }; blk.downsample.map { visit($0.conv) }
            case let blk as InvertedResidual: visit(blk.body)
            default: break
            }
        }
        visit(body)
        return out
    }
}
