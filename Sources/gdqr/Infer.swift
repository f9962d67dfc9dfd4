// `gdqr infer`: one predicted class per image, with the integer engine.

import ArgumentParser
import Foundation
import IntegerInference
import Export
import Datasets
import Evaluation

struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Predict the class of each image of an IDX file (one per line, named when the model has class names).")

    @Argument(help: "The .gdqr model file.")
    var model: String

    @Option(name: .long, help: "Images in IDX format (.idx, .idx.gz, ...-ubyte[.gz]).")
    var images: String

    @Option(name: .long, help: "Threads.")
    var threads: Int = 2

    func run() throws {
        let m = try ModelFile.read(model)
        guard m.task == .classification else {
            throw ExportError("\(model): a \(m.task.rawValue) model; infer prints the classes of a classifier (gdqr eval scores scene models)")
        }
        let idx = try IDX.readImages(path: images)
        let x = m.input
        guard x.channels == 1, idx.rows == x.height, idx.cols == x.width else {
            throw ExportError("\(images): images 1x\(idx.rows)x\(idx.cols) (IDX images are grey), the model takes \(x.channels)x\(x.height)x\(x.width)")
        }
        // Class names: an image-folder model records its folders' names; others print the index only.
        let names = m.info["class_names"].flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
            .flatMap { $0.count == m.classes ? $0 : nil }
        FileHandle.standardError.write(Data("\(model): \(idx.count) images \(idx.rows)x\(idx.cols) from \(images)\n".utf8))
        let batch = 128
        let engine = try IntegerEngine(m, maxBatch: batch, threads: max(1, threads))
        var out = ""
        idx.pixels.withUnsafeBufferPointer { px in
            var i = 0
            while i < idx.count {
                let n = min(batch, idx.count - i)
                let logits = engine.run(px.baseAddress! + i * x.count, batch: n)
                for s in 0..<n {
                    let c = argmax(logits + s * m.classes, m.classes)
                    out += names.map { "\(c) \($0[c])\n" } ?? "\(c)\n"
                }
                i += n
                if out.utf8.count > 1 << 16 { FileHandle.standardOutput.write(out.data(using: .utf8)!); out = "" }
            }
        }
        FileHandle.standardOutput.write(out.data(using: .utf8)!)
    }
}
