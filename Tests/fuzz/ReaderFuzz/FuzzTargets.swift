// The readers that need the package's modules, one function per fuzz target.
// Each takes any bytes and must end in a value or a thrown error whose message
// names the input (`FuzzOutcome`); a crash, a trap or a sanitizer report is a
// finding. The readers of plain formats (checkpoint, safetensors, IDX, PGM) have
// their own harnesses beside this folder, built from their sources alone.
import Foundation
import Checkpoint
import Datasets
import Export
import Trainer

enum FuzzTarget: String, CaseIterable {
    /// `.gdqr` model files, twice: the bytes as a file, and the bytes as a JSON
    /// header and a payload wrapped in a valid container (`ModelFile.assemble`),
    /// so that mutations reach the header's validation, not only the checksums.
    case model
    /// A run config (YAML) through the loader and its schema; the input's first
    /// line also as a `--set` override on a valid config.
    case config
    /// A COCO instances JSON, read as it is and as a training set (AnnotatedIndex:
    /// classes, boxes scaled and mirrored into a 16 x 16 frame).
    case coco
    /// PNG and JPEG images (the decoder decides by the magic bytes), and as a mask
    /// (palette PNGs give their indices).
    case image

    /// Names the input in messages; the reader must repeat it.
    static let inputName = "fuzz-input"
}

/// How one reading of an input ended: accepted, or rejected with a message that
/// must contain `names` (the input's name, or the flag that carried it).
enum FuzzOutcome {
    case accepted
    case rejected(message: String, names: String)
}

extension FuzzTarget {
    /// Runs every reader of this target over `bytes`; returns the outcomes.
    func run(_ bytes: [UInt8], scratch: String) -> [FuzzOutcome] {
        switch self {
        case .model:
            var outcomes = [outcome { _ = try bytes.withUnsafeBytes { try ModelFile.decode($0, name: Self.inputName) } }]
            if let (header, payload) = Self.splitModelInput(bytes),
               let file = try? ModelFile.assemble(version: 2, header: header, payload: payload, level: 1) {
                outcomes.append(outcome { _ = try file.withUnsafeBytes { try ModelFile.decode($0, name: Self.inputName) } })
            }
            return outcomes
        case .config:
            let text = String(decoding: bytes, as: UTF8.self)
            let firstLine = String(text.prefix { $0 != "\n" })
            return [outcome { _ = try ConfigLoader.load(yaml: text, sourceName: Self.inputName) },
                    outcome(naming: "--set") { _ = try ConfigLoader.load(yaml: "", sourceName: Self.inputName, overrides: [firstLine]) }]
        case .coco:
            // The reader takes a path: the input goes to a file in memory first. An
            // empty file is left out: Foundation's FileManager.contents(atPath:) leaks
            // its 4 KiB read buffer on one (Swift 6.3.1; LeakSanitizer stops the run).
            // The empty-file message is checked by Cluster/bad-inputs.sh instead.
            guard !bytes.isEmpty, FileManager.default.createFile(atPath: scratch, contents: Data(bytes)) else { return [] }
            return [outcome(naming: scratch) { _ = try CocoInstances.read(path: scratch) },
                    outcome(naming: scratch) {
                        var s = AnnotatedSettings(imageSize: 16, channels: 1, normalization: .identity, classes: 10)
                        s.horizontalFlip = true
                        let src = try AnnotatedSource(index: try AnnotatedIndex.coco(annotations: scratch, imageRoot: "/nonexistent"),
                                                      settings: s)
                        _ = src.cocoTruth()
                        for i in 0..<src.count { _ = src.boxes(i, epoch: 1, augment: true) }
                    }]
        case .image:
            return [outcome { _ = try bytes.withUnsafeBytes { try ImageDecoder.decode($0, name: Self.inputName) } },
                    outcome { _ = try bytes.withUnsafeBytes { try ImageDecoder.decode($0, name: Self.inputName, paletteIndices: true) } }]
        }
    }

    /// The structured form of a model input: a little-endian u32 header length,
    /// the header, then the payload. Nil when the input is too short for it.
    static func splitModelInput(_ b: [UInt8]) -> (header: [UInt8], payload: [UInt8])? {
        guard b.count >= 4 else { return nil }
        let n = Int(UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24)
        let h = min(n, b.count - 4)
        return (Array(b[4..<(4 + h)]), Array(b[(4 + h)...]))
    }

    /// The structured form of a valid model file (for seeds): its header and its
    /// decompressed payload. Nil if the file is not a valid model.
    static func structuredModelSeed(_ file: [UInt8]) -> [UInt8]? {
        guard (try? file.withUnsafeBytes({ try ModelFile.decode($0, name: inputName) })) != nil else { return nil }
        func u32(_ o: Int) -> Int { Int(file[o]) | Int(file[o + 1]) << 8 | Int(file[o + 2]) << 16 | Int(file[o + 3]) << 24 }
        let h = u32(12), p0 = ModelFile.prefixSize + h
        let size = u32(p0) | u32(p0 + 4) << 32
        let frame = Array(file[(p0 + 20)..<(file.count - ModelFile.trailerSize)])
        guard let payload = try? frame.withUnsafeBytes({ try Zstd.decompress($0, contentSize: size, maxOutput: size) })
        else { return nil }
        return withUnsafeBytes(of: UInt32(h).littleEndian) { Array($0) } + Array(file[ModelFile.prefixSize..<p0]) + payload
    }

    private func outcome(naming name: String = Self.inputName, _ body: () throws -> Void) -> FuzzOutcome {
        do { try body(); return .accepted } catch { return .rejected(message: "\(error)", names: name) }
    }
}
