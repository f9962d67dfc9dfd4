import Foundation
import JSONFormat
import TensorEngine

// COCO-style box annotations ("instances" JSON: images, annotations with
// [x, y, w, h] boxes, categories), so scenes can be handed to outside tools and
// boxes made by outside tools can be read back. The reader validates every field
// and names the file, the entry and what is wrong.

public struct CocoImage: Equatable, Sendable {
    public var id: Int
    public var fileName: String
    public var width: Int
    public var height: Int
    /// Per-pixel class mask file (our extension; ignored by other tools).
    public var maskFileName: String?
}

public struct CocoAnnotation: Equatable, Sendable {
    public var id: Int
    public var imageId: Int
    public var categoryId: Int
    /// [x, y, w, h] in pixels, (x, y) the top-left corner.
    public var bbox: [Double]
    public var area: Double
    public var iscrowd: Bool
}

public struct CocoCategory: Equatable, Sendable {
    public var id: Int
    public var name: String
}

public struct CocoInstances: Equatable, Sendable {
    public var images: [CocoImage]
    public var annotations: [CocoAnnotation]
    public var categories: [CocoCategory]
}

public enum FashionMNISTClasses {
    public static let names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    /// The COCO categories of the scenes: id = label + 1 (0 is the background).
    public static var categories: [CocoCategory] {
        names.enumerated().map { CocoCategory(id: $0.offset + 1, name: $0.element) }
    }
}

extension CocoAnnotation {
    /// The annotation of a scene's visible object: its tight box and visible area.
    public init(object o: SceneObject, id: Int, imageId: Int) {
        self.init(id: id, imageId: imageId, categoryId: o.classId,
                  bbox: [Double(o.box.x0), Double(o.box.y0), Double(o.box.width), Double(o.box.height)],
                  area: Double(o.area), iscrowd: false)
    }
}

// MARK: - JSON helpers shared with the detection results file

enum CocoJSON {
    /// Integral values print as integers; others with Swift's shortest round-trip form.
    static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int(v)) }
        return "\(v)"
    }

    static func parse(path: String) throws -> Any {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read file")
        }
        do { return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw DataError(file: path, "not valid JSON: \((error as NSError).localizedDescription)")
        }
    }

    /// Field access with messages naming the file, the entry and the field.
    struct Entry {
        let path: String
        let at: String
        let dict: [String: Any]

        func fail(_ what: String) -> DataError { DataError(file: path, "\(at): \(what)") }

        func number(_ key: String) throws -> Double? {
            guard let v = dict[key] else { return nil }
            guard type(of: v) != Bool.self, let n = v as? NSNumber else {
                throw fail("\"\(key)\" is \(describe(v)), expected a number")
            }
            let d = n.doubleValue
            if !d.isFinite { throw fail("\"\(key)\" is \(d), expected a finite number") }
            return d
        }
        func int(_ key: String, required: Bool = true) throws -> Int? {
            guard let d = try number(key) else {
                if required { throw fail("missing \"\(key)\"") }
                return nil
            }
            if d != d.rounded() || abs(d) > 1e15 { throw fail("\"\(key)\" is \(d), expected an integer") }
            return Int(d)
        }
        func string(_ key: String, required: Bool = true) throws -> String? {
            guard let v = dict[key] else {
                if required { throw fail("missing \"\(key)\"") }
                return nil
            }
            guard let s = v as? String else { throw fail("\"\(key)\" is \(describe(v)), expected a string") }
            return s
        }
        func box(_ key: String) throws -> [Double] {
            guard let v = dict[key] else { throw fail("missing \"\(key)\"") }
            guard let a = v as? [Any] else { throw fail("\"\(key)\" is \(describe(v)), expected [x, y, w, h]") }
            if a.count != 4 { throw fail("\"\(key)\" has \(a.count) numbers, expected 4 [x, y, w, h]") }
            var out: [Double] = []
            for (i, e) in a.enumerated() {
                guard let n = e as? NSNumber, n.doubleValue.isFinite else {
                    throw fail("\"\(key)\"[\(i)] is \(describe(e)), expected a finite number")
                }
                out.append(n.doubleValue)
            }
            if out[2] <= 0 || out[3] <= 0 { throw fail("\"\(key)\" \(out) has width or height <= 0") }
            return out
        }
    }

    static func describe(_ v: Any) -> String {
        switch v {
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case is NSNull: return "null"
        default: return "\(v)"
        }
    }

    static func array(_ top: [String: Any], _ key: String, path: String) throws -> [[String: Any]] {
        guard let v = top[key] else { throw DataError(file: path, "missing top-level \"\(key)\" array") }
        guard let a = v as? [Any] else { throw DataError(file: path, "top-level \"\(key)\" is \(describe(v)), expected an array") }
        return try a.enumerated().map { i, e in
            guard let d = e as? [String: Any] else { throw DataError(file: path, "\(key)[\(i)] is \(describe(e)), expected an object") }
            return d
        }
    }
}

