// Plain reference implementations (test oracles) of the non-convolution kernels:
// straightforward loops in Double over Swift arrays, written from the
// definitions (PyTorch semantics) independently of the fast kernels. Tests
// compare the fast kernels against these and differentiate these by central
// finite differences to check the fast backward kernels.

import Foundation

public func reluReference(_ x: [Double]) -> [Double] { x.map { $0 > 0 ? $0 : 0 } }
public func relu6Reference(_ x: [Double]) -> [Double] { x.map { min(max($0, 0), 6) } }

/// Training-mode BatchNorm2d: y, batch mean, biased and unbiased variance per channel.
public func batchNorm2dTrainingReference(_ x: [Double], n: Int, c: Int, h: Int, w: Int,
                                         gamma: [Double], beta: [Double], eps: Double = 1e-5)
    -> (y: [Double], mean: [Double], biasedVar: [Double], unbiasedVar: [Double]) {
    let hw = h * w, m = Double(n * hw)
    var y = [Double](repeating: 0, count: x.count)
    var means = [Double](), bvars = [Double](), uvars = [Double]()
    for ch in 0..<c {
        var s = 0.0
        for b in 0..<n { for i in 0..<hw { s += x[(b * c + ch) * hw + i] } }
        let mean = s / m
        var q = 0.0
        for b in 0..<n { for i in 0..<hw { let d = x[(b * c + ch) * hw + i] - mean; q += d * d } }
        let v = q / m
        means.append(mean); bvars.append(v); uvars.append(m > 1 ? q / (m - 1) : v)
        for b in 0..<n { for i in 0..<hw {
            let j = (b * c + ch) * hw + i
            y[j] = (x[j] - mean) / (v + eps).squareRoot() * gamma[ch] + beta[ch]
        } }
    }
    return (y, means, bvars, uvars)
}

/// Eval-mode BatchNorm2d with running statistics.
public func batchNorm2dInferenceReference(_ x: [Double], n: Int, c: Int, h: Int, w: Int,
                                          gamma: [Double], beta: [Double],
                                          runningMean: [Double], runningVar: [Double], eps: Double = 1e-5) -> [Double] {
    let hw = h * w
    var y = x
    for b in 0..<n { for ch in 0..<c { for i in 0..<hw {
        let j = (b * c + ch) * hw + i
        y[j] = (x[j] - runningMean[ch]) / (runningVar[ch] + eps).squareRoot() * gamma[ch] + beta[ch]
    } } }
    return y
}

/// Max pool: output and argmax (index y*w+x in the plane; first maximum wins).
public func maxPool2dReference(_ x: [Double], n: Int, c: Int, h: Int, w: Int,
                               kernel: Int, stride: Int, padding: Int) -> (y: [Double], indices: [Int]) {
    let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
    var y = [Double](), idx = [Int]()
    for p in 0..<(n * c) { for oy in 0..<oh { for ox in 0..<ow {
        var best = -Double.infinity, bi = -1
        for ky in 0..<kernel { for kx in 0..<kernel {
            let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
            if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
            let v = x[p * h * w + iy * w + ix]
            if v > best { best = v; bi = iy * w + ix }
        } }
        y.append(best); idx.append(bi)
    } } }
    return (y, idx)
}

/// Average pool with count_include_pad = true (divisor kernel^2).
public func avgPool2dReference(_ x: [Double], n: Int, c: Int, h: Int, w: Int,
                               kernel: Int, stride: Int, padding: Int) -> [Double] {
    let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
    var y = [Double]()
    for p in 0..<(n * c) { for oy in 0..<oh { for ox in 0..<ow {
        var s = 0.0
        for ky in 0..<kernel { for kx in 0..<kernel {
            let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
            if iy >= 0 && iy < h && ix >= 0 && ix < w { s += x[p * h * w + iy * w + ix] }
        } }
        y.append(s / Double(kernel * kernel))
    } } }
    return y
}

public func globalAvgPoolReference(_ x: [Double], n: Int, c: Int, h: Int, w: Int) -> [Double] {
    (0..<(n * c)).map { p in x[(p * h * w)..<((p + 1) * h * w)].reduce(0, +) / Double(h * w) }
}

/// y[N, out] = x[N, in] * W^T + b, W [out, in].
public func linearReference(_ x: [Double], weight: [Double], bias: [Double]?,
                            batch: Int, inFeatures: Int, outFeatures: Int) -> [Double] {
    var y = [Double](repeating: 0, count: batch * outFeatures)
    for r in 0..<batch { for o in 0..<outFeatures {
        var s = bias?[o] ?? 0
        for i in 0..<inFeatures { s += x[r * inFeatures + i] * weight[o * inFeatures + i] }
        y[r * outFeatures + o] = s
    } }
    return y
}

/// Softmax cross-entropy over logits [n, classes, hw] (hw = 1 for classification),
/// labels [n, hw]; mean over labels != ignoreLabel. Gradient of the mean loss.
public func softmaxCrossEntropyReference(_ logits: [Double], labels: [Int32], n: Int, classes: Int, hw: Int,
                                         ignoreLabel: Int32 = -1)
    -> (loss: Double, grad: [Double], correct: Int, counted: Int) {
    let counted = labels.filter { $0 != ignoreLabel }.count
    var grad = [Double](repeating: 0, count: logits.count)
    var total = 0.0, correct = 0
    for b in 0..<n { for p in 0..<hw {
        let label = labels[b * hw + p]
        if label == ignoreLabel { continue }
        let at = { (i: Int) in b * classes * hw + i * hw + p }
        var m = logits[at(0)], arg = 0
        for i in 1..<classes where logits[at(i)] > m { m = logits[at(i)]; arg = i }
        var s = 0.0
        for i in 0..<classes { s += exp(logits[at(i)] - m) }
        total += log(s) - (logits[at(Int(label))] - m)
        if arg == Int(label) { correct += 1 }
        for i in 0..<classes {
            grad[at(i)] = (exp(logits[at(i)] - m) / s - (i == Int(label) ? 1 : 0)) / Double(counted)
        }
    } }
    return (counted > 0 ? total / Double(counted) : 0, grad, correct, counted)
}

public func upsampleNearest2xReference(_ x: [Double], n: Int, c: Int, h: Int, w: Int) -> [Double] {
    var y = [Double]()
    for p in 0..<(n * c) { for oy in 0..<(2 * h) { for ox in 0..<(2 * w) { y.append(x[p * h * w + (oy / 2) * w + ox / 2]) } } }
    return y
}

/// Bilinear 2x, align_corners = false: source = max((d + 0.5) * in/out - 0.5, 0).
public func upsampleBilinear2xReference(_ x: [Double], n: Int, c: Int, h: Int, w: Int) -> [Double] {
    func src(_ d: Int, _ size: Int) -> (Int, Int, Double) {
        let s = max((Double(d) + 0.5) * 0.5 - 0.5, 0)
        let i0 = Int(s.rounded(.down))
        return (i0, min(i0 + 1, size - 1), s - Double(i0))
    }
    var y = [Double]()
    for p in 0..<(n * c) { for oy in 0..<(2 * h) { for ox in 0..<(2 * w) {
        let (y0, y1, ly) = src(oy, h), (x0, x1, lx) = src(ox, w)
        let v = { (yy: Int, xx: Int) in x[p * h * w + yy * w + xx] }
        y.append((1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1)))
    } } }
    return y
}
