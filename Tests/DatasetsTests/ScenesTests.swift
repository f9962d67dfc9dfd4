import Foundation
import XCTest
import Datasets

/// Real Fashion-MNIST test items when present, else a skip (the composer's own
/// logic is also covered by the synthetic cases below).
func fashionTestItems(_ limit: Int) throws -> ImageDataset {
    let dir = ImageDataset.defaultFashionMNISTDirectory
    guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("\(dir) not present") }
    return try ImageDataset.fashionMNIST(split: .test, limit: limit)
}

/// Solid squares: item i is 28x28 of value 100 + i, label labels[i].
func solidItems(_ labels: [Int32]) throws -> ImageDataset {
    var px: [UInt8] = []
    for i in 0..<labels.count { px += [UInt8](repeating: UInt8(100 + i), count: 784) }
    return try ImageDataset(pixels: px, labels: labels, channels: 1, height: 28, width: 28, classes: 10)
}

final class ScenesTests: XCTestCase {
    func settings(seed: UInt64 = 7) -> SceneSettings {
        var s = SceneSettings(); s.seed = seed; s.trainScenes = 100; s.testScenes = 100; return s
    }

    func testDeterministicAndOrderIndependent() throws {
        let items = try fashionTestItems(500)
        let c = try SceneComposer(source: items, split: .test, settings: settings())
        let forward = (0..<20).map { c.scene($0) }
        let backward = (0..<20).reversed().map { c.scene($0) }.reversed()
        XCTAssertEqual(forward, Array(backward))
        let again = try SceneComposer(source: items, split: .test, settings: settings())
        XCTAssertEqual(again.scene(13), forward[13])
        let other = try SceneComposer(source: items, split: .test, settings: settings(seed: 8))
        XCTAssertNotEqual(other.scene(13).placements, forward[13].placements)
        let train = try SceneComposer(source: items, split: .train, settings: settings())
        XCTAssertNotEqual(train.scene(13).placements, forward[13].placements)
        XCTAssertNotEqual(forward[3].placements, forward[4].placements)
    }

