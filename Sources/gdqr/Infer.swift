// `gdqr infer`: one predicted class per image (ModelTools/Prediction.swift), printed
// one per line: the class index, its name when the model has class names, and for
// image files the file.

import ArgumentParser
import Foundation
import Export
import ModelTools

struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict the class of each image of an IDX file, a PNG/JPEG file or a folder of them (one line per image).")

    @Argument(help: "The .gdqr model file.")
    var model: String

    @Option(name: .long, help: "Images: an IDX file (.idx, .idx.gz, ...-ubyte[.gz]), a PNG/JPEG file or a folder of them.")
    var images: String

    @Option(name: .long, help: "Threads.")
    var threads: Int = 2

    func run() throws {
        let p = try Prediction(try ModelFile.read(model), path: model, threads: threads)
        let input = try p.images(images)
        FileHandle.standardError.write(Data("\(model): \(p.describe(input, from: images))\n".utf8))
        var out = ""
        try p.predict(input, source: images) { _, file, c in
            out += "\(c)" + (p.classNames.map { " \($0[c])" } ?? "") + (file.map { " \($0)" } ?? "") + "\n"
            if out.utf8.count > 1 << 16 { FileHandle.standardOutput.write(Data(out.utf8)); out = "" }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
