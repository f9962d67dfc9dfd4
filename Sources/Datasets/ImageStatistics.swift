// Per-channel mean and standard deviation of a set of images, for the config's
// normalisation (data.channel_mean / channel_std): every pixel of every image at
// its own size, converted to the model's channels as the loaders convert it (PIL's
// convert("L") / "RGB"), scaled to [0, 1]. The sums are exact integers (a byte
// and its square summed in UInt64), so the result does not depend on the order of
// the images; the standard deviation is the population one (numpy's std()).

import Foundation

public struct ImageStatistics: Equatable, Sendable {
    public let channels: Int
    public private(set) var images = 0
    public private(set) var pixels = 0
    public private(set) var minWidth = Int.max, maxWidth = 0, minHeight = Int.max, maxHeight = 0
    var sums: [UInt64]
    var squares: [UInt64]

    public init(channels: Int) throws {
        guard channels == 1 || channels == 3 else {
            throw DataError(message: "image statistics of 1 (grey) or 3 (RGB) channels, not \(channels)")
        }
        self.channels = channels
        sums = [UInt64](repeating: 0, count: channels)
        squares = sums
    }

    /// Adds one decoded image, converted to `channels`.
    public mutating func add(_ img: DecodedImage, scratch: inout [UInt8]) {
        let planes = planarPixels(img, channels: channels, into: &scratch)
        let plane = img.width * img.height
        scratch.withUnsafeBufferPointer { p in
            for c in 0..<channels {
                // A grey image counts for every RGB channel (the loaders repeat its plane).
                let src = p.baseAddress! + (planes == 1 ? 0 : c * plane)
                var s: UInt64 = 0, q: UInt64 = 0
                for i in 0..<plane { let v = UInt64(src[i]); s += v; q += v * v }
                sums[c] += s; squares[c] += q
            }
        }
        images += 1
        pixels += plane
        minWidth = min(minWidth, img.width); maxWidth = max(maxWidth, img.width)
        minHeight = min(minHeight, img.height); maxHeight = max(maxHeight, img.height)
    }

    /// Adds the pixels [N, C, H, W] of an in-memory set with `channels` channels.
    public mutating func add(_ set: ImageDataset) throws {
        guard set.channels == channels else {
            throw DataError(message: "\(set.source): \(set.channels) channels, the statistics count \(channels)")
        }
        let plane = set.height * set.width
        for n in 0..<set.count {
            for c in 0..<channels {
                var s: UInt64 = 0, q: UInt64 = 0
                for v in set.pixels[((n * channels + c) * plane)..<((n * channels + c + 1) * plane)] {
                    s += UInt64(v); q += UInt64(v) * UInt64(v)
                }
                sums[c] += s; squares[c] += q
            }
        }
        images += set.count
        pixels += set.count * plane
        if set.count > 0 {
            minWidth = min(minWidth, set.width); maxWidth = max(maxWidth, set.width)
            minHeight = min(minHeight, set.height); maxHeight = max(maxHeight, set.height)
        }
    }

    /// Decodes and adds image files (a DataError names the first bad one).
    public mutating func add(files: [String]) throws {
        var buffer: [UInt8] = [], scratch: [UInt8] = []
        for path in files { add(try ImageDecoder.decode(file: path, buffer: &buffer), scratch: &scratch) }
    }

    /// Per-channel mean of p / 255.
    public var mean: [Double] { sums.map { Double($0) / Double(max(pixels, 1)) / 255 } }

    /// Per-channel population standard deviation of p / 255, from the exact sums.
    public var std: [Double] {
        (0..<channels).map { c in
            let n = Double(max(pixels, 1))
            // n * sum(p^2) - sum(p)^2 in exact integers where it fits, else Double.
            let s = sums[c], q = squares[c]
            let (nq, o1) = UInt64(pixels).multipliedReportingOverflow(by: q)
            let (ss, o2) = s.multipliedReportingOverflow(by: s)
            let numerator = !o1 && !o2 ? Double(nq - ss) : max(n * Double(q) - Double(s) * Double(s), 0)
            return numerator.squareRoot() / n / 255
        }
    }

    /// One standard deviation for every channel, each channel centred on its own mean:
    /// the root mean square of the per-channel ones. The integer model's stem fold takes
    /// one std for all channels (per-channel means fold exactly, divisions by different
    /// stds would not keep the first layer's weights integers).
    public var sharedStd: Double {
        (std.map { $0 * $0 }.reduce(0, +) / Double(max(channels, 1))).squareRoot()
    }
}
