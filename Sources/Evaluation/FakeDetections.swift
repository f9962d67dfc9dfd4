// Deterministic detections made from ground truth, for checking a COCO mAP
// implementation against the reference evaluation on the same files
// (Tests/scripts/coco-map-check.sh through `gdqr scenes fake-detections`): jittered
// boxes from exact to loose with scores that favour tight ones, duplicates at a lower
// score, wrong classes, misses and false positives, so every part of the matching and
// the precision-recall sweep is exercised.

import Foundation
import TensorEngine
import Datasets

public enum FakeDetections {
    /// The same detections for the same truth and seed.
    public static func make(truth gt: CocoInstances, seed: UInt64) -> [CocoDetection] {
        let sizes = Dictionary(uniqueKeysWithValues: gt.images.map { ($0.id, ($0.width, $0.height)) })
        let cats = gt.categories.map(\.id)
        var dets: [CocoDetection] = []
        // Clip a box to its image, keeping it non-empty.
        func clipped(_ b: [Double], _ im: Int) -> [Double] {
            let (w, h) = sizes[im]!
            let x0 = min(max(b[0], 0), Double(w) - 1), y0 = min(max(b[1], 0), Double(h) - 1)
            let x1 = max(min(b[0] + b[2], Double(w)), x0 + 0.5), y1 = max(min(b[1] + b[3], Double(h)), y0 + 0.5)
            return [x0, y0, x1 - x0, y1 - y0].map { ($0 * 100).rounded() / 100 }
        }
        for a in gt.annotations {
            var rng = CounterRNG(seed: seed, stream: UInt64(a.id))
            if rng.nextUniform() < 0.15 { continue }                       // miss
            let spread = Double(rng.nextUniform()) * 0.25                 // from exact to loose
            let b = a.bbox
            let j = (0..<4).map { _ in Double(rng.nextNormal()) * spread }
            let box = [b[0] + j[0] * b[2], b[1] + j[1] * b[3], b[2] * exp(j[2]), b[3] * exp(j[3])]
            let cat = rng.nextUniform() < 0.08 ? cats[rng.nextInt(below: cats.count)] : a.categoryId
            // Tighter boxes tend to score higher, with noise, so the ranking matters.
            let score = (((1 - spread * 2) * 0.6 + Double(rng.nextUniform()) * 0.4) * 1000).rounded() / 1000
            dets.append(CocoDetection(imageId: a.imageId, categoryId: cat, bbox: clipped(box, a.imageId), score: score))
            if rng.nextUniform() < 0.1 {                                   // duplicate, lower score
                let d = (0..<2).map { _ in Double(rng.nextNormal()) * 0.1 }
                dets.append(CocoDetection(imageId: a.imageId, categoryId: cat,
                                          bbox: clipped([box[0] + d[0] * b[2], box[1] + d[1] * b[3], box[2], box[3]], a.imageId),
                                          score: (score * 0.8 * 1000).rounded() / 1000))
            }
        }
        for im in gt.images {
            var rng = CounterRNG(seed: seed, stream: 0xF00D_0000 + UInt64(im.id))
            for _ in 0..<rng.nextInt(below: 3) {                          // false positives
                let w = 8 + Double(rng.nextInt(below: 30)), h = 8 + Double(rng.nextInt(below: 30))
                let x = Double(rng.nextInt(below: max(1, im.width - Int(w)))), y = Double(rng.nextInt(below: max(1, im.height - Int(h))))
                dets.append(CocoDetection(imageId: im.id, categoryId: cats[rng.nextInt(below: cats.count)],
                                          bbox: clipped([x, y, w, h], im.id), score: (Double(rng.nextUniform()) * 0.7 * 1000).rounded() / 1000))
            }
        }
        return dets
    }
}
