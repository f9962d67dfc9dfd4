import Foundation
import XCTest
import TensorEngine
import Layers
@testable import Datasets

// The COCO and VOC readers (AnnotatedIndex, AnnotatedSource) on sets the tests
// write: boxes after resize and flip against hand-computed values, the mask's
// nearest-neighbour resize (255 kept) against hand-picked pixels, scenes written by
// SceneLayouts read back to their exact pixels, boxes and masks, the streaming
// loader's bits for 1 and 3 workers, and each bad input with its message.
final class AnnotatedSetTests: TemporaryFolderTestCase {
    func writeText(_ rel: String, _ text: String) throws { try write(rel, Array(text.utf8)) }

    func png(_ pixels: [UInt8], _ w: Int, _ h: Int) throws -> [UInt8] {
        try PNGWriter.encode(pixels, width: w, height: h, channels: 1)
    }

    /// A COCO file with images (id, file, w, h) and annotations (image, category, box).
    func cocoJSON(images: [(Int, String, Int, Int)], annotations: [(Int, Int, [Double])],
                  categories: [Int] = [1, 2]) -> String {
        let ims = images.map { "{\"id\": \($0.0), \"file_name\": \"\($0.1)\", \"width\": \($0.2), \"height\": \($0.3)}" }
        let anns = annotations.enumerated().map { k, a in
            "{\"id\": \(k + 1), \"image_id\": \(a.0), \"category_id\": \(a.1), \"bbox\": [\(a.2.map { "\($0)" }.joined(separator: ", "))], \"iscrowd\": 0}"
        }
        let cats = categories.map { "{\"id\": \($0), \"name\": \"c\($0)\"}" }
        return "{\"images\": [\(ims.joined(separator: ","))], \"annotations\": [\(anns.joined(separator: ","))], \"categories\": [\(cats.joined(separator: ","))]}"
    }

    func settings(size: Int, flip: Bool = false, classes: Int = 10) -> AnnotatedSettings {
        var s = AnnotatedSettings(imageSize: size, channels: 1, normalization: .identity, classes: classes)
        s.horizontalFlip = flip
        s.seed = 5
        return s
    }

    /// A 40x20 image's box [4, 2, 10, 6] at S = 8: scaled by 8/40 and 8/20 to
    /// (0.8, 0.8, 2, 2.4); mirrored, x = 8 - 0.8 - 2 = 5.2. Categories 7 and 3 become
    /// classes 2 and 1 (increasing id order).
    func testBoxAfterResizeAndFlip() throws {
        try writeText("ann.json", cocoJSON(images: [(1, "a.png", 40, 20)], annotations: [(1, 7, [4, 2, 10, 6])], categories: [7, 3]))
        let index = try AnnotatedIndex.coco(annotations: root + "/ann.json", imageRoot: root + "/img")
        XCTAssertEqual(index.classes, ["c3", "c7"])
        let src = try AnnotatedSource(index: index, settings: settings(size: 8, flip: true))
        // 6 * (8 / 20) is 2.4000000000000004 in Double: components within 4.4e-15 (the largest
        // difference measured is that 4.4e-16 of h; x, y, w and the mirrored x come out exact).
        func assertBox(_ b: LabeledBox, _ want: [Double], line: UInt = #line) {
            XCTAssertEqual(b.classId, 2, line: line)
            for (g, w) in zip([b.x, b.y, b.w, b.h], want) { XCTAssertEqual(g, w, accuracy: 4.4e-15, line: line) }
        }
        XCTAssertEqual(src.boxes(0, epoch: 0, augment: false).count, 1)
        assertBox(src.boxes(0, epoch: 0, augment: false)[0], [0.8, 0.8, 2, 2.4])
        var seen: Set<Bool> = []
        for epoch in 0..<16 {
            let flip = src.flipped(0, epoch: epoch, augment: true)
            seen.insert(flip)
            assertBox(src.boxes(0, epoch: epoch, augment: true)[0], [flip ? 5.2 : 0.8, 0.8, 2, 2.4])
        }
        XCTAssertEqual(seen, [false, true], "16 epochs drew both flip outcomes")
    }

