// COCO detections and results files: [{"image_id", "category_id", "bbox", "score"}],
// the format the reference COCO evaluation reads and DetectionMetrics
// (Sources/Evaluation) scores.
import Foundation

public struct CocoDetection: Equatable, Sendable {
    public var imageId: Int
    public var categoryId: Int
    /// [x, y, w, h]
    public var bbox: [Double]
    public var score: Double
    public init(imageId: Int, categoryId: Int, bbox: [Double], score: Double) {
        self.imageId = imageId; self.categoryId = categoryId; self.bbox = bbox; self.score = score
    }
}

extension CocoDetection {
    public static func resultsJSON(_ detections: [CocoDetection]) -> String {
        "[\n" + detections.map {
            "{\"image_id\": \($0.imageId), \"category_id\": \($0.categoryId), \"bbox\": ["
                + $0.bbox.map(CocoJSON.number).joined(separator: ", ") + "], \"score\": \(CocoJSON.number($0.score))}"
        }.joined(separator: ",\n") + "\n]\n"
    }

    public static func writeResults(_ detections: [CocoDetection], to path: String) throws {
        do { try resultsJSON(detections).write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw DataError(file: path, "cannot write: \(error.localizedDescription)")
        }
    }

    /// Reads a COCO results file; with `truth`, image and category ids must exist in it.
    public static func readResults(path: String, truth: CocoInstances? = nil) throws -> [CocoDetection] {
        guard let top = try CocoJSON.parse(path: path) as? [Any] else {
            throw DataError(file: path, "top level is not a JSON array of detections")
        }
        let images = truth.map { Set($0.images.map(\.id)) }, cats = truth.map { Set($0.categories.map(\.id)) }
        return try top.enumerated().map { i, v in
            guard let d = v as? [String: Any] else { throw DataError(file: path, "[\(i)] is \(CocoJSON.describe(v)), expected an object") }
            let e = CocoJSON.Entry(path: path, at: "[\(i)]", dict: d)
            let det = CocoDetection(imageId: try e.int("image_id")!, categoryId: try e.int("category_id")!,
                                    bbox: try e.box("bbox"), score: try e.number("score") ?? .nan)
            if det.score.isNaN { throw e.fail("missing \"score\"") }
            if let images, !images.contains(det.imageId) { throw e.fail("image_id \(det.imageId) is not in the ground truth images") }
            if let cats, !cats.contains(det.categoryId) { throw e.fail("category_id \(det.categoryId) is not in the ground truth categories") }
            return det
        }
    }
}
