// Convolution benchmark: the convolutions of ResNet-20 on 1x28x28 input.
//
// Every distinct convolution is timed in forward, backward-data and
// backward-weights (best of several runs, each run at least `minSeconds`), and
// reported as GFLOP/s = 2 * batch * Cout * OH * OW * Cin/groups * kH * kW / time
// against the FMA peak measured for the same thread count. The total line
// weights each distinct convolution by how often the network uses it:
// stem 1->16 @28 (1); stage 1: 16->16 @28 (6); stage 2: 16->32 s2 (1),
// 32->32 @14 (5), 1x1 s2 projection 16->32 (1); stage 3 likewise at 64 @7.
// Then the standard networks' new shapes (depthwise 3x3, 1x1 as a GEMM, the 7x7
// stride-2 stem; standardNetworkConvCases), outside the ResNet-20 totals.

import TensorEngine

public struct ConvBenchCase: Sendable {
    public var name: String
    public var shape: Conv2dShape
    /// How many convolutions of this shape ResNet-20 has.
    public var countInNetwork: Int
}

/// The distinct convolutions of ResNet-20 (channels 16/32/64) on 1x28x28 input.
public func resnet20ConvCases(batch: Int) -> [ConvBenchCase] {
    func c(_ name: String, _ cin: Int, _ cout: Int, _ size: Int, _ k: Int, _ stride: Int, _ count: Int) -> ConvBenchCase {
        ConvBenchCase(name: name, shape: Conv2dShape(batch: batch, inChannels: cin, outChannels: cout, size: size,
                                                     kernel: k, stride: stride, pad: k / 2), countInNetwork: count)
    }
    return [
        c("stem 1->16 28 k3", 1, 16, 28, 3, 1, 1),
        c("16->16 28 k3", 16, 16, 28, 3, 1, 6),
        c("16->32 28 k3s2", 16, 32, 28, 3, 2, 1),
        c("32->32 14 k3", 32, 32, 14, 3, 1, 5),
        c("16->32 28 k1s2", 16, 32, 28, 1, 2, 1),
        c("32->64 14 k3s2", 32, 64, 14, 3, 2, 1),
        c("64->64 7 k3", 64, 64, 7, 3, 1, 5),
        c("32->64 14 k1s2", 32, 64, 14, 1, 2, 1),
    ]
}

/// Shapes of the standard networks (docs/models.md) at 32x32 input, timed beside ResNet-20's
/// but outside its totals; the count is how many such convolutions the named network has:
/// MobileNetV2's depthwise 3x3 (stride 1 and 2) and 1x1 expansion/projection (pointwise:
/// one GEMM), ResNet-50's 1x1 bottleneck convs, the 7x7 stride-2 ImageNet-style stem, and
/// the 3x3 convs of VGG-small and ResNet-18 (CIFAR stem), whose many channels on small
/// planes give the Winograd GEMMs few columns per image.
public func standardNetworkConvCases(batch: Int) -> [ConvBenchCase] {
    func c(_ name: String, _ cin: Int, _ cout: Int, _ size: Int, _ k: Int, _ stride: Int, groups: Int = 1,
           _ count: Int) -> ConvBenchCase {
        ConvBenchCase(name: name, shape: Conv2dShape(batch: batch, inChannels: cin, outChannels: cout, size: size,
                                                     kernel: k, stride: stride, pad: k / 2, groups: groups),
                      countInNetwork: count)
    }
    return [
        c("mbv2 dw 144 32 k3", 144, 144, 32, 3, 1, groups: 144, 1),
        c("mbv2 dw 144 32 k3s2", 144, 144, 32, 3, 2, groups: 144, 1),
        c("mbv2 dw 384 8 k3", 384, 384, 8, 3, 1, groups: 384, 4),
        c("mbv2 24->144 32 k1", 24, 144, 32, 1, 1, 2),
        c("mbv2 144->24 32 k1", 144, 24, 32, 1, 1, 1),
        c("mbv2 384->64 8 k1", 384, 64, 8, 1, 1, 3),
        c("r50 256->64 32 k1", 256, 64, 32, 1, 1, 2),
        c("r50 64->256 32 k1", 64, 256, 32, 1, 1, 3),
        c("stem 1->64 32 k7s2", 1, 64, 32, 7, 2, 1),
        c("vgg 128->128 32 k3", 128, 128, 32, 3, 1, 1),
        c("r18 64->64 32 k3", 64, 64, 32, 3, 1, 4),
        c("r18 128->128 16 k3", 128, 128, 16, 3, 1, 3),
        c("r18 256->256 8 k3", 256, 256, 8, 3, 1, 3),
        c("vgg 512->512 8 k3", 512, 512, 8, 3, 1, 1),
        c("r18 512->512 4 k3", 512, 512, 4, 3, 1, 3),
    ]
}