    func testPlacementRangesAndBoxTightness() throws {
        let items = try fashionTestItems(1000)
        let s = settings()
        let c = try SceneComposer(source: items, split: .test, settings: s)
        var counts = Set<Int>(), sides = [Int](), objects = 0
        for i in 0..<100 {
            let sc = c.scene(i)
            counts.insert(sc.placements.count)
            XCTAssertTrue((1...6).contains(sc.placements.count))
            for p in sc.placements {
                sides.append(p.side)
                XCTAssertTrue((14...56).contains(p.side), "side \(p.side)")
                XCTAssertTrue(p.x >= 0 && p.y >= 0 && p.x + p.side <= 64 && p.y + p.side <= 64)
                XCTAssertEqual(p.classId, Int(items.labels[p.sourceIndex]) + 1)
            }
            // Naive ground truth from the owner map: tight box and area per placement.
            for (k, p) in sc.placements.enumerated() {
                var x0 = 64, y0 = 64, x1 = -1, y1 = -1, area = 0
                for y in 0..<64 { for x in 0..<64 where Int(sc.owner[y * 64 + x]) == k + 1 {
                    x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y); area += 1
                    XCTAssertEqual(Int(sc.mask[y * 64 + x]), p.classId)
                    XCTAssertGreaterThan(Int(sc.image[y * 64 + x]), s.threshold)
                } }
                let obj = sc.objects.first { $0.placement == k }
                if area == 0 { XCTAssertNil(obj, "fully occluded item kept"); continue }
                objects += 1
                XCTAssertEqual(obj?.box, PixelBox(x0: x0, y0: y0, x1: x1 + 1, y1: y1 + 1))
                XCTAssertEqual(obj?.area, area)
                XCTAssertEqual(obj?.classId, p.classId)
            }
            for j in 0..<(64 * 64) {
                XCTAssertEqual(sc.mask[j] == 0, sc.owner[j] == 0)
                if sc.owner[j] == 0 { XCTAssertEqual(sc.image[j], 0) }
            }
        }
        XCTAssertEqual(counts, Set(1...6), "every item count 1...6 drawn over 100 scenes")
        XCTAssertLessThan(sides.min()!, 18); XCTAssertGreaterThan(sides.max()!, 50)
        XCTAssertGreaterThan(objects, 200)
    }

    func testOcclusionFrontToBack() throws {
        let items = try solidItems([1, 4, 6])
        var s = settings(); s.resampling = .nearest
        // A (class 2) 20x20 at (0,0); B (class 5) 30x30 at (10,0) in front; C (class 7)
        // 5x5 at (12,2) behind B, so fully hidden.
        let a = ScenePlacement(sourceIndex: 0, classId: 2, x: 0, y: 0, side: 20)
        let b = ScenePlacement(sourceIndex: 1, classId: 5, x: 10, y: 0, side: 30)
        let cc = ScenePlacement(sourceIndex: 2, classId: 7, x: 12, y: 2, side: 5)
        let sc = SceneComposer.render([a, cc, b], source: items, settings: s)
        XCTAssertEqual(sc.objects.map(\.classId), [2, 5])
        XCTAssertEqual(sc.objects[0].box, PixelBox(x0: 0, y0: 0, x1: 10, y1: 20))
        XCTAssertEqual(sc.objects[0].area, 200)
        XCTAssertEqual(sc.objects[1].box, PixelBox(x0: 10, y0: 0, x1: 40, y1: 30))
        XCTAssertEqual(sc.objects[1].area, 900)
        XCTAssertEqual(sc.image[5 * 64 + 15], 101)
        XCTAssertEqual(sc.mask[5 * 64 + 15], 5)
        // Reversed: A in front keeps its full box; B loses the overlap but its box stays.
        let rev = SceneComposer.render([b, a], source: items, settings: s)
        XCTAssertEqual(rev.objects.map(\.classId), [5, 2])
        XCTAssertEqual(rev.objects[1].box, PixelBox(x0: 0, y0: 0, x1: 20, y1: 20))
        XCTAssertEqual(rev.objects[0].area, 900 - 200)
        XCTAssertEqual(rev.image[5 * 64 + 15], 100)
        XCTAssertEqual(rev.mask[5 * 64 + 15], 2)
        // B in front of C only where they overlap: a C to the right of B's column range stays visible.
        let d = ScenePlacement(sourceIndex: 2, classId: 7, x: 38, y: 20, side: 5)
        let partial = SceneComposer.render([d, b], source: items, settings: s)
        XCTAssertEqual(partial.objects.first { $0.classId == 7 }?.box, PixelBox(x0: 40, y0: 20, x1: 43, y1: 25))
        XCTAssertEqual(partial.objects.first { $0.classId == 7 }?.area, 15)
    }

    func testResampling() throws {
        let items = try fashionTestItems(3)
        let src = Array(items.pixels[784..<1568])
        XCTAssertEqual(SceneComposer.resample(items, 1, side: 28, .bilinear), src)
        XCTAssertEqual(SceneComposer.resample(items, 1, side: 28, .nearest), src)
        let up = SceneComposer.resample(items, 1, side: 56, .nearest)
        for y in 0..<56 { for x in 0..<56 { XCTAssertEqual(up[y * 56 + x], src[(y / 2) * 28 + x / 2]) } }
        // Bilinear 2x down of a 2x2 block average (centres fall between source pixels).
        let down = SceneComposer.resample(items, 1, side: 14, .bilinear)
        for y in 0..<14 { for x in 0..<14 {
            let r0 = (2 * y) * 28 + 2 * x, r1 = r0 + 28
            let s: Double = Double(src[r0]) + Double(src[r0 + 1]) + Double(src[r1]) + Double(src[r1 + 1])
            XCTAssertEqual(Double(down[y * 14 + x]), (s / 4).rounded(), accuracy: 0.5001)
        } }
    }

    func testWriteReadRoundTrip() throws {
        let items = try fashionTestItems(300)
        let c = try SceneComposer(source: items, split: .test, settings: settings())
        let scenes = (0..<8).map { c.scene($0) }
        let dir = TempDir()
        let written = try SceneFiles.write(scenes, to: dir.url.path)
        XCTAssertEqual(written.images.map(\.id), Array(1...8))
        let back = try SceneFiles.read(directory: dir.url.path)
        XCTAssertEqual(back.count, 8)
        for (sc, l) in zip(scenes, back) {
            XCTAssertEqual(l.pixels, sc.image)
            XCTAssertEqual(l.mask, sc.mask)
            XCTAssertEqual(l.annotations.map(\.categoryId), sc.objects.map(\.classId))
            XCTAssertEqual(l.annotations.map(\.bbox), sc.objects.map {
                [Double($0.box.x0), Double($0.box.y0), Double($0.box.width), Double($0.box.height)] })
            XCTAssertEqual(l.annotations.map(\.area), sc.objects.map { Double($0.area) })
        }
        let coco = try CocoInstances.read(path: dir.url.appendingPathComponent("instances.json").path)
        XCTAssertEqual(coco, written)
        XCTAssertEqual(coco.categories.count, 10)
        XCTAssertEqual(coco.categories[9].name, "Ankle boot")
    }

    func testReaderErrorsNameFileAndField() throws {
        let dir = TempDir()
        let head = "{\"images\": [{\"id\": 1, \"file_name\": \"a.pgm\", \"width\": 64, \"height\": 64}], \"categories\": [{\"id\": 3, \"name\": \"x\"}], \"annotations\": "
        func check(_ anns: String, _ message: String, line: UInt = #line) {
            let path = dir.write("bad.json", Array((head + anns + "}").utf8))
            assertThrows([path, message], line: line) { _ = try CocoInstances.read(path: path) }
        }
        check("[{\"id\": 1, \"image_id\": 1, \"category_id\": 3}]", "annotations[0]: missing \"bbox\"")
        check("[{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 2, 3]}]", "annotations[0]: \"bbox\" has 3 numbers, expected 4")
        check("[{\"id\": 1, \"image_id\": 2, \"category_id\": 3, \"bbox\": [1, 2, 3, 4]}]", "image_id 2 is not in images")
        check("[{\"id\": 1, \"image_id\": 1, \"category_id\": 4, \"bbox\": [1, 2, 3, 4]}]", "category_id 4 is not in categories")
        check("[{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [60, 2, 5, 4]}]", "outside image 1 (64x64)")
        check("[{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 2, 0, 4]}]", "width or height <= 0")
        check("[{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 2, \"3\", 4]}]", "\"bbox\"[2] is a string")
        check("[{\"id\": 1.5, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 2, 3, 4]}]", "\"id\" is 1.5, expected an integer")
        check("[{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 2, 3, 4]}, {\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 2, 3, 4]}]",
              "annotations[1]: duplicate annotation id 1")
        check("[{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 2, 3, 4], \"iscrowd\": 2}]", "iscrowd is 2, expected 0 or 1")
        check("{}", "top-level \"annotations\" is an object, expected an array")
        let notJSON = dir.write("nj.json", Array("{\"images\": [".utf8))
        assertThrows([notJSON, "not valid JSON"]) { _ = try CocoInstances.read(path: notJSON) }
        assertThrows(["/nonexistent/x.json", "cannot read file"]) { _ = try CocoInstances.read(path: "/nonexistent/x.json") }
    }

    func testPGMErrorsAndSettingsValidation() throws {
        assertThrows(["m.pgm", "expected magic P5"]) { _ = try PGM.decode(Array("P2\n1 1\n255\n0".utf8), name: "m.pgm") }
        assertThrows(["m.pgm", "needs 4 pixel bytes, file has 3"]) { _ = try PGM.decode(Array("P5\n2 2\n255\n".utf8) + [1, 2, 3], name: "m.pgm") }
        assertThrows(["maximum value 65535"]) { _ = try PGM.decode(Array("P5\n1 1\n65535\n".utf8) + [0, 0], name: "m.pgm") }
        let ok = try PGM.decode(Array("P5 # c\n2 1\n255\n".utf8) + [7, 9], name: "m.pgm")
        XCTAssertEqual(ok.pixels, [7, 9]); XCTAssertEqual(ok.width, 2); XCTAssertEqual(ok.height, 1)
        var s = SceneSettings(); s.maxItems = 0
        assertThrows(["scenes: items 1...0 is invalid"]) { try s.validate() }
        s = SceneSettings(); s.size = 4
        assertThrows(["size 4 is out of range, expected 8...4096"]) { try s.validate() }
        s = SceneSettings(); s.minScale = 0
        assertThrows(["scale 0.0...2.0 is invalid"]) { try s.validate() }
    }
}
