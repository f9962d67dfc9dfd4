// Pixel geometry for the image-folder reader: interleaved decoder output to planar
// channels (grey <-> RGB as PIL converts), and resampling of a box of the source to the
// model's square input with PIL's antialiased bilinear filter (a triangle whose support
// widens with the downscale factor, as Image.resize(..., box=) does). Accumulation is
// in Float and rounded once, so results can differ from PIL's fixed-point passes by one
// level; a box that is an exact pixel-aligned copy is copied, never filtered.

import Foundation
import TensorEngine

/// A box of the source image in pixel units (may be fractional).
public struct SourceBox: Equatable, Sendable {
    public var x: Double, y: Double, width: Double, height: Double
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    /// The centred square of side min(width, height): resizing the shorter side to
    /// the output size and cropping the centre, in one step.
    public static func centreSquare(width: Int, height: Int) -> SourceBox {
        let side = Double(min(width, height))
        return SourceBox(x: (Double(width) - side) / 2, y: (Double(height) - side) / 2, width: side, height: side)
    }
}

/// The random-resized-crop box of torchvision's RandomResizedCrop.get_params:
/// area fraction in [minScale, 1], log-uniform aspect in [3/4, 4/3], ten tries,
/// then the centre crop with the aspect clamped. A pure function of `rng`'s state.
public func randomResizedCropBox(width: Int, height: Int, minScale: Double, rng: inout CounterRNG) -> SourceBox {
    let area = Double(width * height)
    let logLo = log(3.0 / 4.0), logHi = log(4.0 / 3.0)
    for _ in 0..<10 {
        let target = area * (minScale + (1 - minScale) * rng.uniform())
        let aspect = exp(logLo + (logHi - logLo) * rng.uniform())
        let w = Int((target * aspect).squareRoot().rounded())
        let h = Int((target / aspect).squareRoot().rounded())
        if w > 0 && w <= width && h > 0 && h <= height {
            let top = rng.int(below: height - h + 1), left = rng.int(below: width - w + 1)
            return SourceBox(x: Double(left), y: Double(top), width: Double(w), height: Double(h))
        }
    }
    let ratio = Double(width) / Double(height)
    var w = width, h = height
    if ratio < 3.0 / 4.0 {
        h = Int((Double(w) / (3.0 / 4.0)).rounded())
    } else if ratio > 4.0 / 3.0 {
        w = Int((Double(h) * (4.0 / 3.0)).rounded())
    }
    return SourceBox(x: Double((width - w) / 2), y: Double((height - h) / 2), width: Double(w), height: Double(h))
}

