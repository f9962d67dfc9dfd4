import Foundation
import Datasets

// COCO box average precision, computed the way the reference COCO evaluation
// does it (iouType "bbox", area range "all", maxDets 100), so our figures and
// the reference agree on the same files:
//  * per image and category, detections sorted by score (stable), the first 100
//    kept; each, in that order, takes the unmatched ground-truth box with the
//    highest IoU >= the threshold (crowd boxes may match repeatedly and make a
//    detection "ignored" rather than a false positive);
//  * per category, all images' detections sorted by score (stable, images in
//    ascending id order), cumulative TP/FP, precision made monotone from the
//    right, read at the 101 recall points 0, 0.01, ..., 1 (first point whose
//    recall >= r; 0 past the end);
//  * AP averages those points; mAP averages categories that have ground truth.
// IoU thresholds are .50:.05:.95, computed as numpy.linspace does (0.5 + i*step),
// and boxes are [x, y, w, h] with area w*h (no +1).


public struct DetectionSummary: Equatable, Sendable {
    /// COCO mAP averaged over IoU .50:.05:.95.
    public var mAP: Double
    /// mAP at IoU 0.5.
    public var mAP50: Double
    /// mAP at IoU 0.75.
    public var mAP75: Double
    /// Per category id: AP over .50:.95 (-1 when the category has no ground truth).
    public var perCategoryAP: [Int: Double]
    /// Mean over categories of the recall reached with 100 detections, over thresholds.
    public var meanRecall: Double
}

public enum DetectionMetrics {
    public static let iouThresholds: [Double] = {
        let step = (0.95 - 0.5) / 9
        return (0..<10).map { $0 == 9 ? 0.95 : 0.5 + Double($0) * step }
    }()
    public static let recallPoints: [Double] = (0...100).map { $0 == 100 ? 1.0 : Double($0) * 0.01 }

    /// IoU of two [x, y, w, h] boxes; with `crowd` the union is the detection's area.
    @inline(__always)
    public static func iou(_ d: [Double], _ g: [Double], crowd: Bool = false) -> Double {
        let w = min(d[0] + d[2], g[0] + g[2]) - max(d[0], g[0])
        if w <= 0 { return 0 }
        let h = min(d[1] + d[3], g[1] + g[3]) - max(d[1], g[1])
        if h <= 0 { return 0 }
        let i = w * h
        let u = crowd ? d[2] * d[3] : d[2] * d[3] + g[2] * g[3] - i
        return i / u
    }

    /// Stable order of indices by descending score (numpy argsort(-s, kind="mergesort")).
    static func byScore(_ scores: [Double]) -> [Int] {
        scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    }

    /// One image and category: per threshold, for each kept detection, whether it
    /// matched (tp) and whether it is ignored (matched a crowd box).
    struct ImageResult {
        var scores: [Double]
        var matched: [[Bool]]   // [threshold][detection]
        var ignored: [[Bool]]
        var gtCount: Int        // non-ignored ground truth
    }

    static func evaluate(gt: [CocoAnnotation], dt: [CocoDetection], maxDets: Int) -> ImageResult {
        // Non-crowd ground truth first (the reference sorts by its ignore flag, stably).
        let g = gt.filter { !$0.iscrowd } + gt.filter { $0.iscrowd }
        let order = byScore(dt.map(\.score)).prefix(maxDets)
        let d = order.map { dt[$0] }
        let ious = d.map { det in g.map { iou(det.bbox, $0.bbox, crowd: $0.iscrowd) } }
        var res = ImageResult(scores: d.map(\.score), matched: [], ignored: [], gtCount: g.filter { !$0.iscrowd }.count)
        for t in iouThresholds {
            var gtTaken = [Bool](repeating: false, count: g.count)
            var tp = [Bool](repeating: false, count: d.count), ign = tp
            for di in d.indices {
                var best = min(t, 1 - 1e-10), m = -1
                for gi in g.indices {
                    if gtTaken[gi] && !g[gi].iscrowd { continue }
                    // Once a regular box matched, stop before the crowd boxes.
                    if m > -1 && !g[m].iscrowd && g[gi].iscrowd { break }
                    if ious[di][gi] < best { continue }
                    best = ious[di][gi]; m = gi
                }
                if m == -1 { continue }
                tp[di] = true; ign[di] = g[m].iscrowd; gtTaken[m] = true
            }
            res.matched.append(tp); res.ignored.append(ign)
        }
        return res
    }

    /// AP per IoU threshold for one category (nil when it has no non-crowd ground truth),
    /// and the final recall per threshold.
    static func accumulate(_ results: [ImageResult]) -> (ap: [Double], recall: [Double])? {
        let npig = results.reduce(0) { $0 + $1.gtCount }
        if npig == 0 { return nil }
        let scores = results.flatMap(\.scores)
        let order = byScore(scores)
        var aps: [Double] = [], recalls: [Double] = []
        for t in iouThresholds.indices {
            let tpAll = results.flatMap { $0.matched[t] }, igAll = results.flatMap { $0.ignored[t] }
            var rc: [Double] = [], pr: [Double] = []
            var tp = 0.0, fp = 0.0
            for i in order {
                if igAll[i] { /* neither tp nor fp, but still a point of the curve */ }
                else if tpAll[i] { tp += 1 } else { fp += 1 }
                rc.append(tp / Double(npig))
                pr.append(tp / (tp + fp + Double.ulpOfOne))
            }
            recalls.append(rc.last ?? 0)
            if pr.count > 1 { for i in stride(from: pr.count - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] } }
            var sum = 0.0, i = 0
            for r in recallPoints {
                while i < rc.count && rc[i] < r { i += 1 }   // searchsorted(side="left"), r increasing
                if i < rc.count { sum += pr[i] }
            }
            aps.append(sum / Double(recallPoints.count))
        }
        return (aps, recalls)
    }

    /// COCO evaluation of `detections` against `truth` over its images and categories.
    public static func evaluate(truth: CocoInstances, detections: [CocoDetection], maxDets: Int = 100) -> DetectionSummary {
        var gtBy: [Int: [Int: [CocoAnnotation]]] = [:], dtBy: [Int: [Int: [CocoDetection]]] = [:]
        for a in truth.annotations { gtBy[a.categoryId, default: [:]][a.imageId, default: []].append(a) }
        for d in detections { dtBy[d.categoryId, default: [:]][d.imageId, default: []].append(d) }
        let imageIds = truth.images.map(\.id).sorted()
        var perCat: [Int: Double] = [:], apT = [[Double]](repeating: [], count: iouThresholds.count), recall: [Double] = []
        for c in truth.categories.map(\.id).sorted() {
            var results: [ImageResult] = []
            for im in imageIds {
                let g = gtBy[c]?[im] ?? [], d = dtBy[c]?[im] ?? []
                if g.isEmpty && d.isEmpty { continue }
                results.append(evaluate(gt: g, dt: d, maxDets: maxDets))
            }
            guard let (ap, rc) = accumulate(results) else { perCat[c] = -1; continue }
            perCat[c] = ap.reduce(0, +) / Double(ap.count)
            for t in ap.indices { apT[t].append(ap[t]) }
            recall.append(rc.reduce(0, +) / Double(rc.count))
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? -1 : v.reduce(0, +) / Double(v.count) }
        return DetectionSummary(mAP: mean(apT.flatMap { $0 }), mAP50: mean(apT[0]), mAP75: mean(apT[5]),
                                perCategoryAP: perCat, meanRecall: mean(recall))
    }
}
