import TensorEngine

/// Per-channel normalisation applied to pixels scaled to [0, 1]:
/// x = (p / 255 - mean) / std.
public struct Normalization: Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    public init(mean: Float, std: Float) { self.init(mean: [mean], std: [std]) }

    public static let fashionMNIST = Normalization(mean: 0.2860, std: 0.3530)
    public static let mnist = Normalization(mean: 0.1307, std: 0.3081)
    /// p / 255 only.
    public static let identity = Normalization(mean: 0, std: 1)

    /// Mean and std for channel `c` (a single value applies to all channels).
    func stats(_ c: Int) -> (Float, Float) {
        (mean.count == 1 ? mean[0] : mean[c], std.count == 1 ? std[0] : std[c])
    }

    func validate(channels: Int) throws {
        for (name, v) in [("mean", mean), ("std", std)] where v.count != 1 && v.count != channels {
            throw DataError(message: "normalization \(name) has \(v.count) values, expected 1 or \(channels) (one per channel)")
        }
        if std.contains(where: { !($0 > 0) || !$0.isFinite }) || mean.contains(where: { !$0.isFinite }) {
            throw DataError(message: "normalization std must be positive and finite, mean finite (got mean \(mean), std \(std))")
        }
    }

    /// 256-entry lookup tables, one per channel: value for each pixel byte.
    func lookupTables(channels: Int) -> [[Float]] {
        (0..<channels).map { c in
            let (m, s) = stats(c)
            return (0..<256).map { (Float($0) / 255 - m) / s }
        }
    }
}

/// Training augmentation: random crop with zero padding (the padding is 0 in
/// pixel space, i.e. added before normalisation, as torchvision's RandomCrop),
/// then random horizontal flip with probability 1/2.
public struct Augmentation: Sendable, Equatable {
    public var cropPadding: Int
    public var horizontalFlip: Bool

    public init(cropPadding: Int = 0, horizontalFlip: Bool = false) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }

    public static let none = Augmentation()

    public var isIdentity: Bool { cropPadding == 0 && !horizontalFlip }

    /// The random choices for one sample.
    public struct Choice: Equatable, Sendable {
        /// Offset of the crop window in the padded image, each in 0...2*padding.
        public var top: Int
        public var left: Int
        public var flip: Bool
    }

    static let stream: UInt64 = 0x4155_4755_4D45_4E54 // "AUGMENT"

    /// The choice for global sample `index` in `epoch`: a pure function of
    /// (seed, epoch, index), never of the rank or thread that computes it.
    public func choice(seed: UInt64, epoch: Int, index: Int) -> Choice {
        var rng = CounterRNG(seed: seed,
                             stream: CounterRNG.mix(Augmentation.stream ^ UInt64(truncatingIfNeeded: epoch)) ^ UInt64(truncatingIfNeeded: index),
                             counter: 0)
        // Draw order is fixed whatever is enabled, so enabling flip does not change crops.
        let top = rng.nextInt(below: 2 * cropPadding + 1)
        let left = rng.nextInt(below: 2 * cropPadding + 1)
        let f = rng.nextUniform() < 0.5
        return Choice(top: top, left: left, flip: horizontalFlip && f)
    }
}

/// Writes one sample as normalised floats [C, H, W] into `dst`, applying an
/// augmentation choice (nil = none). `luts` from `Normalization.lookupTables`.
@inline(__always)
func renderSample(_ src: UnsafePointer<UInt8>, channels: Int, height: Int, width: Int,
                  luts: UnsafePointer<Float>, padding: Int, choice: Augmentation.Choice?,
                  into dst: UnsafeMutablePointer<Float>) {
    let plane = height * width
    guard let ch = choice, ch.flip || padding > 0 else {
        for c in 0..<channels {
            let lut = luts + c * 256
            let s = src + c * plane, d = dst + c * plane
            for i in 0..<plane { d[i] = lut[Int(s[i])] }
        }
        return
    }
    let dy = ch.top - padding, dx = ch.left - padding
    for c in 0..<channels {
        let lut = luts + c * 256
        let zero = lut[0]
        let s = src + c * plane, d = dst + c * plane
        for y in 0..<height {
            let sy = y + dy
            let row = d + y * width
            if sy < 0 || sy >= height {
                for x in 0..<width { row[x] = zero }
                continue
            }
            let srow = s + sy * width
            if ch.flip {
                for x in 0..<width {
                    let sx = (width - 1 - x) + dx
                    row[x] = (sx >= 0 && sx < width) ? lut[Int(srow[sx])] : zero
                }
            } else {
                for x in 0..<width {
                    let sx = x + dx
                    row[x] = (sx >= 0 && sx < width) ? lut[Int(srow[sx])] : zero
                }
            }
        }
    }
}
