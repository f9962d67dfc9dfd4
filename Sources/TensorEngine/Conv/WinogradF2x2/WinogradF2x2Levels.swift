// Winograd on integer levels: the forward of a fake-quantized convolution whose input
// and weights both lie on quantization grids, x = lx * sx and w = lw * sw[co] with
// small integers lx, lw. The planes get lx (x / sx, rounded: exact, as x was lx * sx
// rounded once), the kernels lw, and every Winograd step is then exact in Float:
// U = G lw G^T holds quarters of integers, V = B^T lx B integers, and all sums stay
// below 2^24 quarters when 324 * Cin * max|lw| * max|lx| < 2^24 (|4U| <= 9 max|lw|,
// |V| <= 4 max|lx|, Cin products per M entry, A^T M A adds up to 9 of them). The
// output is that exact integer sum times sx * sw[co], rounded once.
//
// So the forward costs what the float Winograd costs, and it is closer to the integer
// engine (which sums exactly) than the direct float convolution it replaces (whose
// products and sums of lx*sx and lw*sw round at every step).

/// The quantization grids of a convolution's input and weights.
public struct ConvLevels {
    /// The input's step and largest level magnitude.
    public var inputStep: Float
    public var inputMaxLevel: Int
    /// Each output channel's weight step, and the largest weight level magnitude.
    public var weightSteps: UnsafePointer<Float>
    public var weightMaxLevel: Int

    public init(inputStep: Float, inputMaxLevel: Int, weightSteps: UnsafePointer<Float>, weightMaxLevel: Int) {
        self.inputStep = inputStep; self.inputMaxLevel = inputMaxLevel
        self.weightSteps = weightSteps; self.weightMaxLevel = weightMaxLevel
    }

    /// Whether Winograd over `inChannels` channels of these levels sums exactly.
    func isExact(inChannels: Int) -> Bool {
        guard inputStep > 0, inputStep.isFinite, inputMaxLevel >= 0, weightMaxLevel >= 0 else { return false }
        return 324.0 * Double(inChannels) * Double(weightMaxLevel) * Double(inputMaxLevel) < Double(1 << 24)
    }
}

func convWinogradForwardLevels(_ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               levels: ConvLevels, epilogue: ConvEpilogue?, output: UnsafeMutablePointer<Float>,
                               buffers b: ConvWinogradBuffers, pool: ThreadPool?) {
    let cin = s.inChannels, steps = levels.weightSteps
    b.prepareWeights(rows: s.outChannels, k: cin, source: nil) { co, ci, kh, kw in
        (weight[((co * cin + ci) * 3 + kh) * 3 + kw] / steps[co]).rounded(.toNearestOrEven)
    }
    for co in 0..<s.outChannels { b.levelScales[co] = levels.inputStep * steps[co] }
    convWinogradRun(s, b, src: input, srcChannels: cin, dstChannels: s.outChannels, inputLevels: 1 / levels.inputStep,
                    levelScale: b.levelScales, bias: nil, epilogue: epilogue, dst: output, pool: pool)
}
