import Foundation
import XCTest
@testable import Datasets

/// COCO results files: written and read back, and the messages of bad files.
final class CocoResultsTests: XCTestCase {
    func det(_ image: Int, _ cat: Int, _ box: [Double], _ score: Double) -> CocoDetection {
        CocoDetection(imageId: image, categoryId: cat, bbox: box, score: score)
    }

    func testResultsFileRoundTripAndErrors() throws {
        let dir = TempDir()
        let dets = [det(1, 2, [1.5, 2, 3.25, 4], 0.875), det(2, 1, [0, 0, 1, 1], 0.1)]
        let path = dir.url.appendingPathComponent("r.json").path
        try CocoDetection.writeResults(dets, to: path)
        XCTAssertEqual(try CocoDetection.readResults(path: path), dets)
        let gt = CocoInstances(images: [CocoImage(id: 1, fileName: "1.pgm", width: 64, height: 64)], annotations: [],
                               categories: [CocoCategory(id: 1, name: "c1"), CocoCategory(id: 2, name: "c2")])
        assertThrows([path, "[1]: image_id 2 is not in the ground truth images"]) { _ = try CocoDetection.readResults(path: path, truth: gt) }
        let bad = dir.write("b.json", Array("[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1]}]".utf8))
        assertThrows([bad, "[0]: missing \"score\""]) { _ = try CocoDetection.readResults(path: bad) }
        let obj = dir.write("o.json", Array("{}".utf8))
        assertThrows([obj, "top level is not a JSON array"]) { _ = try CocoDetection.readResults(path: obj) }
    }
}
