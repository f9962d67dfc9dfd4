import Foundation
import TensorEngine

// Detection / segmentation scenes built from real Fashion-MNIST items: 1-6 items
// of the matching split, each rescaled (0.5x-2x by default) and placed inside a
// square canvas. Items are painted back to front, so an item's visible pixels
// are its foreground pixels that no later item covers. Ground truth is each
// item's tight box around its visible pixels, its class (1...10, the Fashion-MNIST
// label + 1) and a per-pixel class mask with background 0; fully occluded items
// are dropped.
//
// A scene is a pure function of (seed, split, scene index): its random numbers
// come from CounterRNG keyed by those three, so any rank can build any scene in
// any order and get the same bits.

public struct SceneSettings: Sendable, Equatable {
    public enum Resampling: String, Sendable, CaseIterable { case bilinear, nearest }

    /// Canvas width and height in pixels.
    public var size: Int = 64
    public var minItems: Int = 1
    public var maxItems: Int = 6
    /// Item scale range relative to the 28x28 source; drawn log-uniformly.
    public var minScale: Double = 0.5
    public var maxScale: Double = 2.0
    /// A resampled item pixel is foreground when its value is above this.
    public var threshold: Int = 32
    public var resampling: Resampling = .bilinear
    public var seed: UInt64 = 0
    public var trainScenes: Int = 20_000
    public var testScenes: Int = 2_000

    public init() {}

    public func validate() throws {
        func bad(_ what: String) -> DataError { DataError(file: nil, "scenes: \(what)") }
        if size < 8 || size > 4096 { throw bad("size \(size) is out of range, expected 8...4096") }
        if minItems < 1 || maxItems < minItems || maxItems > 255 {
            throw bad("items \(minItems)...\(maxItems) is invalid, expected 1 <= min_items <= max_items <= 255")
        }
        if !(minScale > 0) || !(maxScale >= minScale) || maxScale > 16 {
            throw bad("scale \(minScale)...\(maxScale) is invalid, expected 0 < min_scale <= max_scale <= 16")
        }
        if threshold < 0 || threshold > 254 { throw bad("threshold \(threshold) is out of range, expected 0...254") }
        if trainScenes < 0 || testScenes < 0 {
            throw bad("scene counts \(trainScenes) (train) and \(testScenes) (test) must not be negative")
        }
    }

    public func sceneCount(_ split: ImageDataset.Split) -> Int { split == .train ? trainScenes : testScenes }
}

/// Where one item goes: a source image, drawn as a `side` x `side` square at (x, y).
public struct ScenePlacement: Equatable, Sendable {
    public var sourceIndex: Int
    /// 1...classes (the source label + 1).
    public var classId: Int
    public var x: Int
    public var y: Int
    public var side: Int
    public init(sourceIndex: Int, classId: Int, x: Int, y: Int, side: Int) {
        self.sourceIndex = sourceIndex; self.classId = classId; self.x = x; self.y = y; self.side = side
    }
}

/// Pixel box: columns x0..<x1, rows y0..<y1 (COCO bbox = [x0, y0, x1-x0, y1-y0]).
public struct PixelBox: Equatable, Sendable, CustomStringConvertible {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public init(x0: Int, y0: Int, x1: Int, y1: Int) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }
    public var width: Int { x1 - x0 }
    public var height: Int { y1 - y0 }
    public var description: String { "[\(x0),\(y0))-[\(x1),\(y1))" }
}

/// One visible object of a scene.
public struct SceneObject: Equatable, Sendable {
    public var classId: Int
    public var box: PixelBox
    /// Number of visible pixels.
    public var area: Int
    /// Index into the scene's placements (painting order: higher is in front).
    public var placement: Int
}

public struct Scene: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// Grey pixels, row-major, background 0.
    public var image: [UInt8]
    /// Per-pixel class id, 0 = background.
    public var mask: [UInt8]
    /// Per-pixel owner: 0 = background, k = placements[k-1].
    public var owner: [UInt8]
    /// Every item drawn, back to front (including fully occluded ones).
    public var placements: [ScenePlacement]
    /// The visible items, in painting order.
    public var objects: [SceneObject]
}

public struct SceneComposer {
    /// The items to draw from (Fashion-MNIST of the scene's split).
    public let source: ImageDataset
    public let split: ImageDataset.Split
    public let settings: SceneSettings

    public init(source: ImageDataset, split: ImageDataset.Split, settings: SceneSettings) throws {
        try settings.validate()
        if source.channels != 1 || source.count == 0 {
            throw DataError(file: source.source, "scene items must be single-channel images, got \(source.count) images of \(source.channels) channels")
        }
        self.source = source
        self.split = split
        self.settings = settings
    }

    public var count: Int { settings.sceneCount(split) }

    /// Random stream of a scene: split and index in separate bit ranges, tagged so
    /// no other user of CounterRNG with the same seed draws the same numbers.
    static func stream(split: ImageDataset.Split, index: Int) -> UInt64 {
        0x5CE7_E000_0000_0000 ^ (split == .train ? 0 : 1 << 40) ^ UInt64(index)
    }

