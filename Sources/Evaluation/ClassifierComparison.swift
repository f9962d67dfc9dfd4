// A classifier's integer model against the fake-quant network it was folded
// from, on the same images: each batch runs through the integer engine (uint8
// pixels) and through the network (the pixels normalised as the model file
// says); then the accuracy of each, their top-1 agreement, the largest and mean
// |logit difference|, and per activation how far the engine's levels are from the
// quantizer's (LevelParity). `gdqr eval --compare` prints it; a quantized run
// writes it into its folder (RUN/parity-wXaY.json).

import Foundation
import TensorEngine
import Layers
import GDQR
import IntegerInference

/// Top-1 class of `n` logits; ties go to the lower class.
public func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
    var best = 0
    for i in 1..<max(n, 1) where p[i] > p[best] { best = i }
    return best
}

public struct ClassifierComparison {
    public private(set) var count = 0
    public private(set) var correctInteger = 0, correctFakeQuant = 0, agreeing = 0
    public private(set) var maxLogitDiff: Float = 0
    public private(set) var sumLogitDiff = 0.0
    /// Seconds spent in the network's forward passes (the engine is not timed here).
    public private(set) var fakeQuantSeconds = 0.0
    public private(set) var levels: LevelParity

    public var accuracyInteger: Double { Double(correctInteger) / Double(max(count, 1)) }
    public var accuracyFakeQuant: Double { Double(correctFakeQuant) / Double(max(count, 1)) }
    public var agreement: Double { Double(agreeing) / Double(max(count, 1)) }
    public var meanLogitDiff: Double { sumLogitDiff / Double(max(count * levels.model.classes, 1)) }

    /// Runs `pixels` ([count][C][H][W], labels `labels`) in batches of at most `batch`
    /// through `engine` (built from `model`) and through `net` in eval mode; `quantizers`
    /// are the network's activation quantizers.
    public init(model: IntegerModel, engine: IntegerEngine, net: Network, quantizers: [ActivationQuantizer],
                pool: ThreadPool?, pixels: [UInt8], labels: [Int32], batch: Int) throws {
        levels = LevelParity(model, quantizers: quantizers)
        let rt = Runtime(arena: net.arena, pool: pool)
        rt.training = false
        rt.step = Int.max / 2
        let input = model.normalizedInput(pixels)
        let size = model.input.count, classes = model.classes
        let total = labels.count
        try input.withUnsafeBufferPointer { inp in
            try pixels.withUnsafeBufferPointer { px in
                var i = 0
                while i < total {
                    let n = min(batch, total - i)
                    let li = engine.run(px.baseAddress! + i * size, batch: n)
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let lf = net.forward(inp.baseAddress! + i * size, batch: n, rt: rt)
                    fakeQuantSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                    for s in 0..<n {
                        let pi = argmax(li + s * classes, classes), pf = argmax(lf + s * classes, classes)
                        if pi == pf { agreeing += 1 }
                        if pi == Int(labels[i + s]) { correctInteger += 1 }
                        if pf == Int(labels[i + s]) { correctFakeQuant += 1 }
                        for c in 0..<classes {
                            let d = abs(lf[s * classes + c] - li[s * classes + c])
                            maxLogitDiff = max(maxLogitDiff, d); sumLogitDiff += Double(d)
                        }
                    }
                    try levels.add(engine, batch: n)
                    i += n
                }
            }
        }
        count = total
    }

    /// The report's keys (those of `gdqr eval --compare --json`).
    public var json: [String: Any] {
        ["images": count, "accuracy_integer": accuracyInteger, "accuracy_fakequant": accuracyFakeQuant,
         "agreement": agreement, "max_abs_logit_diff": Double(maxLogitDiff), "mean_abs_logit_diff": meanLogitDiff,
         "layers": levels.json]
    }
}

extension IntegerModel {
    /// The float network's input for these pixels (NCHW samples): x = (p/255 - mean_c)/std_c,
    /// with one mean and std for all channels or one per channel.
    public func normalizedInput(_ pixels: [UInt8]) -> [Float] {
        let c = input.channels, plane = input.height * input.width
        let luts = (0..<c).map { ch -> [Float] in
            let mean = normMean.count == c ? normMean[ch] : normMean[0], std = normStd.count == c ? normStd[ch] : normStd[0]
            return (0..<256).map { (Float($0) / 255 - mean) / std }
        }
        if c == 1 { return pixels.map { luts[0][Int($0)] } }
        return pixels.indices.map { luts[($0 / plane) % c][Int(pixels[$0])] }
    }
}
