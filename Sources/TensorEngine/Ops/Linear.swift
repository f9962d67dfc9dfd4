// Fully connected layer, PyTorch layout: y[N, out] = x[N, in] * W^T + b,
// W [out, in], b [out]. The products go through gemm (row-major); the bias add
// and the bias gradient (column sums of gradOutput, rows added in order in
// Float SIMD lanes) are done here. Determinism is gemm's plus a fixed order.

/// y = x * W^T + b (b may be nil). Overwrites y.
public func linearForward(input x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          output y: UnsafeMutablePointer<Float>,
                          batch: Int, inFeatures: Int, outFeatures: Int, pool: ThreadPool? = nil) {
    if batch == 0 || outFeatures == 0 { return }
    gemm(transA: false, transB: true, m: batch, n: outFeatures, k: inFeatures,
         alpha: 1, a: x, lda: inFeatures, b: weight, ldb: inFeatures,
         beta: 0, c: y, ldc: outFeatures, pool: pool)
    guard let bias = bias else { return }
    for r in 0..<batch { addInPlace(y + r * outFeatures, bias, count: outFeatures) }
}

/// Backward of linearForward. Overwrites gradInput [N, in] (skipped when nil),
/// gradWeight [out, in] = gradOutput^T * x, and gradBias [out] = column sums of
/// gradOutput (skipped when nil).
public func linearBackward(input x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           gradOutput gy: UnsafePointer<Float>,
                           gradInput: UnsafeMutablePointer<Float>?,
                           gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
                           batch: Int, inFeatures: Int, outFeatures: Int, pool: ThreadPool? = nil) {
    if let gx = gradInput {
        if outFeatures == 0 {
            gx.update(repeating: 0, count: batch * inFeatures)
        } else if batch > 0 {
            gemm(transA: false, transB: false, m: batch, n: inFeatures, k: outFeatures,
                 alpha: 1, a: gy, lda: outFeatures, b: weight, ldb: inFeatures,
                 beta: 0, c: gx, ldc: inFeatures, pool: pool)
        }
    }
    if batch == 0 {
        gradWeight.update(repeating: 0, count: outFeatures * inFeatures)
    } else {
        gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: batch,
             alpha: 1, a: gy, lda: outFeatures, b: x, ldb: inFeatures,
             beta: 0, c: gradWeight, ldc: inFeatures, pool: pool)
    }
    if let gb = gradBias {
        gb.update(repeating: 0, count: outFeatures)
        for r in 0..<batch { addInPlace(gb, gy + r * outFeatures, count: outFeatures) }
    }
}
