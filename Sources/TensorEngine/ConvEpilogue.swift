// What a convolution's forward can apply to its output while it is still in cache:
// an inference-mode batch norm's per-channel affine, a residual, a ReLU. Evaluation
// then makes one pass over each activation instead of three (conv, BN, add + ReLU).
//
// The operations are those of batchNorm2dForwardInference (one fused multiply-add
// with the scale and shift of bnInferenceAffine), add and reluForward, in that order,
// so a fused forward equals the unfused layers bit for bit: quantized models keep the
// exact levels the integer engine reproduces.

/// y = relu?(y * scale[c] + shift[c] + residual?) for every output value of channel c.
public struct ConvEpilogue {
    public var scale: UnsafePointer<Float>
    public var shift: UnsafePointer<Float>
    /// Added after the affine: same layout and batch as the convolution's output.
    public var residual: UnsafePointer<Float>?
    public var relu: Bool

    public init(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                relu: Bool) {
        self.scale = scale; self.shift = shift; self.residual = residual; self.relu = relu
    }

    /// The same epilogue for the output starting `offset` floats further on.
    func advanced(by offset: Int) -> ConvEpilogue {
        var e = self
        e.residual = residual.map { $0 + offset }
        return e
    }
}

/// Batch norm's inference affine for one channel: y = x * scale + shift. One function
/// for the BN layer and the fused epilogue, so both round alike.
@inline(__always)
public func bnInferenceAffine(gamma: Float, beta: Float, mean: Float, variance: Float,
                              eps: Float) -> (scale: Float, shift: Float) {
    let scale = Float(Double(gamma) / (Double(variance) + Double(eps)).squareRoot())
    return (scale, beta - mean * scale)
}

/// The float vectors the convolution's row operations run on, with the lane operations
/// they need written for each concrete type: the SIMD protocol's generic comparison and
/// rounding compile to one scalar operation per lane.
protocol ConvFloatVector: SIMD where Scalar == Float {
    func relu() -> Self
    /// (self * inverseStep) rounded to the nearest integer, ties to even.
    func levels(_ inverseStep: Float) -> Self
}
extension SIMD16: ConvFloatVector where Scalar == Float {
    @inline(__always) func relu() -> Self { Self().replacing(with: self, where: self .> Self()) }
    @inline(__always) func levels(_ inverseStep: Float) -> Self { (self * inverseStep).rounded(.toNearestOrEven) }
}
extension SIMD8: ConvFloatVector where Scalar == Float {
    @inline(__always) func relu() -> Self { Self().replacing(with: self, where: self .> Self()) }
    @inline(__always) func levels(_ inverseStep: Float) -> Self { (self * inverseStep).rounded(.toNearestOrEven) }
}
extension SIMD4: ConvFloatVector where Scalar == Float {
    @inline(__always) func relu() -> Self { Self().replacing(with: self, where: self .> Self()) }
    @inline(__always) func levels(_ inverseStep: Float) -> Self { (self * inverseStep).rounded(.toNearestOrEven) }
}

@inline(__always) func convEpilogueVector<V: ConvFloatVector>(_ v: V, _ scale: Float, _ shift: Float,
                                                                 _ residual: UnsafePointer<Float>?, _ relu: Bool) -> V {
    var y = V(repeating: shift)
    y.addProduct(v, V(repeating: scale))
    if let residual { y += UnsafeRawPointer(residual).loadUnaligned(as: V.self) }
    return relu ? y.relu() : y
}

@inline(__always) func convEpilogueScalar(_ v: Float, _ scale: Float, _ shift: Float,
                                          _ residual: UnsafePointer<Float>?, _ relu: Bool) -> Float {
    var y = shift.addingProduct(v, scale)
    if let residual { y += residual.pointee }
    return relu ? (y > 0 ? y : 0) : y
}

/// dst[0..<n] = epilogue(src[0..<n]) for one channel; src and dst may be the same.
@inline(__always) func convEpilogueRun(_ n: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                       scale: Float, shift: Float, residual: UnsafePointer<Float>?, relu: Bool) {
    var i = 0
    while i + 16 <= n {
        let v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self)
        let y = convEpilogueVector(v, scale, shift, residual.map { $0 + i }, relu)
        UnsafeMutableRawPointer(dst + i).storeBytes(of: y, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n {
        dst[i] = convEpilogueScalar(src[i], scale, shift, residual.map { $0 + i }, relu)
        i += 1
    }
}

/// dst[0..<n] = epilogue(src[0..<n]) in whole vectors, the last one overlapping the one
/// before (rows of 7, 14 or 28 floats). src, dst and the residual must not overlap.
@inline(__always) func convEpilogueRow(_ n: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                       scale: Float, shift: Float, residual: UnsafePointer<Float>?, relu: Bool) {
    if n >= 16 {
        var i = 0
        while i + 16 <= n { convEpilogueAt(SIMD16<Float>.self, i, src, dst, scale, shift, residual, relu); i += 16 }
        if i < n { convEpilogueAt(SIMD16<Float>.self, n - 16, src, dst, scale, shift, residual, relu) }
    } else if n >= 8 {
        convEpilogueAt(SIMD8<Float>.self, 0, src, dst, scale, shift, residual, relu)
        convEpilogueAt(SIMD8<Float>.self, n - 8, src, dst, scale, shift, residual, relu)
    } else if n >= 4 {
        convEpilogueAt(SIMD4<Float>.self, 0, src, dst, scale, shift, residual, relu)
        convEpilogueAt(SIMD4<Float>.self, n - 4, src, dst, scale, shift, residual, relu)
    } else {
        convEpilogueRun(n, src, dst, scale: scale, shift: shift, residual: residual, relu: relu)
    }
}

/// One vector of convEpilogueRow at offset i.
@inline(__always) func convEpilogueAt<V: ConvFloatVector>(_: V.Type, _ i: Int, _ src: UnsafePointer<Float>,
                                                          _ dst: UnsafeMutablePointer<Float>, _ scale: Float,
                                                          _ shift: Float, _ residual: UnsafePointer<Float>?,
                                                          _ relu: Bool) {
    let v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
    UnsafeMutableRawPointer(dst + i).storeBytes(of: convEpilogueVector(v, scale, shift, residual.map { $0 + i }, relu),
                                                as: V.self)
}

/// Applies the epilogue in place to images n0..<n0+count of a [N, C, plane] output.
func convApplyEpilogue(_ e: ConvEpilogue, channels: Int, plane: Int, images n0: Int, _ count: Int,
                       _ output: UnsafeMutablePointer<Float>) {
    for i in n0..<(n0 + count) {
        for c in 0..<channels {
            let off = (i * channels + c) * plane
            convEpilogueRun(plane, output + off, output + off, scale: e.scale[c], shift: e.shift[c],
                            residual: e.residual.map { $0 + off }, relu: e.relu)
        }
    }
}
