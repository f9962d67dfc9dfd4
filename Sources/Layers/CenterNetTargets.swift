// CenterNet training targets from boxes, and decoding of the head's outputs back
// to boxes.
//
// A box's centre falls in output cell (floor(cx / stride), floor(cy / stride));
// the heatmap of its class gets a Gaussian splat there (peak exactly 1, the
// elementwise maximum where splats overlap); the size target is (w, h) / stride
// and the offset target the centre's fractional cell position.
//
// The splat radius: shifting a w x h box by r in both x and y leaves
// intersection (w - r)(h - r) and union 2wh - (w - r)(h - r); requiring
// IoU >= t gives (w - r)(h - r) >= 2t wh / (1 + t), whose smaller root is
//     r = ((w + h) - sqrt((w + h)^2 - 4 wh (1 - t) / (1 + t))) / 2.
// We use t = 0.7, r rounded down (at least 0), and sigma = (2r + 1) / 6.

import Foundation
import TensorEngine

/// A box in input pixels: columns x..<x+w, rows y..<y+h, class 1...classes.
public struct LabeledBox: Equatable, Sendable {
    public var classId: Int
    public var x: Double, y: Double, w: Double, h: Double
    public init(classId: Int, x: Double, y: Double, w: Double, h: Double) {
        self.classId = classId; self.x = x; self.y = y; self.w = w; self.h = h
    }
}

public struct ScoredBox: Equatable, Sendable {
    public var box: LabeledBox
    public var score: Float
}

public enum CenterNetTargets {
    /// Radius (in cells) within which a shifted centre keeps IoU >= minOverlap.
    public static func radius(width w: Double, height h: Double, minOverlap t: Double = 0.7) -> Int {
        let s = w + h, disc = s * s - 4 * w * h * (1 - t) / (1 + t)
        return max(0, Int(((s - disc.squareRoot()) / 2).rounded(.down)))
    }

    /// Writes one sample's heatmap [classes, h, w] (overwritten) and returns its
    /// size and offset targets (sample index `sample`).
    public static func build(_ boxes: [LabeledBox], sample: Int, stride: Int, classes: Int, height: Int, width: Int,
                             heatmap: UnsafeMutablePointer<Float>) -> (size: [CenterTarget], offset: [CenterTarget]) {
        heatmap.update(repeating: 0, count: classes * height * width)
        var size: [CenterTarget] = [], offset: [CenterTarget] = []
        let st = Double(stride)
        for b in boxes {
            precondition(b.classId >= 1 && b.classId <= classes, "CenterNetTargets: class \(b.classId) out of 1...\(classes)")
            let cx = (b.x + b.w / 2) / st, cy = (b.y + b.h / 2) / st
            let ix = min(width - 1, max(0, Int(cx.rounded(.down)))), iy = min(height - 1, max(0, Int(cy.rounded(.down))))
            let r = radius(width: b.w / st, height: b.h / st)
            let sigma = Double(2 * r + 1) / 6
            let plane = heatmap + (b.classId - 1) * height * width
            for y in max(0, iy - r)...min(height - 1, iy + r) {
                for x in max(0, ix - r)...min(width - 1, ix + r) {
                    let dx = Double(x - ix), dy = Double(y - iy)
                    let v = Float(exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)))
                    plane[y * width + x] = max(plane[y * width + x], v)
                }
            }
            let cell = iy * width + ix
            size.append(CenterTarget(sample: sample, cell: cell, values: [Float(b.w / st), Float(b.h / st)]))
            offset.append(CenterTarget(sample: sample, cell: cell, values: [Float(cx - Double(ix)), Float(cy - Double(iy))]))
        }
        return (size, offset)
    }

    /// Decodes one sample: heatmap logits [classes, h, w], size and offset [2, h, w].
    /// Peaks are cells whose logit is the maximum of their 3x3 neighbourhood (a 3x3
    /// max-pool equal to the input); the `topK` best by sigmoid score (ties by
    /// class, then cell) at or above `minScore` become boxes, clipped to the image
    /// of `stride * w` x `stride * h` pixels. With `nmsIoU`, a box overlapping a
    /// better one of its class by more than that IoU is dropped.
    public static func decode(heatmap: UnsafePointer<Float>, size: UnsafePointer<Float>, offset: UnsafePointer<Float>,
                              classes: Int, height: Int, width: Int, stride: Int, topK: Int = 100,
                              minScore: Float = 0.01, nmsIoU: Double? = nil) -> [ScoredBox] {
        let cells = height * width
        var peaks: [(score: Float, c: Int, cell: Int)] = []
        for c in 0..<classes {
            let plane = heatmap + c * cells
            for y in 0..<height {
                for x in 0..<width {
                    let v = plane[y * width + x]
                    var isMax = true
                    for yy in max(0, y - 1)...min(height - 1, y + 1) where isMax {
                        for xx in max(0, x - 1)...min(width - 1, x + 1) where plane[yy * width + xx] > v { isMax = false }
                    }
                    let score = 1 / (1 + exp(-v))
                    if isMax && score >= minScore { peaks.append((score, c, y * width + x)) }
                }
            }
        }
        peaks.sort { $0.score > $1.score || ($0.score == $1.score && ($0.c, $0.cell) < ($1.c, $1.cell)) }
        let st = Double(stride), imgW = Double(width * stride), imgH = Double(height * stride)
        var out: [ScoredBox] = []
        for p in peaks.prefix(topK) {
            let cx = (Double(p.cell % width) + Double(offset[p.cell])) * st
            let cy = (Double(p.cell / width) + Double(offset[cells + p.cell])) * st
            let w = max(0, Double(size[p.cell])) * st, h = max(0, Double(size[cells + p.cell])) * st
            let x0 = max(0, cx - w / 2), y0 = max(0, cy - h / 2)
            let x1 = min(imgW, cx + w / 2), y1 = min(imgH, cy + h / 2)
            if x1 <= x0 || y1 <= y0 { continue }
            let box = LabeledBox(classId: p.c + 1, x: x0, y: y0, w: x1 - x0, h: y1 - y0)
            if let t = nmsIoU, out.contains(where: { $0.box.classId == box.classId && iou($0.box, box) > t }) { continue }
            out.append(ScoredBox(box: box, score: p.score))
        }
        return out
    }

    public static func iou(_ a: LabeledBox, _ b: LabeledBox) -> Double {
        let w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x), h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
        if w <= 0 || h <= 0 { return 0 }
        return w * h / (a.w * a.h + b.w * b.h - w * h)
    }
}