/// The interleaved decoder output as `channels` planes (1 or 3): RGB to grey with
/// PIL's convert("L") weights (299/587/114 in 16-bit fixed point, rounded), grey to
/// RGB by repetition (done after resampling by `ImageResampler`, so not here).
/// Returns the number of planes written (the source's when it is grey).
func planarPixels(_ img: DecodedImage, channels: Int, into out: inout [UInt8]) -> Int {
    let plane = img.width * img.height
    let planes = img.channels == 3 && channels == 3 ? 3 : 1
    if out.count < planes * plane { out = [UInt8](repeating: 0, count: planes * plane) }
    let src = img.pixels
    out.withUnsafeMutableBufferPointer { o in
        let d = o.baseAddress!
        if img.channels == 1 {
            d.update(from: src, count: plane)
        } else if planes == 3 {
            for i in 0..<plane {
                d[i] = src[3 * i]; d[plane + i] = src[3 * i + 1]; d[2 * plane + i] = src[3 * i + 2]
            }
        } else {
            for i in 0..<plane {
                let r = UInt32(src[3 * i]), g = UInt32(src[3 * i + 1]), b = UInt32(src[3 * i + 2])
                d[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
            }
        }
    }
    return planes
}

/// Resamples boxes of planar images to a square output; holds its scratch, one per thread.
public struct ImageResampler {
    var temp: [Float] = []
    var weightsX: [Float] = [], weightsY: [Float] = []
    var startX: [Int] = [], countX: [Int] = [], startY: [Int] = [], countY: [Int] = []

    public init() {}

    /// PIL's precompute_coeffs for the triangle filter: for each output pixel, the
    /// first source pixel and the normalised weights (at most `ksize` of them).
    static func coefficients(inSize: Int, boxStart: Double, boxSize: Double, outSize: Int,
                             weights: inout [Float], start: inout [Int], count: inout [Int]) -> Int {
        let scale = boxSize / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        weights = [Float](repeating: 0, count: ksize * outSize)
        start = [Int](repeating: 0, count: outSize)
        count = [Int](repeating: 0, count: outSize)
        for xx in 0..<outSize {
            let centre = boxStart + (Double(xx) + 0.5) * scale
            let lo = max(Int((centre - support + 0.5).rounded(.down)), 0)
            let hi = min(Int((centre + support + 0.5).rounded(.down)), inSize)
            var ws = [Double](repeating: 0, count: max(hi - lo, 0))
            var total = 0.0
            for x in lo..<max(hi, lo) {
                let t = abs((Double(x) - centre + 0.5) / filterScale)
                let w = t < 1 ? 1 - t : 0
                ws[x - lo] = w
                total += w
            }
            start[xx] = lo
            count[xx] = min(ws.count, ksize)
            for k in 0..<count[xx] { weights[xx * ksize + k] = Float(total > 0 ? ws[k] / total : 0) }
        }
        return ksize
    }

    /// Writes box `box` of the planar `planes` x height x width image `src`, resampled
    /// to outSize x outSize, as `outChannels` planes into `dst` (one source plane is
    /// repeated for RGB output).
    public mutating func resample(_ src: UnsafePointer<UInt8>, planes: Int, width: Int, height: Int,
                                  box: SourceBox, outSize: Int, outChannels: Int, into dst: UnsafeMutablePointer<UInt8>) {
        let n = outSize, outPlane = n * n
        let bx = Int(box.x), by = Int(box.y)
        let aligned = Double(bx) == box.x && Double(by) == box.y && box.width == Double(n) && box.height == Double(n)
        if aligned && bx >= 0 && by >= 0 && bx + n <= width && by + n <= height {
            for c in 0..<planes {
                for y in 0..<n {
                    (dst + c * outPlane + y * n).update(from: src + c * width * height + (by + y) * width + bx, count: n)
                }
            }
        } else {
            let kx = Self.coefficients(inSize: width, boxStart: box.x, boxSize: box.width, outSize: n,
                                       weights: &weightsX, start: &startX, count: &countX)
            let ky = Self.coefficients(inSize: height, boxStart: box.y, boxSize: box.height, outSize: n,
                                       weights: &weightsY, start: &startY, count: &countY)
            // Only the rows the vertical pass reads go through the horizontal pass.
            let rowLo = startY.first ?? 0
            let rowHi = zip(startY, countY).map { $0 + $1 }.max() ?? rowLo
            let rows = max(rowHi - rowLo, 0)
            if temp.count < rows * n { temp = [Float](repeating: 0, count: rows * n) }
            for c in 0..<planes {
                let s = src + c * width * height
                temp.withUnsafeMutableBufferPointer { t in
                    weightsX.withUnsafeBufferPointer { wx in
                        for r in 0..<rows {
                            let srow = s + (rowLo + r) * width
                            for x in 0..<n {
                                var acc: Float = 0
                                let w = wx.baseAddress! + x * kx, s0 = startX[x]
                                for k in 0..<countX[x] { acc += w[k] * Float(srow[s0 + k]) }
                                t[r * n + x] = acc
                            }
                        }
                    }
                    weightsY.withUnsafeBufferPointer { wy in
                        let d = dst + c * outPlane
                        for y in 0..<n {
                            let w = wy.baseAddress! + y * ky, r0 = startY[y] - rowLo
                            for x in 0..<n {
                                var acc: Float = 0
                                for k in 0..<countY[y] { acc += w[k] * t[(r0 + k) * n + x] }
                                d[y * n + x] = UInt8(max(0, min(255, acc.rounded())))
                            }
                        }
                    }
                }
            }
        }
        if planes == 1 && outChannels > 1 {
            for c in 1..<outChannels { (dst + c * outPlane).update(from: dst, count: outPlane) }
        }
    }
}

/// Double draws from a CounterRNG, for the crop boxes.
extension CounterRNG {
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
    mutating func int(below n: Int) -> Int { n <= 1 ? 0 : nextInt(below: n) }
}