extension CocoInstances {
    /// Reads and validates a COCO instances JSON with box annotations.
    public static func read(path: String) throws -> CocoInstances {
        guard let top = try CocoJSON.parse(path: path) as? [String: Any] else {
            throw DataError(file: path, "top level is not a JSON object with images, annotations and categories")
        }
        var images: [CocoImage] = [], byId: [Int: CocoImage] = [:]
        for (i, d) in try CocoJSON.array(top, "images", path: path).enumerated() {
            let e = CocoJSON.Entry(path: path, at: "images[\(i)]", dict: d)
            let img = CocoImage(id: try e.int("id")!, fileName: try e.string("file_name")!,
                                width: try e.int("width")!, height: try e.int("height")!,
                                maskFileName: try e.string("mask_file_name", required: false))
            if img.width <= 0 || img.height <= 0 { throw e.fail("size \(img.width)x\(img.height), expected positive width and height") }
            if byId[img.id] != nil { throw e.fail("duplicate image id \(img.id)") }
            byId[img.id] = img
            images.append(img)
        }
        var categories: [CocoCategory] = [], catIds = Set<Int>()
        for (i, d) in try CocoJSON.array(top, "categories", path: path).enumerated() {
            let e = CocoJSON.Entry(path: path, at: "categories[\(i)]", dict: d)
            let c = CocoCategory(id: try e.int("id")!, name: try e.string("name")!)
            if !catIds.insert(c.id).inserted { throw e.fail("duplicate category id \(c.id)") }
            categories.append(c)
        }
        var annotations: [CocoAnnotation] = [], annIds = Set<Int>()
        for (i, d) in try CocoJSON.array(top, "annotations", path: path).enumerated() {
            let e = CocoJSON.Entry(path: path, at: "annotations[\(i)]", dict: d)
            let id = try e.int("id")!, imageId = try e.int("image_id")!, cat = try e.int("category_id")!
            if !annIds.insert(id).inserted { throw e.fail("duplicate annotation id \(id)") }
            guard let img = byId[imageId] else { throw e.fail("image_id \(imageId) is not in images") }
            if !catIds.contains(cat) { throw e.fail("category_id \(cat) is not in categories") }
            let b = try e.box("bbox")
            if b[0] < 0 || b[1] < 0 || b[0] + b[2] > Double(img.width) || b[1] + b[3] > Double(img.height) {
                throw e.fail("bbox \(b) is outside image \(imageId) (\(img.width)x\(img.height))")
            }
            let crowd = try e.int("iscrowd", required: false) ?? 0
            if crowd != 0 && crowd != 1 { throw e.fail("iscrowd is \(crowd), expected 0 or 1") }
            let area = try e.number("area") ?? b[2] * b[3]
            if area < 0 { throw e.fail("area \(area) is negative") }
            annotations.append(CocoAnnotation(id: id, imageId: imageId, categoryId: cat, bbox: b,
                                              area: area, iscrowd: crowd == 1))
        }
        return CocoInstances(images: images, annotations: annotations, categories: categories)
    }

