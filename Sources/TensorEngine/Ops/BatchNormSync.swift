// Synchronised batch norm (SyncBN): the batch statistics, and in backward the
// sums that couple the samples, are all-reduced across data-parallel ranks, so
// N ranks at batch B normalise exactly as one rank at batch N*B would.
//
// Two phases around one all-reduce of per-channel Double sums: the caller passes
// `reduce`, which sums a buffer in place across ranks (identity on one rank).
// Forward combines sum(x) and sum(x^2) in Double; backward uses the GLOBAL sums
// for the input gradient but the LOCAL sums for gamma and beta, because the
// trainer averages parameter gradients over ranks afterwards (each rank's loss is
// its local mean, so global sums there would count every sample N times).

public typealias ChannelSumReducer = (UnsafeMutableBufferPointer<Double>) -> Void

/// Training forward with statistics over all ranks. `scratch` holds 2*c+1 Doubles;
/// `globalCount` receives the number of values per channel over all ranks (N*H*W
/// summed), which backward needs.
public func batchNorm2dForwardTrainingSync(
    input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
    n: Int, c: Int, h: Int, w: Int,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
    runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
    saveMean: UnsafeMutablePointer<Float>, saveInvStd: UnsafeMutablePointer<Float>,
    globalCount: inout Double, scratch: UnsafeMutablePointer<Double>,
    momentum: Float = 0.1, eps: Float = 1e-5, fuseReLU: Bool = false,
    pool: ThreadPool? = nil, reduce: ChannelSumReducer
) {
    let hw = h * w
    opsFor(pool, items: c, elementsPerItem: n * hw) { channels in
        for ch in channels {
            // sum(x^2) - m*mean^2 cancels: these sums are taken plane by plane in
            // Double (Reductions.swift), not in ChannelSums' longer Float runs.
            var s = 0.0, q = 0.0
            for b in 0..<n {
                let p = x + (b * c + ch) * hw
                s += opsSumDouble(p, count: hw)
                q += opsSumSquaredDeviation(p, count: hw, center: 0)
            }
            scratch[ch] = s
            scratch[c + ch] = q
        }
    }
    scratch[2 * c] = Double(n * hw)
    reduce(UnsafeMutableBufferPointer(start: scratch, count: 2 * c + 1))
    let m = scratch[2 * c]
    precondition(m > 0, "batchNorm2dForwardTrainingSync: empty batch on every rank")
    globalCount = m
    for ch in 0..<c {
        let mean = scratch[ch] / m
        let variance = max(scratch[c + ch] / m - mean * mean, 0)
        let invstd = 1 / (variance + Double(eps)).squareRoot()
        saveMean[ch] = Float(mean)
        saveInvStd[ch] = Float(invstd)
        let unbiased = m > 1 ? variance * m / (m - 1) : variance
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * Float(mean)
        runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * Float(unbiased)
    }
    opsFor(pool, items: c, elementsPerItem: n * hw) { channels in
        for ch in channels {
            let scale = gamma[ch] * saveInvStd[ch]
            let shift = beta[ch] - saveMean[ch] * scale
            for b in 0..<n {
                let off = (b * c + ch) * hw
                bnAffinePlane(x + off, y + off, count: hw, scale: scale, shift: shift, relu: fuseReLU)
            }
        }
    }
}

/// Backward of the synchronised forward. `scratch` holds 2*c Doubles.
public func batchNorm2dBackwardSync(
    input x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>, gradInput dx: UnsafeMutablePointer<Float>,
    n: Int, c: Int, h: Int, w: Int,
    gamma: UnsafePointer<Float>, saveMean: UnsafePointer<Float>, saveInvStd: UnsafePointer<Float>,
    gradGamma: UnsafeMutablePointer<Float>, gradBeta: UnsafeMutablePointer<Float>,
    globalCount m: Double, scratch: UnsafeMutablePointer<Double>,
    reluOutput: UnsafePointer<Float>? = nil, pool: ThreadPool? = nil, reduce: ChannelSumReducer
) {
    let hw = h * w
    opsFor(pool, items: c, elementsPerItem: 2 * n * hw) { channels in
        for ch in channels {
            let mean = saveMean[ch]
            let (sumDy, sumDyXmu) = opsChannelGradientSums(x: x + ch * hw, dy: dy + ch * hw,
                                                           mask: reluOutput.map { $0 + ch * hw },
                                                           planes: n, stride: c * hw, count: hw, mean: mean)
            gradBeta[ch] = Float(sumDy)
            gradGamma[ch] = Float(sumDyXmu * Double(saveInvStd[ch]))
            scratch[ch] = sumDy
            scratch[c + ch] = sumDyXmu
        }
    }
    reduce(UnsafeMutableBufferPointer(start: scratch, count: 2 * c))
    opsFor(pool, items: c, elementsPerItem: n * hw) { channels in
        for ch in channels {
            let mean = saveMean[ch], invstd = saveInvStd[ch]
            let a = gamma[ch] * invstd
            let k = Float(Double(invstd) * Double(invstd) * scratch[c + ch] / m)
            let cst = Float(scratch[ch] / m)
            for b in 0..<n {
                let off = (b * c + ch) * hw
                bnBackwardPlane(x + off, dy + off, reluOutput.map { $0 + off }, dx + off, count: hw,
                                mean: mean, a: a, k: k, cst: cst)
            }
        }
    }
}