    /// An S x S image (copied, not filtered) with a white rectangle where its box is:
    /// after a flip, the white pixels are exactly the mirrored box's.
    func testImageAndBoxFlipTogether() throws {
        let n = 8
        var px = [UInt8](repeating: 0, count: n * n)
        for y in 2..<5 { for x in 1..<4 { px[y * n + x] = 255 } }
        try write("img/a.png", png(px, n, n))
        try writeText("ann.json", cocoJSON(images: [(1, "a.png", n, n)], annotations: [(1, 1, [1, 2, 3, 3])]))
        let src = try AnnotatedSource(index: try AnnotatedIndex.coco(annotations: root + "/ann.json", imageRoot: root + "/img"),
                                      settings: settings(size: n, flip: true))
        let epoch = try XCTUnwrap((0..<16).first { src.flipped(0, epoch: $0, augment: true) })
        var scratch = ImageFolderSource.Scratch()
        var out = [Float](repeating: .nan, count: n * n)
        let label = try out.withUnsafeMutableBufferPointer {
            try src.render(0, epoch: epoch, augment: true, scratch: &scratch, into: $0.baseAddress!, target: nil)
        }
        XCTAssertEqual(label, 0)
        let b = src.boxes(0, epoch: epoch, augment: true)[0]
        XCTAssertEqual([b.x, b.y, b.w, b.h], [4, 2, 3, 3])
        for y in 0..<n {
            for x in 0..<n {
                let inside = Double(x) >= b.x && Double(x) < b.x + b.w && Double(y) >= b.y && Double(y) < b.y + b.h
                XCTAssertEqual(out[y * n + x], inside ? 1 : 0, "pixel (\(x), \(y))")
            }
        }
    }

    /// A 6x4 mask to 3x3: rows floor((2y + 1) 4 / 6) = 0, 2, 3 and columns
    /// floor((2x + 1) 6 / 6) = 1, 3, 5; values and 255 copied; mirrored when flipped.
    func testMaskNearestResizeKeeps255() throws {
        let mask: [UInt8] = [
            0, 1, 2, 3, 4, 5,
            6, 7, 8, 9, 10, 0,
            1, 255, 3, 4, 5, 255,
            7, 8, 255, 10, 0, 1,
        ]
        try write("JPEGImages/m.png", png([UInt8](repeating: 9, count: 24), 6, 4))
        try write("SegmentationClass/m.png", png(mask, 6, 4))
        try writeText("ImageSets/Segmentation/train.txt", "m\n")
        let src = try AnnotatedSource(index: try AnnotatedIndex.voc(root: root, split: "train", classes: 10),
                                      settings: settings(size: 3, flip: true))
        XCTAssertEqual(src.targetBytes, 9)
        var scratch = ImageFolderSource.Scratch()
        func render(epoch: Int, augment: Bool) throws -> [UInt8] {
            var out = [Float](repeating: .nan, count: 9), m = [UInt8](repeating: 77, count: 9)
            _ = try out.withUnsafeMutableBufferPointer { o in
                try m.withUnsafeMutableBufferPointer {
                    try src.render(0, epoch: epoch, augment: augment, scratch: &scratch, into: o.baseAddress!, target: $0.baseAddress!)
                }
            }
            XCTAssertEqual(out, [Float](repeating: 9.0 / 255, count: 9))
            return m
        }
        XCTAssertEqual(try render(epoch: 0, augment: false), [1, 3, 5, 255, 4, 255, 8, 10, 1])
        let epoch = try XCTUnwrap((0..<16).first { src.flipped(0, epoch: $0, augment: true) })
        XCTAssertEqual(try render(epoch: epoch, augment: true), [5, 3, 1, 255, 4, 255, 1, 10, 8])
    }

