// BatchNorm2d over NCHW: statistics per channel over (N, H, W).
//
// Training forward normalises with the batch mean and the biased batch
// variance, saves mean and invstd = 1/sqrt(var + eps) per channel for the
// backward, and updates the running statistics as PyTorch does:
//   running = (1 - momentum) * running + momentum * batchStat,
// the running variance taking the UNBIASED batch variance (var * M / (M - 1),
// M = N*H*W; the biased one when M == 1). Eval forward uses the running stats.
// The backward recomputes x-hat from the input and the saved mean/invstd.
//
// Optionally fused with a following ReLU: the forward clamps its output at 0,
// and the backward, given that output, masks gradOutput with (output > 0).
//
// Each channel is handled entirely by one thread; its sums use the fixed-order
// SIMD reductions of Reductions.swift (Float within 4096-element blocks of one
// plane, Double across blocks and planes), so results do not depend on the
// thread count. Channels are spread over the pool when the tensor is large.

@inline(__always)
func bnAffinePlane(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                           scale: Float, shift: Float, relu: Bool) {
    let sv = SIMD16<Float>(repeating: scale), bv = SIMD16<Float>(repeating: shift)
    let zero = SIMD16<Float>()
    var i = 0
    if relu {
        while i + 16 <= count {
            var v = bv; v.addProduct(opsLoad16(x + i), sv)
            opsStore16(zero.replacing(with: v, where: v .> zero), y + i); i += 16
        }
        while i < count { let v = shift.addingProduct(x[i], scale); y[i] = v > 0 ? v : 0; i += 1 }
    } else {
        while i + 16 <= count {
            var v = bv; v.addProduct(opsLoad16(x + i), sv)
            opsStore16(v, y + i); i += 16
        }
        while i < count { y[i] = shift.addingProduct(x[i], scale); i += 1 }
    }
}

/// Training-mode forward. x, y: [n, c, h, w]; gamma, beta, runningMean, runningVar,
/// saveMean, saveInvStd: [c]. Writes y, saveMean, saveInvStd; updates the running stats.
/// y may alias x. With fuseReLU, y = max(bn(x), 0).
public func batchNorm2dForwardTraining(
    input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
    n: Int, c: Int, h: Int, w: Int,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
    saveMean: UnsafeMutablePointer<Float>, saveInvStd: UnsafeMutablePointer<Float>,
    momentum: Float = 0.1, eps: Float = 1e-5, fuseReLU: Bool = false,
    pool: ThreadPool? = nil
) {
    let hw = h * w, m = n * hw
    precondition(m > 0, "batchNorm2dForwardTraining: empty batch")
    opsFor(pool, items: c, elementsPerItem: m) { channels in
        for ch in channels {
            var s = 0.0
            for b in 0..<n { s += opsSumDouble(x + (b * c + ch) * hw, count: hw) }
            let mean = Float(s / Double(m))
            var q = 0.0
            for b in 0..<n { q += opsSumSquaredDeviation(x + (b * c + ch) * hw, count: hw, center: mean) }
            let variance = q / Double(m)
            let invstd = 1.0 / (variance + Double(eps)).squareRoot()
            saveMean[ch] = mean
            saveInvStd[ch] = Float(invstd)
            let unbiased = m > 1 ? q / Double(m - 1) : variance
            runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean
            runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * Float(unbiased)
            let scale = gamma[ch] * Float(invstd)
            let shift = beta[ch] - mean * scale
            for b in 0..<n {
                let off = (b * c + ch) * hw
                bnAffinePlane(x + off, y + off, count: hw, scale: scale, shift: shift, relu: fuseReLU)
            }
        }
    }
}

/// Eval-mode forward with the running statistics: y = (x - rm) / sqrt(rv + eps) * gamma + beta,
/// computed as x * scale + shift per channel. y may alias x.
public func batchNorm2dForwardInference(
    input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
    n: Int, c: Int, h: Int, w: Int,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafePointer<Float>, runningVar: UnsafePointer<Float>,
    eps: Float = 1e-5, fuseReLU: Bool = false, pool: ThreadPool? = nil
) {
    let hw = h * w
    opsFor(pool, items: c, elementsPerItem: n * hw) { channels in
        for ch in channels {
            let scale = Float(Double(gamma[ch]) / (Double(runningVar[ch]) + Double(eps)).squareRoot())
            let shift = beta[ch] - runningMean[ch] * scale
            for b in 0..<n {
                let off = (b * c + ch) * hw
                bnAffinePlane(x + off, y + off, count: hw, scale: scale, shift: shift, relu: fuseReLU)
            }
        }
    }
}

