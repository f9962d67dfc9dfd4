// SVG pictures of test scenes for a run folder's pictures/: for detection, each
// scene twice (ground-truth boxes; predicted boxes with class and score), for
// segmentation the scene, the true mask and the predicted mask. Pixels travel as
// embedded PNGs drawn 4x with nearest-neighbour scaling; boxes are SVG rects.

import Foundation
import Datasets
import Layers

enum ScenePictures {
    static let zoom = 4
    /// Predicted boxes below this score are not drawn (they still count in mAP),
    /// except the best `minDrawnBoxes` of a scene, so a weak model still shows its guesses.
    static let minDrawnScore: Float = 0.3
    static let minDrawnBoxes = 3
    /// Class colours, 0 = background (black).
    static let palette: [(UInt8, UInt8, UInt8)] = [
        (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
        (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    ]

    static func name(_ classId: Int) -> String {
        classId >= 1 && classId <= FashionMNISTClasses.names.count ? FashionMNISTClasses.names[classId - 1] : "class \(classId)"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func image(_ png: [UInt8], x: Int, y: Int, size: Int) -> String {
        let s = size * zoom
        return "<image x=\"\(x)\" y=\"\(y)\" width=\"\(s)\" height=\"\(s)\" style=\"image-rendering:pixelated\" "
            + "href=\"data:image/png;base64,\(Data(png).base64EncodedString())\"/>"
    }

    static func grey<C: Collection>(_ pixels: C, size: Int) -> [UInt8] where C.Element == UInt8 {
        (try? PNGWriter.encode(Array(pixels), width: size, height: size, channels: 1)) ?? []
    }

    static func coloured<C: Collection>(_ mask: C, size: Int) -> [UInt8] where C.Element == UInt8 {
        let rgb = mask.flatMap { c -> [UInt8] in
            let p = palette[Int(c) % palette.count]
            return [p.0, p.1, p.2]
        }
        return (try? PNGWriter.encode(rgb, width: size, height: size, channels: 3)) ?? []
    }

    static func box(_ b: LabeledBox, x: Int, y: Int, colour: String, label: String) -> String {
        let z = Double(zoom)
        let rx = Double(x) + b.x * z, ry = Double(y) + b.y * z
        return String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%@\" stroke-width=\"1.5\"/>",
                      rx, ry, b.w * z, b.h * z, colour)
            + String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%@\">%@</text>", rx + 2, ry + 10, colour, escape(label))
    }

    static func document(width: Int, height: Int, _ body: [String]) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body.joined(separator: "\n") + "\n</svg>\n"
    }

    /// Scenes with their true objects and decoded predictions.
    static func detection(_ scenes: [(image: ArraySlice<UInt8>, truth: [SceneObject], predicted: [ScoredBox])],
                          size: Int) -> String {
        let side = size * zoom, gap = 16, top = 20
        var body = ["<text x=\"4\" y=\"14\" font-size=\"12\">ground truth</text>",
                    "<text x=\"\(side + gap + 4)\" y=\"14\" font-size=\"12\">predicted (score &gt;= \(minDrawnScore), or the best \(minDrawnBoxes))</text>"]
        for (row, s) in scenes.enumerated() {
            let y = top + row * (side + gap)
            let png = grey(s.image, size: size)
            body.append(image(png, x: 0, y: y, size: size))
            body.append(image(png, x: side + gap, y: y, size: size))
            for b in labeledBoxes(s.truth) { body.append(box(b, x: 0, y: y, colour: "lime", label: name(b.classId))) }
            // Decoding returns boxes best first.
            for (rank, p) in s.predicted.enumerated() where p.score >= minDrawnScore || rank < minDrawnBoxes {
                body.append(box(p.box, x: side + gap, y: y, colour: "red", label: String(format: "%@ %.2f", name(p.box.classId), p.score)))
            }
        }
        return document(width: 2 * side + gap, height: top + scenes.count * (side + gap), body)
    }

    /// Scenes with their true and predicted class masks.
    static func segmentation(_ scenes: [(image: ArraySlice<UInt8>, truth: ArraySlice<UInt8>, predicted: [UInt8])],
                             size: Int) -> String {
        let side = size * zoom, gap = 16, top = 20
        var body = ["scene", "ground truth", "predicted"].enumerated().map {
            "<text x=\"\($0.offset * (side + gap) + 4)\" y=\"14\" font-size=\"12\">\($0.element)</text>"
        }
        for (row, s) in scenes.enumerated() {
            let y = top + row * (side + gap)
            body.append(image(grey(s.image, size: size), x: 0, y: y, size: size))
            body.append(image(coloured(s.truth, size: size), x: side + gap, y: y, size: size))
            body.append(image(coloured(s.predicted, size: size), x: 2 * (side + gap), y: y, size: size))
        }
        let legendY = top + scenes.count * (side + gap)
        for c in 1..<palette.count {
            let p = palette[c], x = (c - 1) % 5 * 150, yy = legendY + (c - 1) / 5 * 16
            body.append("<rect x=\"\(x)\" y=\"\(yy)\" width=\"12\" height=\"12\" fill=\"rgb(\(p.0),\(p.1),\(p.2))\"/>"
                + "<text x=\"\(x + 16)\" y=\"\(yy + 10)\" font-size=\"11\">\(escape(name(c)))</text>")
        }
        return document(width: max(3 * side + 2 * gap, 750), height: legendY + 40, body)
    }
}