    /// The placements of scene `index`: a pure function of (seed, split, index).
    public func placements(_ index: Int) -> [ScenePlacement] {
        let s = settings
        var rng = CounterRNG(seed: s.seed, stream: Self.stream(split: split, index: index))
        let n = s.minItems + rng.nextInt(below: s.maxItems - s.minItems + 1)
        let (lo, hi) = (log(s.minScale), log(s.maxScale))
        var out: [ScenePlacement] = []
        for _ in 0..<n {
            let item = rng.nextInt(below: source.count)
            let scale = exp(lo + (hi - lo) * Double(rng.nextUniform()))
            let side = min(s.size, max(1, Int((Double(source.width) * scale).rounded())))
            let x = rng.nextInt(below: s.size - side + 1)
            let y = rng.nextInt(below: s.size - side + 1)
            out.append(ScenePlacement(sourceIndex: item, classId: Int(source.labels[item]) + 1, x: x, y: y, side: side))
        }
        return out
    }

    public func scene(_ index: Int) -> Scene {
        Self.render(placements(index), source: source, settings: settings)
    }

    /// Source item `index` resampled to side x side (pixel centres aligned, edges clamped).
    public static func resample(_ source: ImageDataset, _ index: Int, side: Int,
                                _ mode: SceneSettings.Resampling) -> [UInt8] {
        let (h, w) = (source.height, source.width)
        let base = index * source.sampleBytes
        var out = [UInt8](repeating: 0, count: side * side)
        let sy = Double(h) / Double(side), sx = Double(w) / Double(side)
        source.pixels.withUnsafeBufferPointer { px in
            for oy in 0..<side {
                for ox in 0..<side {
                    let fy = (Double(oy) + 0.5) * sy - 0.5, fx = (Double(ox) + 0.5) * sx - 0.5
                    let v: Double
                    switch mode {
                    case .nearest:
                        let iy = min(h - 1, max(0, Int((fy + 0.5).rounded(.down))))
                        let ix = min(w - 1, max(0, Int((fx + 0.5).rounded(.down))))
                        v = Double(px[base + iy * w + ix])
                    case .bilinear:
                        let cy = min(Double(h - 1), max(0, fy)), cx = min(Double(w - 1), max(0, fx))
                        let y0 = Int(cy), x0 = Int(cx)
                        let y1 = min(h - 1, y0 + 1), x1 = min(w - 1, x0 + 1)
                        let ty = cy - Double(y0), tx = cx - Double(x0)
                        let p = { (yy: Int, xx: Int) in Double(px[base + yy * w + xx]) }
                        v = (1 - ty) * ((1 - tx) * p(y0, x0) + tx * p(y0, x1))
                            + ty * ((1 - tx) * p(y1, x0) + tx * p(y1, x1))
                    }
                    out[oy * side + ox] = UInt8(min(255, max(0, v.rounded())))
                }
            }
        }
        return out
    }

    /// Paints placements back to front and derives the visible boxes.
    public static func render(_ placements: [ScenePlacement], source: ImageDataset,
                              settings: SceneSettings) -> Scene {
        let n = settings.size
        var image = [UInt8](repeating: 0, count: n * n)
        var mask = image, owner = image
        for (k, p) in placements.enumerated() {
            let item = resample(source, p.sourceIndex, side: p.side, settings.resampling)
            for yy in 0..<p.side {
                let y = p.y + yy
                if y < 0 || y >= n { continue }
                for xx in 0..<p.side {
                    let x = p.x + xx
                    let v = item[yy * p.side + xx]
                    if x < 0 || x >= n || Int(v) <= settings.threshold { continue }
                    image[y * n + x] = v
                    mask[y * n + x] = UInt8(p.classId)
                    owner[y * n + x] = UInt8(k + 1)
                }
            }
        }
        // Tight boxes of what stayed visible.
        var boxes = [PixelBox?](repeating: nil, count: placements.count)
        var areas = [Int](repeating: 0, count: placements.count)
        for y in 0..<n {
            for x in 0..<n {
                let o = Int(owner[y * n + x])
                if o == 0 { continue }
                areas[o - 1] += 1
                if var b = boxes[o - 1] {
                    b.x0 = min(b.x0, x); b.y0 = min(b.y0, y); b.x1 = max(b.x1, x + 1); b.y1 = max(b.y1, y + 1)
                    boxes[o - 1] = b
                } else {
                    boxes[o - 1] = PixelBox(x0: x, y0: y, x1: x + 1, y1: y + 1)
                }
            }
        }
        var objects: [SceneObject] = []
        for (k, p) in placements.enumerated() {
            if let b = boxes[k] { objects.append(SceneObject(classId: p.classId, box: b, area: areas[k], placement: k)) }
        }
        return Scene(width: n, height: n, image: image, mask: mask, owner: owner,
                     placements: placements, objects: objects)
    }
}
