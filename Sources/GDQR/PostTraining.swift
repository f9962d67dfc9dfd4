// Post-training quantization of a trained network built with a GDQRPolicy, and
// the PSG gradient scaling.
//
// `runBatches` runs the network forward (rt.training = false) over the
// calibration batches; these helpers switch the quantizers' modes around it.
//
// calibrateMinMax: activations T_a = max over the batches of max|a| (the float
//   network's activations: quantizers pass through while calibrating); weights
//   T_g = max|W_g| per group, recomputed at each forward.
// searchThresholds (EasyQuant-style, simplified): after min-max calibration,
//   each weight group gets T_g = α·max|W_g| and each activation T_a = β·max|a|,
//   α, β from a grid (default 0.5 ... 1.2 by 0.05), chosen to maximise the cosine
//   similarity between the tensor and its quantized version (weights per group;
//   activations accumulated over the calibration batches). NOTE: EasyQuant
//   maximises the similarity of each layer's OUTPUT and alternates weights and
//   activations; this is the tensor-level variant (quant.mode ptq-search). The
//   per-layer search itself is searchLayerScales (PostTrainingLayerSearch.swift,
//   quant.mode ptq-easyquant).

import Layers
import TensorEngine

public enum PostTraining {
    /// The default scale grid 0.5, 0.55, ..., 1.2.
    public static let defaultGrid: [Float] = (0...14).map { 0.5 + Float($0) * 0.05 }

    /// Min-max calibration (see the file comment). Leaves every quantizer active.
    public static func calibrateMinMax(policy: GDQRPolicy, arena: ParameterArena, runBatches: () -> Void) {
        for q in policy.activationQuantizers {
            arena.stat(q.runningMax)[0] = 0
            q.calibrating = true
            q.bypass = false
        }
        for q in policy.weightQuantizers { q.bypass = true }
        runBatches()
        for q in policy.activationQuantizers {
            q.calibrating = false
            q.source = .minMax
        }
        for q in policy.weightQuantizers {
            q.bypass = false
            q.source = .minMax
            q.fixedThresholds = nil
        }
    }

    /// Cosine-similarity threshold search (see the file comment); returns the
    /// chosen scale per quantizer name (weights: one per group).
    @discardableResult
    public static func searchThresholds(policy: GDQRPolicy, arena: ParameterArena, grid: [Float] = defaultGrid,
                                        runBatches: () -> Void) -> [String: [Float]] {
        precondition(!grid.isEmpty, "searchThresholds: empty grid")
        calibrateMinMax(policy: policy, arena: arena, runBatches: runBatches)
        var chosen: [String: [Float]] = [:]

        // Weights: per group, data-free.
        for q in policy.weightQuantizers {
            let w = UnsafePointer(arena.value(q.weight)), gs = q.groupSize
            let scratch = Tensor.allocate(gs)
            defer { scratch.deallocate() }
            var thresholds: [Float] = [], scales: [Float] = []
            for g in 0..<q.groups {
                let p = w + g * gs
                let mx = quantMaxAbs(p, count: gs)
                var best = (cos: -Double.infinity, scale: Float(1))
                for s in grid {
                    let t = s * mx
                    fakeQuantize(p, into: scratch, count: gs,
                                 grid: QuantGrid(delta: t / Float(q.maxLevel), lo: Float(q.minLevel), hi: Float(q.maxLevel)))
                    let c = cosine(p, UnsafePointer(scratch), count: gs)
                    if c > best.cos { best = (c, s) }
                }
                thresholds.append(best.scale * mx)
                scales.append(best.scale)
            }
            q.fixedThresholds = thresholds
            chosen[q.layer] = scales
        }

        // Activations: accumulate Σ a·Q(a), Σ Q(a)², Σ a² per candidate over the batches.
        var sums: [ObjectIdentifier: [(dot: Double, qq: Double, aa: Double)]] = [:]
        var scratch = [Float]()
        for q in policy.activationQuantizers {
            let mx = arena.stat(q.runningMax)[0]
            let id = ObjectIdentifier(q)
            sums[id] = Array(repeating: (0, 0, 0), count: grid.count)
            q.bypass = true   // the float network feeds every layer
            q.inputObserver = { x, n in
                if scratch.count < n { scratch = [Float](repeating: 0, count: n) }
                scratch.withUnsafeMutableBufferPointer { buf in
                    let out = buf.baseAddress!
                    for (j, s) in grid.enumerated() {
                        fakeQuantize(x, into: out, count: n, grid: q.grid(threshold: s * mx))
                        let (d, qq, aa) = dotStats(x, UnsafePointer(out), count: n)
                        sums[id]![j].dot += d; sums[id]![j].qq += qq; sums[id]![j].aa += aa
                    }
                }
            }
        }
        for q in policy.weightQuantizers { q.bypass = true }
        runBatches()
        for q in policy.weightQuantizers { q.bypass = false }
        for q in policy.activationQuantizers {
            q.inputObserver = nil
            q.bypass = false
            let s = sums[ObjectIdentifier(q)]!
            var best = (cos: -Double.infinity, j: grid.count - 1)
            for (j, v) in s.enumerated() {
                let c = v.qq > 0 && v.aa > 0 ? v.dot / (v.qq.squareRoot() * v.aa.squareRoot()) : -1
                if c > best.cos { best = (c, j) }
            }
            let mx = arena.stat(q.runningMax)[0]
            q.source = .fixed(grid[best.j] * mx)
            chosen[q.name] = [grid[best.j]]
        }
        return chosen
    }

    /// Σ a·b, Σ b², Σ a² in Double, fixed order.
    static func dotStats(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> (Double, Double, Double) {
        var d = 0.0, bb = 0.0, aa = 0.0
        var i = 0
        while i + 16 <= count {
            let x = qLoad(a + i), y = qLoad(b + i)
            let pd = x * y, pb = y * y, pa = x * x
            for l in 0..<16 { d += Double(pd[l]); bb += Double(pb[l]); aa += Double(pa[l]) }
            i += 16
        }
        while i < count { d += Double(a[i] * b[i]); bb += Double(b[i] * b[i]); aa += Double(a[i] * a[i]); i += 1 }
        return (d, bb, aa)
    }

    /// Cosine similarity of two vectors (-1 when either is zero).
    public static func cosine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
        let (d, bb, aa) = dotStats(a, b, count: count)
        return bb > 0 && aa > 0 ? d / (bb.squareRoot() * aa.squareRoot()) : -1
    }
}

/// Position-based scaled gradients (PSG): after backward, multiplies each quantized
/// weight's gradient by λ·|w − Q(w)|, with Q(w) the quantizer's output at the last
/// forward (the weights have not changed since). Layers without a quantizer keep
/// their gradients.
public func psgScaleGradients(arena: ParameterArena, quantizers: [GroupWeightQuantizer], lambda: Float) {
    let lv = SIMD16<Float>(repeating: lambda)
    for q in quantizers {
        let w = UnsafePointer(arena.value(q.weight)), qw = q.quantized, g = arena.grad(q.weight)
        let n = q.count
        var i = 0
        while i + 16 <= n {
            let d = qLoad(w + i) - qLoad(qw + i)
            let s = lv * d.replacing(with: -d, where: d .< 0)
            qStore(qLoad(UnsafePointer(g + i)) * s, g + i)
            i += 16
        }
        while i < n { g[i] *= lambda * abs(w[i] - qw[i]); i += 1 }
    }
}