/// Backward of the training-mode forward. Overwrites gradInput [n,c,h,w], gradGamma [c],
/// gradBeta [c]. With reluOutput (the fused forward's output y), gradOutput is first
/// masked by (y > 0). gradInput may alias gradOutput.
public func batchNorm2dBackward(
    input x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
    gradInput dx: UnsafeMutablePointer<Float>,
    n: Int, c: Int, h: Int, w: Int,
    gamma: UnsafePointer<Float>, saveMean: UnsafePointer<Float>, saveInvStd: UnsafePointer<Float>,
    gradGamma: UnsafeMutablePointer<Float>, gradBeta: UnsafeMutablePointer<Float>,
    reluOutput: UnsafePointer<Float>? = nil, pool: ThreadPool? = nil
) {
    let hw = h * w, m = n * hw
    precondition(m > 0, "batchNorm2dBackward: empty batch")
    opsFor(pool, items: c, elementsPerItem: 2 * m) { channels in
        for ch in channels {
            let mean = saveMean[ch], invstd = saveInvStd[ch]
            let mv = SIMD16<Float>(repeating: mean)
            let zero = SIMD16<Float>()
            // Pass 1: sum(dy) and sum(dy * (x - mean)), masked by the ReLU output if fused.
            var sumDy = 0.0, sumDyXmu = 0.0
            for b in 0..<n {
                let off = (b * c + ch) * hw
                let xp = x + off, gp = dy + off
                var start = 0
                while start < hw {
                    let len = min(opsReduceBlock, hw - start)
                    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), d0 = SIMD16<Float>(), d1 = SIMD16<Float>()
                    var i = start
                    var ts = 0.0, td = 0.0
                    if let yp = reluOutput?.advanced(by: off) {
                        while i + 32 <= start + len {
                            let g0 = zero.replacing(with: opsLoad16(gp + i), where: opsLoad16(yp + i) .> zero)
                            let g1 = zero.replacing(with: opsLoad16(gp + i + 16), where: opsLoad16(yp + i + 16) .> zero)
                            s0 += g0; s1 += g1
                            d0.addProduct(g0, opsLoad16(xp + i) - mv); d1.addProduct(g1, opsLoad16(xp + i + 16) - mv)
                            i += 32
                        }
                        while i < start + len {
                            let g = yp[i] > 0 ? gp[i] : 0
                            ts += Double(g); td += Double(g) * Double(xp[i] - mean); i += 1
                        }
                    } else {
                        while i + 32 <= start + len {
                            let g0 = opsLoad16(gp + i), g1 = opsLoad16(gp + i + 16)
                            s0 += g0; s1 += g1
                            d0.addProduct(g0, opsLoad16(xp + i) - mv); d1.addProduct(g1, opsLoad16(xp + i + 16) - mv)
                            i += 32
                        }
                        while i < start + len {
                            ts += Double(gp[i]); td += Double(gp[i]) * Double(xp[i] - mean); i += 1
                        }
                    }
                    sumDy += opsLaneSum(s0 + s1) + ts
                    sumDyXmu += opsLaneSum(d0 + d1) + td
                    start += len
                }
            }
            gradBeta[ch] = Float(sumDy)
            gradGamma[ch] = Float(sumDyXmu * Double(invstd))
            // Pass 2: dx = gamma*invstd * (dy - sumDy/M - (x - mean) * invstd^2 * sumDyXmu/M).
            let a = gamma[ch] * invstd
            let k = Float(Double(invstd) * Double(invstd) * sumDyXmu / Double(m))
            let cst = Float(sumDy / Double(m))
            let av = SIMD16<Float>(repeating: a), kv = SIMD16<Float>(repeating: k)
            let cv = SIMD16<Float>(repeating: cst)
            for b in 0..<n {
                let off = (b * c + ch) * hw
                let xp = x + off, gp = dy + off, op = dx + off
                var i = 0
                if let yp = reluOutput?.advanced(by: off) {
                    while i + 16 <= hw {
                        let g = zero.replacing(with: opsLoad16(gp + i), where: opsLoad16(yp + i) .> zero)
                        var t = g - cv
                        t.addProduct(-kv, opsLoad16(xp + i) - mv)
                        opsStore16(av * t, op + i); i += 16
                    }
                    while i < hw {
                        let g = yp[i] > 0 ? gp[i] : 0
                        op[i] = a * (g - cst).addingProduct(-k, xp[i] - mean); i += 1
                    }
                } else {
                    while i + 16 <= hw {
                        var t = opsLoad16(gp + i) - cv
                        t.addProduct(-kv, opsLoad16(xp + i) - mv)
                        opsStore16(av * t, op + i); i += 16
                    }
                    while i < hw { op[i] = a * (gp[i] - cst).addingProduct(-k, xp[i] - mean); i += 1 }
                }
            }
        }
    }
}
