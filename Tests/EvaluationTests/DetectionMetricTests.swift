import Foundation
import XCTest
@testable import Datasets
@testable import Evaluation

/// Hand-computed COCO AP cases, and segmentation metrics on small label maps.
final class DetectionMetricTests: XCTestCase {
    func truth(_ boxes: [(image: Int, cat: Int, box: [Double], crowd: Bool)], images: [Int] = [1, 2], cats: [Int] = [1, 2]) -> CocoInstances {
        CocoInstances(
            images: images.map { CocoImage(id: $0, fileName: "\($0).pgm", width: 64, height: 64) },
            annotations: boxes.enumerated().map { i, b in
                CocoAnnotation(id: i + 1, imageId: b.image, categoryId: b.cat, bbox: b.box, area: b.box[2] * b.box[3], iscrowd: b.crowd)
            },
            categories: cats.map { CocoCategory(id: $0, name: "c\($0)") })
    }
    func det(_ image: Int, _ cat: Int, _ box: [Double], _ score: Double) -> CocoDetection {
        CocoDetection(imageId: image, categoryId: cat, bbox: box, score: score)
    }

    func testIoU() {
        XCTAssertEqual(DetectionMetrics.iou([0, 0, 10, 10], [5, 5, 10, 10]), 25.0 / 175.0, accuracy: 1e-15)
        XCTAssertEqual(DetectionMetrics.iou([0, 0, 10, 10], [10, 0, 10, 10]), 0)
        XCTAssertEqual(DetectionMetrics.iou([0, 0, 10, 10], [0, 0, 10, 10]), 1)
        // crowd: union is the detection's own area
        XCTAssertEqual(DetectionMetrics.iou([0, 0, 10, 10], [5, 0, 100, 100], crowd: true), 0.5)
        XCTAssertEqual(DetectionMetrics.iouThresholds.count, 10)
        XCTAssertEqual(DetectionMetrics.iouThresholds[0], 0.5)
        XCTAssertEqual(DetectionMetrics.iouThresholds[9], 0.95)
        XCTAssertEqual(DetectionMetrics.recallPoints.count, 101)
    }

    func testPerfectAndPartialOverlap() {
        let gt = truth([(1, 1, [0, 0, 10, 10], false)], images: [1], cats: [1])
        let perfect = DetectionMetrics.evaluate(truth: gt, detections: [det(1, 1, [0, 0, 10, 10], 0.9)])
        XCTAssertEqual(perfect.mAP, 1, accuracy: 1e-12); XCTAssertEqual(perfect.mAP50, 1, accuracy: 1e-12)
        // IoU 0.62 matches at thresholds .50 .55 .60 only: 3 of 10.
        let partial = DetectionMetrics.evaluate(truth: gt, detections: [det(1, 1, [0, 0, 10, 6.2], 0.9)])
        XCTAssertEqual(partial.mAP, 0.3, accuracy: 1e-12); XCTAssertEqual(partial.mAP50, 1, accuracy: 1e-12); XCTAssertEqual(partial.mAP75, 0)
        let none = DetectionMetrics.evaluate(truth: gt, detections: [])
        XCTAssertEqual(none.mAP, 0); XCTAssertEqual(none.meanRecall, 0)
    }

    func testFalsePositiveFirstAndMiss() {
        // Two ground-truth boxes; the top-scored detection is a false positive, the
        // second finds one box: recall [0, .5], precision [0, .5] -> monotone [.5, .5];
        // recall points 0...0.50 (51 of 101) read 0.5.
        let gt = truth([(1, 1, [0, 0, 10, 10], false), (2, 1, [20, 20, 10, 10], false)], cats: [1])
        let s = DetectionMetrics.evaluate(truth: gt, detections: [det(1, 1, [40, 40, 5, 5], 0.9), det(2, 1, [20, 20, 10, 10], 0.8)])
        XCTAssertEqual(s.mAP50, 51 * 0.5 / 101, accuracy: 1e-12)
        XCTAssertEqual(s.mAP, 51 * 0.5 / 101, accuracy: 1e-12)
        // Scores swapped: precision 1 up to recall .5, then 0.5 never raises recall further.
        let t = DetectionMetrics.evaluate(truth: gt, detections: [det(1, 1, [40, 40, 5, 5], 0.7), det(2, 1, [20, 20, 10, 10], 0.8)])
        XCTAssertEqual(t.mAP50, 51.0 / 101, accuracy: 1e-12)
    }

