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

/// An operation on a row of floats, applied one vector or one float at an offset; the
/// drivers below choose the vectors.
protocol ConvRowOp {
    func vector<V: ConvFloatVector>(_: V.Type, at i: Int)
    func scalar(at i: Int)
}

/// op over 0..<n in whole vectors, the last one overlapping the one before: rows of 7,
/// 14 or 28 floats would otherwise end in 7 to 14 scalar steps. The op must not read
/// what it writes (an overlapped vector is computed twice).
@inline(__always) func convRowOverlapping<Op: ConvRowOp>(_ n: Int, _ op: Op) {
    if n >= 16 {
        var i = 0
        while i + 16 <= n { op.vector(SIMD16<Float>.self, at: i); i += 16 }
        if i < n { op.vector(SIMD16<Float>.self, at: n - 16) }
    } else if n >= 8 {
        op.vector(SIMD8<Float>.self, at: 0); op.vector(SIMD8<Float>.self, at: n - 8)
    } else if n >= 4 {
        op.vector(SIMD4<Float>.self, at: 0); op.vector(SIMD4<Float>.self, at: n - 4)
    } else {
        for i in 0..<n { op.scalar(at: i) }
    }
}

/// op over 0..<n in 16-float vectors, then single floats: each element once, so the op
/// may work in place.
@inline(__always) func convRowInPlace<Op: ConvRowOp>(_ n: Int, _ op: Op) {
    var i = 0
    while i + 16 <= n { op.vector(SIMD16<Float>.self, at: i); i += 16 }
    while i < n { op.scalar(at: i); i += 1 }
}

/// dst = relu?((src * preScale?) * scale + shift + residual?) (the multiply by preScale
/// rounded on its own, as when a separate pass stored it).
struct ConvEpilogueRowOp: ConvRowOp {
    let src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
    var preScale: Float? = nil
    let scale: Float, shift: Float
    let residual: UnsafePointer<Float>?
    let relu: Bool

    @inline(__always) func vector<V: ConvFloatVector>(_: V.Type, at i: Int) {
        var v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
        if let preScale { v *= preScale }
        var y = V(repeating: shift)
        y.addProduct(v, V(repeating: scale))
        if let residual { y += UnsafeRawPointer(residual + i).loadUnaligned(as: V.self) }
        UnsafeMutableRawPointer(dst + i).storeBytes(of: relu ? y.relu() : y, as: V.self)
    }

    @inline(__always) func scalar(at i: Int) {
        let v = preScale.map { src[i] * $0 } ?? src[i]
        var y = shift.addingProduct(v, scale)
        if let residual { y += residual[i] }
        dst[i] = relu ? (y > 0 ? y : 0) : y
    }
}

/// Applies the epilogue in place to images n0..<n0+count of a [N, C, plane] output.
func convApplyEpilogue(_ e: ConvEpilogue, channels: Int, plane: Int, images n0: Int, _ count: Int,
                       _ output: UnsafeMutablePointer<Float>) {
    for i in n0..<(n0 + count) {
        for c in 0..<channels {
            let off = (i * channels + c) * plane
            convRowInPlace(plane, ConvEpilogueRowOp(src: output + off, dst: output + off, scale: e.scale[c],
                                                    shift: e.shift[c], residual: e.residual.map { $0 + off },
                                                    relu: e.relu))
        }
    }
}