    public func json() -> String {
        var s = "{\n\"images\": [\n"
        s += images.map { im in
            var e = "{\"id\": \(im.id), \"file_name\": \(JSONText.quoted(im.fileName)), \"width\": \(im.width), \"height\": \(im.height)"
            if let m = im.maskFileName { e += ", \"mask_file_name\": \(JSONText.quoted(m))" }
            return e + "}"
        }.joined(separator: ",\n")
        s += "\n],\n\"annotations\": [\n"
        s += annotations.map { a in
            "{\"id\": \(a.id), \"image_id\": \(a.imageId), \"category_id\": \(a.categoryId), \"bbox\": ["
                + a.bbox.map(CocoJSON.number).joined(separator: ", ")
                + "], \"area\": \(CocoJSON.number(a.area)), \"iscrowd\": \(a.iscrowd ? 1 : 0)}"
        }.joined(separator: ",\n")
        s += "\n],\n\"categories\": [\n"
        s += categories.map { "{\"id\": \($0.id), \"name\": \(JSONText.quoted($0.name)), \"supercategory\": \"fashion\"}" }
            .joined(separator: ",\n")
        return s + "\n]\n}\n"
    }
}

// MARK: - Scenes as files

public enum SceneFiles {
    /// Writes scenes as DIR/images/NNNNNN.pgm, DIR/masks/NNNNNN.pgm (class ids) and
    /// DIR/instances.json. Image ids are scene index + 1 (`firstIndex` = index of scenes[0]).
    @discardableResult
    public static func write(_ scenes: [Scene], firstIndex: Int = 0, to directory: String) throws -> CocoInstances {
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: directory)
        for sub in ["images", "masks"] {
            do { try fm.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true) } catch {
                throw DataError(file: dir.appendingPathComponent(sub).path, "cannot create directory: \(error.localizedDescription)")
            }
        }
        var coco = CocoInstances(images: [], annotations: [], categories: FashionMNISTClasses.categories)
        for (k, sc) in scenes.enumerated() {
            let id = firstIndex + k + 1
            let name = String(format: "%06d.pgm", id)
            try PGM.write(sc.image, width: sc.width, height: sc.height, to: dir.appendingPathComponent("images/" + name).path)
            try PGM.write(sc.mask, width: sc.width, height: sc.height, to: dir.appendingPathComponent("masks/" + name).path)
            coco.images.append(CocoImage(id: id, fileName: "images/" + name, width: sc.width, height: sc.height,
                                         maskFileName: "masks/" + name))
            for o in sc.objects { coco.annotations.append(CocoAnnotation(object: o, id: coco.annotations.count + 1, imageId: id)) }
        }
        let path = dir.appendingPathComponent("instances.json").path
        do { try coco.json().write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw DataError(file: path, "cannot write: \(error.localizedDescription)")
        }
        return coco
    }

    /// A scene read back from files: pixels, class mask (if the image names one) and boxes.
    public struct Loaded: Equatable {
        public var image: CocoImage
        public var pixels: [UInt8]
        public var mask: [UInt8]?
        public var annotations: [CocoAnnotation]
    }

    /// Reads DIR/instances.json and the images (and masks) it names, checking their sizes.
    public static func read(directory: String) throws -> [Loaded] {
        let dir = URL(fileURLWithPath: directory)
        let coco = try CocoInstances.read(path: dir.appendingPathComponent("instances.json").path)
        var byImage: [Int: [CocoAnnotation]] = [:]
        for a in coco.annotations { byImage[a.imageId, default: []].append(a) }
        return try coco.images.map { im in
            func load(_ rel: String) throws -> [UInt8] {
                let path = dir.appendingPathComponent(rel).path
                let p = try PGM.read(path: path)
                if p.width != im.width || p.height != im.height {
                    throw DataError(file: path, "PGM is \(p.width)x\(p.height), instances.json says \(im.width)x\(im.height) for image \(im.id)")
                }
                return p.pixels
            }
            return Loaded(image: im, pixels: try load(im.fileName), mask: try im.maskFileName.map(load),
                          annotations: byImage[im.id] ?? [])
        }
    }
}
