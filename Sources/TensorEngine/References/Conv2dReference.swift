// Plain direct-loop 2-D convolution: the oracle the fast kernels are tested against.
// NCHW, weights [Cout, Cin/groups, kH, kW]; every sum accumulated in Double.
// The Float entry points read Float and round each result once; the Double
// forward is what finite-difference checks differentiate.

@inline(__always)
private func refInputIndex(_ s: Conv2dShape, _ n: Int, _ ci: Int, _ oy: Int, _ ox: Int, _ ky: Int, _ kx: Int) -> Int? {
    let iy = oy * s.strideH + ky - s.padH, ix = ox * s.strideW + kx - s.padW
    if iy < 0 || iy >= s.height || ix < 0 || ix >= s.width { return nil }
    return ((n * s.inChannels + ci) * s.height + iy) * s.width + ix
}

/// Calls body(outputIndex, inputIndex, weightIndex) for every multiply-add of the convolution, in a fixed order.
@inline(__always)
private func refForEachTerm(_ s: Conv2dShape, _ body: (Int, Int, Int) -> Void) {
    s.validate()
    let cinG = s.inPerGroup, coutG = s.outPerGroup, oh = s.outHeight, ow = s.outWidth
    for n in 0..<s.batch {
        for co in 0..<s.outChannels {
            let g = co / coutG
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let o = ((n * s.outChannels + co) * oh + oy) * ow + ox
                    for cl in 0..<cinG {
                        for ky in 0..<s.kernelH {
                            for kx in 0..<s.kernelW {
                                guard let i = refInputIndex(s, n, g * cinG + cl, oy, ox, ky, kx) else { continue }
                                body(o, i, ((co * cinG + cl) * s.kernelH + ky) * s.kernelW + kx)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Forward in Double: output = conv(input, weight) + bias.
public func conv2dForwardReference(_ s: Conv2dShape, input: UnsafePointer<Double>, weight: UnsafePointer<Double>,
                                   bias: UnsafePointer<Double>?, output: UnsafeMutablePointer<Double>) {
    let oh = s.outHeight, ow = s.outWidth
    for o in 0..<s.outputCount { output[o] = bias?[(o / (oh * ow)) % s.outChannels] ?? 0 }
    refForEachTerm(s) { o, i, w in output[o] += input[i] * weight[w] }
}

/// Forward from Float data, accumulated in Double, rounded once.
public func conv2dForwardReference(_ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                   bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
    let oh = s.outHeight, ow = s.outWidth
    var acc = [Double](repeating: 0, count: s.outputCount)
    for o in 0..<s.outputCount { acc[o] = bias.map { Double($0[(o / (oh * ow)) % s.outChannels]) } ?? 0 }
    refForEachTerm(s) { o, i, w in acc[o] += Double(input[i]) * Double(weight[w]) }
    for o in 0..<s.outputCount { output[o] = Float(acc[o]) }
}

/// gradInput = W^T applied to gradOutput, accumulated in Double (overwrites gradInput).
public func conv2dBackwardDataReference(_ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                        gradInput: UnsafeMutablePointer<Float>) {
    var acc = [Double](repeating: 0, count: s.inputCount)
    refForEachTerm(s) { o, i, w in acc[i] += Double(gradOutput[o]) * Double(weight[w]) }
    for i in 0..<s.inputCount { gradInput[i] = Float(acc[i]) }
}

/// gradWeight (and gradBias) from input and gradOutput, accumulated in Double (overwritten).
public func conv2dBackwardWeightsReference(_ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                           gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?) {
    var acc = [Double](repeating: 0, count: s.weightCount)
    refForEachTerm(s) { o, i, w in acc[w] += Double(gradOutput[o]) * Double(input[i]) }
    for w in 0..<s.weightCount { gradWeight[w] = Float(acc[w]) }
    if let gradBias {
        let plane = s.outHeight * s.outWidth
        var b = [Double](repeating: 0, count: s.outChannels)
        for o in 0..<s.outputCount { b[(o / plane) % s.outChannels] += Double(gradOutput[o]) }
        for co in 0..<s.outChannels { gradBias[co] = Float(b[co]) }
    }
}
