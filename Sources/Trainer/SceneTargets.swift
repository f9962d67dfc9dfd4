// Where a scene model's targets come from, by batch sample: the composed scenes
// (boxes and masks by global scene index, never flipped) or an annotated file set
// (COCO boxes recomputed from the index and the sample's flip draw, VOC masks
// decoded by the loader's workers beside the pixels, in Batch.targets). Both give
// the boxes and masks in the network's S x S frame, so the losses and the
// evaluation are the same code for either.

import Foundation
import Layers
import Datasets
import Evaluation

protocol SceneTargets: AnyObject {
    /// Samples of the split.
    var count: Int { get }
    /// Boxes of batch sample `i` (classes 1...K).
    func boxes(_ batch: Batch, _ i: Int) -> [LabeledBox]
    /// Writes the class mask of batch sample `i` (S x S) into `labels` as Int32,
    /// ignored pixels (mask 255, or a skipped bad file) as -1.
    func copyMask(_ batch: Batch, _ i: Int, pixels: Int, into labels: UnsafeMutablePointer<Int32>)
    /// The split's boxes as COCO truth (image id = sample index + 1), unflipped.
    func cocoTruth() -> CocoInstances
    /// The composed scenes themselves (pictures), nil for file sets.
    var composed: SceneSet? { get }
    /// The split as test scenes for the integer engine (the run's parity report).
    func testScenes(source: String) throws -> SceneTestScenes
}

final class ComposedTargets: SceneTargets {
    let scenes: SceneSet
    init(_ scenes: SceneSet) { self.scenes = scenes }

    var count: Int { scenes.count }
    var composed: SceneSet? { scenes }

    func boxes(_ batch: Batch, _ i: Int) -> [LabeledBox] { labeledBoxes(scenes.objects[batch.indices[i]]) }

    func copyMask(_ batch: Batch, _ i: Int, pixels: Int, into labels: UnsafeMutablePointer<Int32>) {
        for (j, v) in scenes.mask(batch.indices[i]).enumerated() { labels[j] = v == AnnotatedSource.ignore ? -1 : Int32(v) }
    }

    func cocoTruth() -> CocoInstances { scenes.cocoTruth() }
    func testScenes(source: String) throws -> SceneTestScenes { SceneTestScenes(scenes, source: source) }
}

final class AnnotatedTargets: SceneTargets {
    let source: AnnotatedSource
    /// Whether the split's batches are augmented (training with data.hflip).
    let augment: Bool
    init(_ source: AnnotatedSource, augment: Bool) { self.source = source; self.augment = augment }

    var count: Int { source.count }
    var composed: SceneSet? { nil }

    func boxes(_ batch: Batch, _ i: Int) -> [LabeledBox] {
        guard batch.labels[i] >= 0 else { return [] }   // a bad file skipped under skip_bad
        return source.boxes(batch.indices[i], epoch: batch.epoch, augment: augment)
    }

    func copyMask(_ batch: Batch, _ i: Int, pixels: Int, into labels: UnsafeMutablePointer<Int32>) {
        let m = batch.targets! + i * pixels
        for j in 0..<pixels { labels[j] = m[j] == AnnotatedSource.ignore ? -1 : Int32(m[j]) }
    }

    func cocoTruth() -> CocoInstances { source.cocoTruth() }
    func testScenes(source name: String) throws -> SceneTestScenes { try SceneTestScenes.render(source) }
}