/// Best seconds per call of `body` over `repetitions` runs of at least `minSeconds` each.
func convBestTime(repetitions: Int, minSeconds: Double, _ body: () -> Void) -> Double {
    body()  // warm-up: page in buffers, wake the pool
    var best = Double.infinity
    for _ in 0..<max(1, repetitions) {
        var calls = 0
        let start = benchSeconds()
        var elapsed = 0.0
        repeat {
            body()
            calls += 1
            elapsed = benchSeconds() - start
        } while elapsed < minSeconds
        best = min(best, elapsed / Double(calls))
    }
    return best
}

/// Best seconds per call of forward, backward-data and backward-weights of one case.
func convPassTimes(_ s: Conv2dShape, threads t: Int, pool: ThreadPool?, repetitions: Int,
                   minSeconds: Double) -> [Double] {
    let x = filled(s.inputCount, 0.5), w = filled(s.weightCount, 0.25), b = filled(s.outChannels, 0.1)
    let y = filled(s.outputCount, 0), dy = filled(s.outputCount, 0.75), dx = filled(s.inputCount, 0)
    let dw = filled(s.weightCount, 0), db = filled(s.outChannels, 0)
    defer { for p in [x, w, b, y, dy, dx, dw, db] { p.deallocate() } }
    let ws = Conv2dWorkspace(shape: s, threads: t)
    return [
        convBestTime(repetitions: repetitions, minSeconds: minSeconds) {
            conv2dForward(s, input: x, weight: w, bias: b, output: y, workspace: ws, pool: pool)
        },
        convBestTime(repetitions: repetitions, minSeconds: minSeconds) {
            conv2dBackwardData(s, gradOutput: dy, weight: w, gradInput: dx, workspace: ws, pool: pool)
        },
        convBestTime(repetitions: repetitions, minSeconds: minSeconds) {
            conv2dBackwardWeights(s, input: x, gradOutput: dy, gradWeight: dw, gradBias: db, workspace: ws, pool: pool)
        },
    ]
}

/// Times forward, backward-data and backward-weights of every ResNet-20 convolution at each
/// thread count, plus one "conv_resnet20_total" line per thread count (all three passes,
/// each convolution weighted by its count in the network), then the standard networks'
/// shapes (standardNetworkConvCases), which the totals leave out.
public func runConvBench(threadCounts: [Int], batch: Int = 128, repetitions: Int = 10, minSeconds: Double = 0.02,
                         report: (BenchResult) -> Void) {
    let cases = resnet20ConvCases(batch: batch)
    let names = ["conv_forward", "conv_backward_data", "conv_backward_weights"]
    for threads in threadCounts {
        let peak = peakFMAGflops(threads: threads)
        let pool = benchPool(threads: threads)
        let t = pool?.threads ?? 1
        /// Reports the three passes of a case; returns their times.
        func time(_ cs: ConvBenchCase) -> [Double] {
            let s = cs.shape
            let times = convPassTimes(s, threads: t, pool: pool, repetitions: repetitions, minSeconds: minSeconds)
            for (i, name) in names.enumerated() {
                report(BenchResult(bench: name, shape: cs.name, threads: t, gflops: s.flops / times[i] / 1e9,
                                   peakGflops: peak, extra: [("ms", fmt(times[i] * 1e3, 3)),
                                                             ("count", "\(cs.countInNetwork)")]))
            }
            return times
        }
        var totalFlops = 0.0, totalSeconds = 0.0
        var passFlops = [0.0, 0.0, 0.0], passSeconds = [0.0, 0.0, 0.0]
        for cs in cases {
            let s = cs.shape, times = time(cs)
            for i in 0..<3 {
                passFlops[i] += Double(cs.countInNetwork) * s.flops
                passSeconds[i] += Double(cs.countInNetwork) * times[i]
            }
            totalFlops += Double(cs.countInNetwork) * s.flops * 3
            totalSeconds += Double(cs.countInNetwork) * (times[0] + times[1] + times[2])
        }
        let passNames = ["conv_resnet20_forward", "conv_resnet20_backward_data", "conv_resnet20_backward_weights"]
        for i in 0..<3 {
            report(BenchResult(bench: passNames[i], shape: "resnet20 n\(batch)", threads: t,
                               gflops: passFlops[i] / passSeconds[i] / 1e9, peakGflops: peak,
                               extra: [("ms", fmt(passSeconds[i] * 1e3, 2))]))
        }
        report(BenchResult(bench: "conv_resnet20_total", shape: "resnet20 n\(batch) fwd+bwd", threads: t,
                           gflops: totalFlops / totalSeconds / 1e9, peakGflops: peak,
                           extra: [("ms", fmt(totalSeconds * 1e3, 2))]))
        for cs in standardNetworkConvCases(batch: batch) { _ = time(cs) }
    }
}

private func filled(_ count: Int, _ scale: Float) -> UnsafeMutablePointer<Float> {
    let p = Tensor.allocate(count)
    for i in 0..<count { p[i] = scale * Float((i * 7919) % 211) / 211 - scale / 2 }
    return p
}
