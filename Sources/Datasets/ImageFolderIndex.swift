// The file list of an image folder in torchvision's ImageFolder layout:
// ROOT/SPLIT/CLASS/**/*.{png,jpg,jpeg}. Class names are the sorted folder names of
// the training split (byte order, so the same on every machine and locale); a
// class's index is its place in that order. Only names are kept, never pixels, so
// the index of a large set costs tens of bytes per file.
//
// Sample order: by path below the class folder, then by class index. Files named
// by a global number (the Fashion-MNIST export names them by their IDX index) are
// therefore read in that number's order, whatever their class.

import Foundation

public struct ImageFolderIndex: Sendable {
    /// The split folder (ROOT/SPLIT).
    public let directory: String
    public let classes: [String]
    /// Paths relative to `directory` ("CLASS/name.png"), in sample order.
    public private(set) var files: [String]
    public private(set) var labels: [Int32]
    /// Files skipped for not having a .png / .jpg / .jpeg extension, and the first few of them.
    public let ignoredCount: Int
    public let ignoredExamples: [String]
    /// Classes without any image in this split.
    public let emptyClasses: [String]

    public var count: Int { files.count }
    public func path(_ i: Int) -> String { directory + "/" + files[i] }

    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// The sorted class folder names of ROOT/train (hidden folders skipped).
    public static func classNames(trainDirectory dir: String) throws -> [String] {
        let names = try subdirectories(dir)
        guard !names.isEmpty else {
            throw DataError(file: dir, "no class folders: expected ROOT/train/CLASS/*.png|jpg|jpeg")
        }
        return names
    }

    static func subdirectories(_ dir: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw DataError(file: dir, "missing folder (expected the ImageFolder layout ROOT/{train,val}/CLASS/IMAGE)")
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw DataError(file: dir, "cannot list folder: \(error.localizedDescription)")
        }
        return entries.filter { name in
            var d: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &d) && d.boolValue
        }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Lists ROOT/SPLIT for the given classes. Class folders of the split that are not
    /// in `classes` are an error (their label would be undefined); missing ones are empty.
    public init(directory: String, classes: [String]) throws {
        let present = try Self.subdirectories(directory)
        let known = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        if let stray = present.first(where: { known[$0] == nil }) {
            throw DataError(file: directory + "/" + stray,
                            "class folder not among the training classes (\(classes.count) folders of the train split)")
        }
        var entries: [(name: String, label: Int32)] = []
        var ignored = 0
        var examples: [String] = []
        var empty: [String] = []
        for (label, cls) in classes.enumerated() {
            let classDir = directory + "/" + cls
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: classDir, isDirectory: &isDir), isDir.boolValue else {
                empty.append(cls)
                continue
            }
            guard let walker = FileManager.default.enumerator(atPath: classDir) else {
                throw DataError(file: classDir, "cannot list folder")
            }
            var found = 0
            while let rel = walker.nextObject() as? String {
                let last = (rel as NSString).lastPathComponent
                if last.hasPrefix(".") {
                    if walker.fileAttributes?[.type] as? FileAttributeType == .typeDirectory { walker.skipDescendants() }
                    continue
                }
                if walker.fileAttributes?[.type] as? FileAttributeType == .typeDirectory { continue }
                if Self.extensions.contains((rel as NSString).pathExtension.lowercased()) {
                    entries.append((rel, Int32(label)))
                    found += 1
                } else {
                    ignored += 1
                    if examples.count < 3 { examples.append(cls + "/" + rel) }
                }
            }
            if found == 0 { empty.append(cls) }
        }
        entries.sort { a, b in
            a.name == b.name ? a.label < b.label : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        self.directory = directory
        self.classes = classes
        self.files = entries.map { classes[Int($0.label)] + "/" + $0.name }
        self.labels = entries.map(\.label)
        self.ignoredCount = ignored
        self.ignoredExamples = examples
        self.emptyClasses = empty
    }

    /// The first `n` samples (data.train_limit / test_limit).
    public func prefix(_ n: Int) -> ImageFolderIndex {
        var copy = self
        copy.files = Array(files.prefix(n))
        copy.labels = Array(labels.prefix(n))
        return copy
    }

    /// ROOT/train and ROOT/val with the training split's classes.
    public static func load(root: String) throws -> (train: ImageFolderIndex, val: ImageFolderIndex) {
        let classes = try classNames(trainDirectory: root + "/train")
        let train = try ImageFolderIndex(directory: root + "/train", classes: classes)
        let val = try ImageFolderIndex(directory: root + "/val", classes: classes)
        guard train.count > 0 else { throw DataError(file: root + "/train", "no .png/.jpg/.jpeg images in any class folder") }
        guard val.count > 0 else { throw DataError(file: root + "/val", "no .png/.jpg/.jpeg images in any class folder") }
        return (train, val)
    }
}
