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
// channel sums of ChannelSums.swift (Float SIMD within about 4096 elements,
// Double beyond), so results do not depend on the thread count. Channels are spread over the pool when the tensor is large.

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

/// dx = a * (g - cst - k * (x - mean)) over one plane, g = dy masked by (mask > 0) when
/// given: the second pass of the backward (a = gamma*invstd, k = invstd^2 * sumDyXmu/M,
/// cst = sumDy/M). dx may alias dy.
@inline(__always)
func bnBackwardPlane(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ mask: UnsafePointer<Float>?,
                     _ dx: UnsafeMutablePointer<Float>, count: Int, mean: Float, a: Float, k: Float, cst: Float) {
    let av = SIMD16<Float>(repeating: a), kv = SIMD16<Float>(repeating: k)
    let cv = SIMD16<Float>(repeating: cst), mv = SIMD16<Float>(repeating: mean), zero = SIMD16<Float>()
    var i = 0
    if let mask {
        while i + 16 <= count {
            let g = zero.replacing(with: opsLoad16(dy + i), where: opsLoad16(mask + i) .> zero)
            var t = g - cv
            t.addProduct(-kv, opsLoad16(x + i) - mv)
            opsStore16(av * t, dx + i); i += 16
        }
        while i < count {
            let g = mask[i] > 0 ? dy[i] : 0
            dx[i] = a * (g - cst).addingProduct(-k, x[i] - mean); i += 1
        }
    } else {
        while i + 16 <= count {
            var t = opsLoad16(dy + i) - cv
            t.addProduct(-kv, opsLoad16(x + i) - mv)
            opsStore16(av * t, dx + i); i += 16
        }
        while i < count { dx[i] = a * (dy[i] - cst).addingProduct(-k, x[i] - mean); i += 1 }
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
            let s = opsChannelSum(x + ch * hw, planes: n, stride: c * hw, count: hw)
            let mean = Float(s / Double(m))
            let q = opsChannelSumSquaredDeviation(x + ch * hw, planes: n, stride: c * hw, count: hw, center: mean)
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
            let (scale, shift) = bnInferenceAffine(gamma: gamma[ch], beta: beta[ch], mean: runningMean[ch],
                                                   variance: runningVar[ch], eps: eps)
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
            // Pass 1: sum(dy) and sum(dy * (x - mean)), masked by the ReLU output if fused.
            let (sumDy, sumDyXmu) = opsChannelGradientSums(x: x + ch * hw, dy: dy + ch * hw,
                                                           mask: reluOutput.map { $0 + ch * hw },
                                                           planes: n, stride: c * hw, count: hw, mean: mean)
            gradBeta[ch] = Float(sumDy)
            gradGamma[ch] = Float(sumDyXmu * Double(invstd))
            // Pass 2: dx = gamma*invstd * (dy - sumDy/M - (x - mean) * invstd^2 * sumDyXmu/M).
            let a = gamma[ch] * invstd
            let k = Float(Double(invstd) * Double(invstd) * sumDyXmu / Double(m))
            let cst = Float(sumDy / Double(m))
            for b in 0..<n {
                let off = (b * c + ch) * hw
                bnBackwardPlane(x + off, dy + off, reluOutput.map { $0 + off }, dx + off, count: hw,
                                mean: mean, a: a, k: k, cst: cst)
            }
        }
    }
}