    /// Letterboxed, the 40x20 image of testBoxAfterResizeAndFlip sits in the square
    /// x 0..<40, y -10..<30: its box [4, 2, 10, 6] scales by 8/40 in both directions
    /// to (0.8, 2.4, 2, 1.2) and mirrors to x = 8 - 0.8 - 2 = 5.2. Components within
    /// 4.4e-15 (12 * 0.2 is 2.4000000000000004 in Double).
    func testLetterboxedBoxKeepsTheAspect() throws {
        try writeText("ann.json", cocoJSON(images: [(1, "a.png", 40, 20)], annotations: [(1, 1, [4, 2, 10, 6])]))
        var s = settings(size: 8, flip: true)
        s.letterbox = true
        let src = try AnnotatedSource(index: try AnnotatedIndex.coco(annotations: root + "/ann.json", imageRoot: root + "/img"),
                                      settings: s)
        let f = src.frame(width: 40, height: 20)
        XCTAssertEqual(f.width, 40); XCTAssertEqual(f.height, 40)
        XCTAssertEqual(f.box, SourceBox(x: 0, y: -10, width: 40, height: 40))
        let epoch = try XCTUnwrap((0..<16).first { src.flipped(0, epoch: $0, augment: true) })
        for (b, x) in [(src.boxes(0, epoch: 0, augment: false)[0], 0.8), (src.boxes(0, epoch: epoch, augment: true)[0], 5.2)] {
            for (g, w) in zip([b.x, b.y, b.w, b.h], [x, 2.4, 2, 1.2]) { XCTAssertEqual(g, w, accuracy: 4.4e-15) }
        }
    }

