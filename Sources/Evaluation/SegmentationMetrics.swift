import Foundation

// Per-pixel segmentation metrics from a confusion matrix (rows = true class,
// columns = predicted class; class 0 = background). IoU of class c is
// TP / (TP + FP + FN); a class absent from both truth and prediction has no IoU
// and is left out of the mean (as in the usual FCN / VOC evaluation). mIoU is
// reported over all classes and over the foreground classes 1..<C only.

public struct ConfusionMatrix: Equatable, Sendable {
    public let classes: Int
    /// counts[t * classes + p]: pixels of true class t predicted as p.
    public private(set) var counts: [Int]

    public init(classes: Int) {
        precondition(classes > 0)
        self.classes = classes
        counts = [Int](repeating: 0, count: classes * classes)
    }

    /// A matrix from counts in the layout of `counts` (e.g. summed across ranks).
    public init(classes: Int, counts: [Int]) {
        precondition(classes > 0 && counts.count == classes * classes, "\(counts.count) counts for \(classes) classes")
        self.classes = classes
        self.counts = counts
    }

    public subscript(truth truth: Int, predicted predicted: Int) -> Int { counts[truth * classes + predicted] }

    /// Adds `truth` / `predicted` label maps (same length, values in 0..<classes).
    public mutating func add(truth: [UInt8], predicted: [UInt8]) {
        precondition(truth.count == predicted.count, "label maps of \(truth.count) and \(predicted.count) pixels")
        for (t, p) in zip(truth, predicted) {
            precondition(Int(t) < classes && Int(p) < classes, "label \(max(t, p)) out of range 0..<\(classes)")
            counts[Int(t) * classes + Int(p)] += 1
        }
    }

    public mutating func add(_ other: ConfusionMatrix) {
        precondition(other.classes == classes)
        for i in counts.indices { counts[i] += other.counts[i] }
    }

    public var total: Int { counts.reduce(0, +) }

    /// IoU per class, nil where the class occurs in neither truth nor prediction.
    public var iou: [Double?] {
        (0..<classes).map { c in
            var rowSum = 0, colSum = 0
            for k in 0..<classes { rowSum += self[truth: c, predicted: k]; colSum += self[truth: k, predicted: c] }
            let tp = self[truth: c, predicted: c]
            let union = rowSum + colSum - tp
            return union == 0 ? nil : Double(tp) / Double(union)
        }
    }

    public var summary: SegmentationSummary {
        let ious = iou
        func mean(_ v: [Double?]) -> Double {
            let present = v.compactMap { $0 }
            return present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count)
        }
        var diag = 0
        for c in 0..<classes { diag += self[truth: c, predicted: c] }
        return SegmentationSummary(mIoU: mean(ious), mIoUForeground: mean(Array(ious.dropFirst())),
                                   pixelAccuracy: total == 0 ? 0 : Double(diag) / Double(total),
                                   perClassIoU: ious, confusion: (0..<classes).map { Array(counts[$0 * classes..<($0 + 1) * classes]) })
    }
}

public struct SegmentationSummary: Equatable, Sendable {
    /// Mean IoU over every class present (background included).
    public var mIoU: Double
    /// Mean IoU over the present foreground classes (background excluded).
    public var mIoUForeground: Double
    public var pixelAccuracy: Double
    public var perClassIoU: [Double?]
    /// Rows = true class, columns = predicted class.
    public var confusion: [[Int]]

    /// A JSON object for summary files.
    public var json: [String: Any] {
        ["miou_with_background": mIoU, "miou_without_background": mIoUForeground,
         "pixel_accuracy": pixelAccuracy,
         "per_class_iou": perClassIoU.map { v -> Any in v.map { $0 as Any } ?? NSNull() },
         "confusion_matrix_rows_true_cols_predicted": confusion]
    }
}
