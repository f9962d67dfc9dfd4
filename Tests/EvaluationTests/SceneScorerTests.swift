// SceneScorer on hand-made segmentation maps: the per-pixel argmax (ties to the
// lower class) counted against the masks, scored as the confusion matrix says
// (values worked out by hand below), whether the scenes come in one batch or two.
import XCTest
@testable import Datasets
import IntegerInference
@testable import Evaluation

final class SceneScorerTests: XCTestCase {
    func testSegmentationArgmaxTiesAndScores() {
        // Two foreground classes (3 score channels), 2x2 maps, 2 scenes.
        let values = [IntegerValue(name: "image", kind: .image, channels: 1, height: 2, width: 2),
                      IntegerValue(name: "scores", kind: .float, channels: 3, height: 2, width: 2)]
        let model = IntegerModel(values: values, ops: [IntegerOp(name: "head", kind: .conv, inputs: [0], output: 1)],
                                 classes: 2, task: .segmentation, normMean: [0], normStd: [1])
        let scenes = SceneTestScenes(size: 2, masks: [0, 1, 2, 1, /* scene 1 */ 2, 2, 0, 0],
                                     truth: CocoInstances(images: [], annotations: [], categories: []), source: "test")
        // Per scene [class][pixel]. Scene 0 predicts 0 (tie 0/1), 1, 1 (tie 1/2), 0;
        // scene 1 predicts 2, 0 (three-way tie), 0, 1.
        let maps: [Float] = [1, 0, 0, 5, /**/ 1, 2, 3, 1, /**/ 0, 1, 3, 1,
                             0, 0, 1, 0, /**/ 0, 0, 0, 1, /**/ 1, 0, 0, 0]
        var whole = SceneScorer(model)
        maps.withUnsafeBufferPointer { whole.add($0.baseAddress!, batch: 2, first: 0, scenes: scenes) }
        var split = SceneScorer(model)
        maps.withUnsafeBufferPointer {
            split.add($0.baseAddress!, batch: 1, first: 0, scenes: scenes)
            split.add($0.baseAddress! + 12, batch: 1, first: 1, scenes: scenes)
        }
        // truth -> predicted: (0,0) (1,1) (2,1) (1,0) | (2,2) (2,0) (0,0) (0,1)
        XCTAssertEqual(whole.confusion.summary.confusion, [[2, 1, 0], [1, 1, 0], [1, 1, 1]])
        XCTAssertEqual(split.confusion, whole.confusion)
        let s = whole.confusion.summary
        // IoU = TP / (row + column - TP): 2/(3+4-2), 1/(2+3-1), 1/(3+1-1).
        XCTAssertEqual(s.perClassIoU[0]!, 2.0 / 5, accuracy: 1e-15)
        XCTAssertEqual(s.perClassIoU[1]!, 1.0 / 4, accuracy: 1e-15)
        XCTAssertEqual(s.perClassIoU[2]!, 1.0 / 3, accuracy: 1e-15)
        let m = whole.metrics(scenes)
        XCTAssertEqual(m["pixel_accuracy"] as? Double ?? .nan, 4.0 / 8, accuracy: 1e-15)
        XCTAssertEqual(m["miou_without_background"] as? Double ?? .nan, (1.0 / 4 + 1.0 / 3) / 2, accuracy: 1e-15)
        XCTAssertEqual(whole.headlineKeys, ["miou_with_background", "miou_without_background", "pixel_accuracy"])
    }
}
