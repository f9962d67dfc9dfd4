// Cross-field checks of the model section: the depth each architecture has, the
// input size its pooling needs, the layouts the scene backbones support.

import Layers

extension Resolution {
    func crossCheckModel(int: (String) -> Int, string: (String) -> String,
                         fail: (String, String) -> ConfigError) throws {
        let depth = int("model.depth"), size = int("model.image_size")
        switch string("model.arch") {
        case ModelConfig.Arch.resnet.rawValue:
            let bottleneck = string("model.block") == ModelConfig.Block.bottleneck.rawValue
            if ResNetLayout.stages(depth: depth, block: bottleneck ? .bottleneck : .basic) == nil {
                throw fail("model.depth", bottleneck
                    ? "is not 50, 101 or 152 as model.block bottleneck requires"
                    : "is not 6n+2 as model.arch resnet requires (8, 14, 20, 32, 44, 56, 110, ...), nor 18 or 34")
            }
            if string("model.kind") != ModelConfig.Kind.classifier.rawValue
                && (bottleneck || string("model.stem") != ModelConfig.Stem.cifar.rawValue || !ResNetLayout.isCIFARDepth(depth)) {
                throw fail("model.kind", "needs the CIFAR-style backbone: model.block basic, model.stem cifar, depth 6n+2")
            }
        case ModelConfig.Arch.vgg.rawValue:
            guard let plan = VGGLayout.features(depth: depth) else {
                throw fail("model.depth", "is not \(VGGLayout.depthRule) as model.arch vgg requires")
            }
            let pools = plan.filter { $0 == 0 }.count
            if size < 1 << pools {
                throw fail("model.image_size", "is below \(1 << pools): vgg\(depth) halves it \(pools) times")
            }
        default:
            break
        }
    }
}