    func testGreedyMatchingTakesBestUnmatchedBox() {
        // One detection overlapping two boxes takes the higher-IoU box; the second
        // detection (lower score) then can only match the remaining one.
        let gt = truth([(1, 1, [0, 0, 10, 10], false), (1, 1, [2, 0, 10, 10], false)], images: [1], cats: [1])
        let d = [det(1, 1, [2, 0, 10, 10], 0.9), det(1, 1, [1, 0, 10, 10], 0.8)]
        // det2 vs box1: IoU 90/110 = 0.818: matched at thresholds up to 0.80 (7 of 10).
        let s = DetectionMetrics.evaluate(truth: gt, detections: d)
        XCTAssertEqual(s.mAP50, 1, accuracy: 1e-12)
        XCTAssertEqual(s.mAP, (7 * 1.0 + 3 * (51 * 1.0 / 101)) / 10, accuracy: 1e-12)
    }

    func testCrowdIgnoredCategoryWithoutTruthAndMaxDets() {
        // A detection on a crowd box is neither TP nor FP.
        let gt = truth([(1, 1, [0, 0, 10, 10], false), (1, 1, [30, 30, 30, 30], true)], images: [1], cats: [1, 2])
        let s = DetectionMetrics.evaluate(truth: gt, detections: [det(1, 1, [35, 35, 5, 5], 0.95), det(1, 1, [0, 0, 10, 10], 0.5),
                                                                  det(1, 2, [0, 0, 3, 3], 0.9)])
        XCTAssertEqual(s.mAP, 1, accuracy: 1e-12)
        XCTAssertEqual(s.perCategoryAP[2], -1, "a category without ground truth is left out")
        // Only the 100 best detections per image count: 100 false positives above the true one.
        var many = (0..<100).map { det(1, 1, [50, 0, 2, 2], 0.9 + Double($0) * 1e-4) }
        many.append(det(1, 1, [0, 0, 10, 10], 0.1))
        XCTAssertEqual(DetectionMetrics.evaluate(truth: gt, detections: many).mAP, 0)
        XCTAssertEqual(DetectionMetrics.evaluate(truth: gt, detections: many, maxDets: 101).mAP50, 1.0 / 101, accuracy: 1e-12)
    }

    func testEqualScoresKeepFileOrder() {
        let gt = truth([(1, 1, [0, 0, 10, 10], false), (2, 1, [20, 20, 10, 10], false)], cats: [1])
        let fp = det(1, 1, [40, 40, 5, 5], 0.5), tp = det(2, 1, [20, 20, 10, 10], 0.5)
        // Ties keep ascending image order across images: image 1's FP comes first.
        XCTAssertEqual(DetectionMetrics.evaluate(truth: gt, detections: [tp, fp]).mAP50, 51 * 0.5 / 101, accuracy: 1e-12)
        // Within one image the file order decides.
        let gt1 = truth([(1, 1, [0, 0, 10, 10], false), (1, 1, [20, 20, 10, 10], false)], images: [1], cats: [1])
        let a = det(1, 1, [40, 40, 5, 5], 0.5), b = det(1, 1, [20, 20, 10, 10], 0.5)
        XCTAssertEqual(DetectionMetrics.evaluate(truth: gt1, detections: [a, b]).mAP50, 51 * 0.5 / 101, accuracy: 1e-12)
        XCTAssertEqual(DetectionMetrics.evaluate(truth: gt1, detections: [b, a]).mAP50, 51.0 / 101, accuracy: 1e-12)
    }

    func testSegmentationMetrics() {
        var m = ConfusionMatrix(classes: 4)
        // truth    0 0 1 1 2 2
        // predict  0 1 1 1 2 0      class 3 absent from both
        m.add(truth: [0, 0, 1, 1, 2, 2], predicted: [0, 1, 1, 1, 2, 0])
        XCTAssertEqual(m[truth: 0, predicted: 1], 1); XCTAssertEqual(m[truth: 2, predicted: 0], 1)
        let s = m.summary
        // IoU0 = 1/(2+2-1) = 1/3; IoU1 = 2/(2+3-2) = 2/3; IoU2 = 1/(2+1-1) = 1/2
        XCTAssertEqual(s.perClassIoU[0]!, 1.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(s.perClassIoU[1]!, 2.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(s.perClassIoU[2]!, 0.5, accuracy: 1e-15)
        XCTAssertNil(s.perClassIoU[3])
        XCTAssertEqual(s.mIoU, (1.0 / 3 + 2.0 / 3 + 0.5) / 3, accuracy: 1e-15)
        XCTAssertEqual(s.mIoUForeground, (2.0 / 3 + 0.5) / 2, accuracy: 1e-15)
        XCTAssertEqual(s.pixelAccuracy, 4.0 / 6, accuracy: 1e-15)
        XCTAssertEqual(s.confusion, [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
        var twice = m; twice.add(m)
        XCTAssertEqual(twice.summary.mIoU, s.mIoU, accuracy: 1e-15)
        XCTAssertEqual(twice.total, 12)
    }
}
