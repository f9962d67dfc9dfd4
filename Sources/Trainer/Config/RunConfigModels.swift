// What the config's model and data.scenes sections build: the classifier's
// ModelSpec and the scene composer's settings, for the training run
// (TrainingContext) and for a finished run loaded back (LoadedRun).

import Layers
import Datasets

extension RunConfig {
    /// The classifier the model section describes.
    public var modelSpec: ModelSpec {
        let m = model
        return ModelSpec(arch: ModelSpec.Arch(rawValue: m.arch.rawValue)!, depth: m.depth, width: m.width,
                         numClasses: m.numClasses, input: FeatureShape(m.inChannels, m.imageSize, m.imageSize),
                         block: ModelSpec.Block(rawValue: m.block.rawValue)!, stem: ModelSpec.Stem(rawValue: m.stem.rawValue)!,
                         widthMultiplier: m.widthMultiplier, classifier: m.classifier)
    }

    /// The composer settings of data.scenes.
    public var sceneSettings: SceneSettings {
        let sc = data.scenes
        var s = SceneSettings()
        s.size = sc.size; s.minItems = sc.minItems; s.maxItems = sc.maxItems
        s.minScale = sc.minScale; s.maxScale = sc.maxScale; s.seed = UInt64(sc.seed)
        s.trainScenes = sc.trainScenes; s.testScenes = sc.testScenes
        return s
    }
}
