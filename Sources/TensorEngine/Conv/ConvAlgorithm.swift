// Which algorithm computes a convolution: one function of the shape, the pass and
// the quantization state, so the choice is stated in one place (and printed per
// layer by `--verbose`) instead of being implied by which buffers a workspace made.
//
// The predicates and their measurements live beside each algorithm:
// usesWinograd (WinogradF2x2/WinogradF2x2.swift), usesWinogradWeightGradient
// (WinogradF2x2WeightGradient.swift), usesImplicitGemm (ImplicitGemm.swift).

public enum ConvAlgorithm: String, Sendable {
    /// One filter per channel, direct loops (Depthwise.swift).
    case depthwise
    /// Winograd F(2x2, 3x3) on integer levels, exact in Float (WinogradF2x2Levels.swift).
    case winogradF2x2Levels = "winograd-f2x2-levels"
    /// Winograd F(4x4, 3x3) for float forward and backward-data (WinogradF4x4.swift).
    case winogradF4x4 = "winograd-f4x4"
    /// Winograd F(2x2, 3x3) weight gradient (WinogradF2x2WeightGradient.swift).
    case winogradF2x2 = "winograd-f2x2"
    /// GEMM reading B rows in place from a zero-bordered image (ImplicitGemm.swift).
    case implicitGemm = "implicit-gemm"
    /// Column matrix then GEMM (Im2col.swift; 1x1 stride 1 reads the image directly).
    case im2col
}

public enum ConvPass: String, Sendable {
    case forward, backwardData = "backward-data", backwardWeights = "backward-weights"
}

/// The algorithm of `pass` for shape `s`. Forward only: `winograd: false` keeps the
/// direct sums on a Winograd shape (fake-quantized layers, whose forward must match
/// the integer engine); `exactLevels` says that the input and weights are on their
/// quantization grids with an exact Winograd bound (ConvLevels.isExact) and no bias.
public func convAlgorithm(_ s: Conv2dShape, pass: ConvPass, winograd: Bool = true,
                          exactLevels: Bool = false) -> ConvAlgorithm {
    if s.isDepthwise { return .depthwise }
    switch pass {
    case .forward:
        if exactLevels && s.usesWinograd { return .winogradF2x2Levels }
        if winograd && s.usesWinograd { return .winogradF4x4 }
    case .backwardData:
        if s.usesWinograd { return .winogradF4x4 }
    case .backwardWeights:
        if s.usesWinogradWeightGradient { return .winogradF2x2 }
    }
    return s.usesImplicitGemm ? .implicitGemm : .im2col
}