    /// Letterboxed, an 8x2 image at S = 4 fills rows -3..<5 of an 8 x 8 square: output
    /// row y is centred on source row 2y - 2, so rows 0 and 3 see no image pixel
    /// (black, mask 255), row 1 takes the mask's row 0 (columns 2x + 1 = 1, 3, 5, 7) and
    /// row 2 is centred exactly on the image's lower edge (mask 255; its pixels, half
    /// inside, take the inside rows' value, 9).
    func testLetterboxedImageAndMaskBands() throws {
        let mask: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 7,
                             8, 9, 10, 0, 1, 2, 3, 255]
        try write("JPEGImages/m.png", png([UInt8](repeating: 9, count: 16), 8, 2))
        try write("SegmentationClass/m.png", png(mask, 8, 2))
        try writeText("ImageSets/Segmentation/train.txt", "m\n")
        var s = settings(size: 4)
        s.letterbox = true
        let src = try AnnotatedSource(index: try AnnotatedIndex.voc(root: root, split: "train", classes: 10), settings: s)
        var scratch = ImageFolderSource.Scratch()
        var out = [Float](repeating: .nan, count: 16), m = [UInt8](repeating: 77, count: 16)
        _ = try out.withUnsafeMutableBufferPointer { o in
            try m.withUnsafeMutableBufferPointer {
                try src.render(0, epoch: 0, augment: false, scratch: &scratch, into: o.baseAddress!, target: $0.baseAddress!)
            }
        }
        let nine: Float = 9.0 / 255
        XCTAssertEqual(out, [0, 0, 0, 0, nine, nine, nine, nine, nine, nine, nine, nine, 0, 0, 0, 0])
        XCTAssertEqual(m, [255, 255, 255, 255, 1, 3, 5, 7, 255, 255, 255, 255, 255, 255, 255, 255])
    }

    func assertMessage<T>(_ body: @autoclosure () throws -> T, _ expected: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { XCTAssertEqual("\($0)", expected, line: line) }
    }

    func testBadInputsNameTheFile() throws {
        let ann = root + "/ann.json"
        try writeText("ann.json", cocoJSON(images: [(1, "a.png", 10, 10)], annotations: [(1, 1, [6, 0, 5, 4])]))
        assertMessage(try AnnotatedIndex.coco(annotations: ann, imageRoot: root),
                      ann + ": annotations[0]: bbox [6.0, 0.0, 5.0, 4.0] is outside image 1 (10x10)")
        try writeText("ann.json", cocoJSON(images: [(1, "a.png", 10, 10)], annotations: [(1, 9, [0, 0, 5, 4])]))
        assertMessage(try AnnotatedIndex.coco(annotations: ann, imageRoot: root),
                      ann + ": annotations[0]: category_id 9 is not in categories")
        // A validation file with a category the training file lacks.
        try writeText("train.json", cocoJSON(images: [(1, "a.png", 10, 10)], annotations: [], categories: [1]))
        try writeText("ann.json", cocoJSON(images: [(1, "a.png", 10, 10)], annotations: [], categories: [1, 4]))
        assertMessage(try AnnotatedIndex.cocoPair(trainAnnotations: root + "/train.json", trainImages: root,
                                                  valAnnotations: ann, valImages: root),
                      ann + ": category id 4 (c4) is not among the training file's categories")
        // A missing image, an image of another size than the file says.
        try writeText("ann.json", cocoJSON(images: [(1, "a.png", 10, 10), (2, "b.png", 10, 10)], annotations: []))
        try write("b.png", png([UInt8](repeating: 1, count: 12), 4, 3))
        let src = try AnnotatedSource(index: try AnnotatedIndex.coco(annotations: ann, imageRoot: root), settings: settings(size: 4))
        var scratch = ImageFolderSource.Scratch()
        var out = [Float](repeating: 0, count: 16)
        func render(_ s: AnnotatedSource, _ i: Int, _ target: UnsafeMutablePointer<UInt8>? = nil) throws -> Int32 {
            try out.withUnsafeMutableBufferPointer { try s.render(i, epoch: 0, augment: false, scratch: &scratch, into: $0.baseAddress!, target: target) }
        }
        assertMessage(try render(src, 0), root + "/a.png: cannot open: No such file or directory")
        assertMessage(try render(src, 1), root + "/b.png: image is 4x3, " + ann + " says 10x10")
        // VOC: a mask of the wrong size, a value that is no class.
        try write("JPEGImages/m.png", png([UInt8](repeating: 9, count: 24), 6, 4))
        try write("SegmentationClass/m.png", png([UInt8](repeating: 1, count: 20), 5, 4))
        try write("JPEGImages/n.png", png([UInt8](repeating: 9, count: 4), 2, 2))
        try write("SegmentationClass/n.png", png([0, 1, 11, 255], 2, 2))
        try writeText("ImageSets/Segmentation/train.txt", "m\nn\n")
        let voc = try AnnotatedSource(index: try AnnotatedIndex.voc(root: root, split: "train", classes: 10), settings: settings(size: 4))
        var mask = [UInt8](repeating: 0, count: 16)
        try mask.withUnsafeMutableBufferPointer { m in
            assertMessage(try render(voc, 0, m.baseAddress!),
                          root + "/SegmentationClass/m.png: mask is 5x4, its image " + root + "/JPEGImages/m.png is 6x4")
            assertMessage(try render(voc, 1, m.baseAddress!),
                          root + "/SegmentationClass/n.png: mask value 11 at (0, 1) is not a class (0...10) or 255 (ignored)")
        }
        assertMessage(try AnnotatedIndex.voc(root: root, split: "val", classes: 10),
                      root + "/ImageSets/Segmentation/val.txt: cannot read the image list (expected the VOC layout ROOT/ImageSets/Segmentation/{train,val}.txt)")
        // skip_bad: label -1, the mask all ignored, each file warned about once.
        var s = settings(size: 4)
        s.skipBad = true
        let warnings = WarningSink()
        let log = BadFileLog(warn: { warnings.add($0) })
        let skipping = try AnnotatedSource(index: voc.index, settings: s, badFiles: log)
        for _ in 0..<2 {
            try mask.withUnsafeMutableBufferPointer { m in XCTAssertEqual(try render(skipping, 0, m.baseAddress!), -1) }
            XCTAssertEqual(mask, [UInt8](repeating: 255, count: 16))
        }
        XCTAssertEqual(log.count, 1)
        XCTAssertEqual(warnings.all, ["skipping bad image (data.skip_bad): " + root + "/SegmentationClass/m.png: mask is 5x4, its image " + root + "/JPEGImages/m.png is 6x4"])
    }

    /// An 8-bit palette PNG: PNGWriter's grey encoding of the indices (the same IDAT for
    /// one byte per pixel) with colour type 3 and a PLTE chunk whose colours differ from the indices.
    func palettePNG(_ indices: [UInt8], _ w: Int, _ h: Int) throws -> [UInt8] {
        let grey = try png(indices, w, h)
        var header = Array(grey[16..<29])   // IHDR data: after the signature, length and type
        header[9] = 3                        // colour type: palette
        var out = Array(grey[0..<8])
        PNGWriter.chunk("IHDR", header, &out)
        PNGWriter.chunk("PLTE", (0..<256).flatMap { [UInt8($0), UInt8(255 - $0), 7] }, &out)
        return out + grey[33...]            // IDAT and IEND as they were
    }

    /// A VOC mask saved as a palette PNG (as the official masks are) gives its indices;
    /// an RGB mask is refused with its name.
    func testPaletteMaskGivesItsIndices() throws {
        let mask: [UInt8] = [0, 1, 2, 3, 255, 10, 7, 0, 255, 4, 5, 6]
        try write("JPEGImages/p.png", png([UInt8](repeating: 9, count: 12), 4, 3))
        try write("SegmentationClass/p.png", palettePNG(mask, 4, 3))
        try write("JPEGImages/q.png", png([UInt8](repeating: 9, count: 12), 4, 3))
        try write("SegmentationClass/q.png", PNGWriter.encode([UInt8](repeating: 1, count: 36), width: 4, height: 3, channels: 3))
        try writeText("ImageSets/Segmentation/train.txt", "p\nq\n")
        var buffer: [UInt8] = []
        XCTAssertEqual(try ImageDecoder.decode(file: root + "/SegmentationClass/p.png", buffer: &buffer).channels, 3,
                       "without paletteIndices a palette PNG decodes to its colours")
        let src = try AnnotatedSource(index: try AnnotatedIndex.voc(root: root, split: "train", classes: 10),
                                      settings: settings(size: 4))
        var scratch = ImageFolderSource.Scratch()
        var out = [Float](repeating: .nan, count: 16), m = [UInt8](repeating: 77, count: 16)
        func render(_ i: Int) throws {
            _ = try out.withUnsafeMutableBufferPointer { o in
                try m.withUnsafeMutableBufferPointer {
                    try src.render(i, epoch: 0, augment: false, scratch: &scratch, into: o.baseAddress!, target: $0.baseAddress!)
                }
            }
        }
        try render(0)
        // 4x3 to 4x4: columns as they are, rows floor((2y + 1) 3 / 8) = 0, 1, 1, 2.
        XCTAssertEqual(m, [0, 1, 2, 3, 255, 10, 7, 0, 255, 10, 7, 0, 255, 4, 5, 6])
        assertMessage(try render(1), root + "/SegmentationClass/q.png: mask has 3 channels, expected a single-channel index PNG (grey or palette: class ids, 255 = ignore)")
    }

    /// Scenes written by SceneLayouts read back as the scenes: pixels, boxes, masks.
    func testSceneLayoutsRoundTrip() throws {
        var settings = SceneSettings()
        settings.seed = 3; settings.testScenes = 6; settings.size = 32
        let composer = try SceneComposer(source: try solidItems([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), split: .test, settings: settings)
        let scenes = (0..<6).map { composer.scene($0) }
        try SceneLayouts.writeCOCO(scenes, root: root + "/coco", split: "val")
        try SceneLayouts.writeVOC(scenes, root: root + "/voc", split: "val")
        let coco = try AnnotatedSource(index: try AnnotatedIndex.coco(annotations: root + "/coco/annotations/instances_val.json",
                                                                      imageRoot: root + "/coco/val"), settings: self.settings(size: 32))
        let voc = try AnnotatedSource(index: try AnnotatedIndex.voc(root: root + "/voc", split: "val", classes: 10),
                                      settings: self.settings(size: 32))
        XCTAssertEqual(coco.index.classes, FashionMNISTClasses.names)
        var scratch = ImageFolderSource.Scratch()
        for (i, sc) in scenes.enumerated() {
            XCTAssertEqual(coco.boxes(i, epoch: 0, augment: false), sc.objects.map {
                LabeledBox(classId: $0.classId, x: Double($0.box.x0), y: Double($0.box.y0), w: Double($0.box.width), h: Double($0.box.height))
            })
            var px = [UInt8](repeating: 0, count: 32 * 32), m = px
            try px.withUnsafeMutableBufferPointer { p in
                try coco.renderBytes(i, epoch: 0, augment: false, scratch: &scratch, pixels: p.baseAddress!, mask: nil)
            }
            XCTAssertEqual(px, sc.image)
            px = [UInt8](repeating: 0, count: 32 * 32)
            try px.withUnsafeMutableBufferPointer { p in
                try m.withUnsafeMutableBufferPointer {
                    try voc.renderBytes(i, epoch: 0, augment: false, scratch: &scratch, pixels: p.baseAddress!, mask: $0.baseAddress!)
                }
            }
            XCTAssertEqual(px, sc.image)
            XCTAssertEqual(m, sc.mask)
        }
    }

    /// The streaming loader over a VOC set: the same images and masks, bit for bit,
    /// with 1 and 3 workers and prefetch 1 and 3, flips on, two epochs.
    func testLoaderSameBitsForAnyWorkerCount() throws {
        var ids = ""
        for i in 0..<11 {
            let w = 5 + i % 4, h = 4 + i % 3
            try write("JPEGImages/\(i).png", png((0..<(w * h)).map { UInt8(truncatingIfNeeded: $0 * 37 + i * 11) }, w, h))
            try write("SegmentationClass/\(i).png", png((0..<(w * h)).map { UInt8(($0 + i) % 11) }, w, h))
            ids += "\(i)\n"
        }
        try writeText("ImageSets/Segmentation/train.txt", ids)
        let src = try AnnotatedSource(index: try AnnotatedIndex.voc(root: root, split: "train", classes: 10),
                                      settings: settings(size: 6, flip: true))
        func run(workers: Int, prefetch: Int) throws -> (images: [Float], masks: [UInt8]) {
            let loader = try StreamingLoader(source: src, seed: 5, globalBatchSize: 4, augment: true,
                                             workers: workers, prefetch: prefetch)
            var images: [Float] = [], masks: [UInt8] = []
            for epoch in 0..<2 {
                loader.startEpoch(epoch)
                while let b = try loader.next() {
                    images += UnsafeBufferPointer(start: b.images.data, count: b.count * 36)
                    masks += UnsafeBufferPointer(start: try XCTUnwrap(b.targets), count: b.count * 36)
                }
            }
            return (images, masks)
        }
        let one = try run(workers: 1, prefetch: 1)
        XCTAssertEqual(one.images.count, 2 * 12 * 36)   // 11 images, batches of 4: 3 steps per epoch (the last wraps)
        XCTAssertFalse(one.images.contains { $0.isNaN })
        XCTAssertTrue(one.masks.contains(10) && one.masks.allSatisfy { $0 <= 10 })
        for (w, p) in [(3, 1), (3, 3), (2, 2)] {
            let other = try run(workers: w, prefetch: p)
            XCTAssertEqual(other.images, one.images, "workers \(w) prefetch \(p)")
            XCTAssertEqual(other.masks, one.masks, "workers \(w) prefetch \(p)")
        }
    }
}

