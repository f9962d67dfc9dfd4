// The EasyQuant-style layer scale search: one conv / linear layer against an
// independent Double reference (brute force over the grid), and whole networks.
import XCTest
import Layers
import TensorEngine
@testable import GDQR

/// Positive, heavy-tailed activations (exponential) and weights (Laplace): min-max
/// thresholds waste most 4-bit levels on the tails, so the search has room.
func heavyTailed(_ n: Int, seed: UInt64, signed: Bool, scale: Float) -> [Float] {
    pseudoRandom(n, seed: seed).map { u in
        let e = -log(1 - 0.999 * abs(u))
        return scale * (signed && u < 0 ? -e : e)
    }
}

final class LayerScaleSearchTests: XCTestCase {
    let grid = PostTraining.layerSearchGrid

    /// A conv layer 3 -> 8 channels, 3x3, 6x6 inputs, 4 weight groups, two batches (4 and 3 samples).
    func convProblem(kernel: Int = 3, stride: Int = 1, pad: Int = 1) -> (LayerSearchProblem, Conv2dShape) {
        let shape = Conv2dShape(batch: 4, inChannels: 3, outChannels: 8, size: 6, kernel: kernel, stride: stride, pad: pad)
        let w = heavyTailed(shape.weightCount, seed: 1, signed: true, scale: 0.2)
        let bias = pseudoRandom(8, seed: 2).map { $0 * 0.1 }
        let inputs = [4, 3].enumerated().map { b, n in heavyTailed(n * 3 * 36, seed: 10 + UInt64(b), signed: false, scale: 1) }
        let targets = inputs.map { x in referenceOutput(.conv(shape), x, w, bias) }
        let p = LayerSearchProblem(name: "test.conv", operation: .conv(shape), weight: w, bias: bias, groups: 4,
                                   weightLevels: -7...7, activationMaxLevel: 15, inputs: inputs, targets: targets)
        return (p, shape)
    }

    /// Double-accumulated conv / linear output (with bias) of Float data.
    func referenceOutput(_ op: SearchedOperation, _ x: [Float], _ w: [Float], _ bias: [Float]?) -> [Float] {
        switch op {
        case .conv(var s):
            s.batch = x.count / (s.inChannels * s.height * s.width)
            var y = [Float](repeating: 0, count: s.outputCount)
            withBias(bias) { b in conv2dForwardReference(s, input: x, weight: w, bias: b, output: &y) }
            return y
        case .linear(let inF, let outF):
            let n = x.count / inF
            return (0..<n * outF).map { i in
                let r = i / outF, o = i % outF
                return Float((0..<inF).reduce(Double(bias?[o] ?? 0)) { $0 + Double(x[r * inF + $1]) * Double(w[o * inF + $1]) })
            }
        }
    }

    /// Independent layer cosine for weight thresholds per group and an input threshold.
    func referenceCosine(_ p: LayerSearchProblem, weights t: [Float], activation: Float?) -> Double {
        let gs = p.weight.count / p.groups, hi = Float(p.weightLevels.upperBound)
        let wq = p.weight.indices.map { i in
            fakeQuantizeReference(p.weight[i], grid: QuantGrid(delta: t[i / gs] / hi, lo: Float(p.weightLevels.lowerBound), hi: hi))
        }
        var dot = 0.0, qq = 0.0, tt = 0.0
        for (x, target) in zip(p.inputs, p.targets) {
            let xq = activation.map { a in
                x.map { fakeQuantizeReference($0, grid: QuantGrid(delta: a / 15, lo: 0, hi: 15)) }
            } ?? x
            let y = referenceOutput(p.operation, xq, wq, p.bias)
            for (u, v) in zip(target, y) { dot += Double(u) * Double(v); qq += Double(v) * Double(v); tt += Double(u) * Double(u) }
        }
        return dot / (qq.squareRoot() * tt.squareRoot())
    }

    func maxAbs(_ x: ArraySlice<Float>) -> Float { x.map(abs).max()! }

    func baseScales(_ p: LayerSearchProblem) -> (weights: [Float], input: Float) {
        let gs = p.weight.count / p.groups
        return ((0..<p.groups).map { maxAbs(p.weight[$0 * gs..<($0 + 1) * gs]) }, p.inputs.map { maxAbs($0[...]) }.max()!)
    }

    func testConvSearchBeatsMinMaxAndEveryCandidate() {
        let (p, _) = convProblem()
        let pool = ThreadPool(threads: 2)
        let r = PostTraining.searchLayer(p, pool: pool)
        let base = baseScales(p)
        let minMax = referenceCosine(p, weights: base.weights, activation: base.input)
        let found = referenceCosine(p, weights: r.weightThresholds, activation: r.activationThreshold)
        XCTAssertEqual(r.minMaxCosine, minMax, accuracy: 1e-5)
        XCTAssertEqual(r.cosine, found, accuracy: 1e-5)
        XCTAssertGreaterThan(found, minMax + 1e-4, "heavy tails: the search should clearly beat min-max")

        // Chosen scales are grid candidates times the max-abs scales.
        for g in 0..<p.groups {
            XCTAssertTrue(grid.contains { $0 * base.weights[g] == r.weightThresholds[g] }, "group \(g)")
        }
        let a = try! XCTUnwrap(r.activationThreshold)
        XCTAssertTrue(grid.contains { $0 * base.input == a })

        // Brute force: the last weight step's choice of group 1 against every
        // candidate of that group, the other groups and the input held.
        let lastW = try! XCTUnwrap(r.steps.last { $0.kind == .weights })
        let chosenW = referenceCosine(p, weights: lastW.weightThresholds, activation: lastW.activationThreshold)
        for s in grid {
            var t = lastW.weightThresholds
            t[1] = s * base.weights[1]
            XCTAssertLessThanOrEqual(referenceCosine(p, weights: t, activation: lastW.activationThreshold), chosenW + 1e-6, "α \(s)")
        }
        // The last input step's choice against every input candidate.
        let lastA = try! XCTUnwrap(r.steps.last { $0.kind == .activation })
        XCTAssertEqual(lastA.weightThresholds, r.weightThresholds)
        for s in grid {
            XCTAssertLessThanOrEqual(referenceCosine(p, weights: r.weightThresholds, activation: s * base.input),
                                     found + 1e-6, "β \(s)")
        }
        // Steps never lose ground.
        for (s0, s1) in zip(r.steps, r.steps.dropFirst()) { XCTAssertGreaterThanOrEqual(s1.cosine, s0.cosine - 1e-6) }
    }

    func testSearchIsDeterministic() {
        let (p, _) = convProblem()
        let pool = ThreadPool(threads: 2)
        let a = PostTraining.searchLayer(p, pool: pool), b = PostTraining.searchLayer(p, pool: pool)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.weightThresholds.map(\.bitPattern), b.weightThresholds.map(\.bitPattern))
        XCTAssertEqual(a.cosine.bitPattern, b.cosine.bitPattern)
    }

    func linearProblem(groups: Int = 1) -> LayerSearchProblem {
        let w = heavyTailed(10 * 16, seed: 3, signed: true, scale: 0.3)
        let bias = pseudoRandom(10, seed: 4)
        let inputs = [heavyTailed(5 * 16, seed: 5, signed: false, scale: 1), heavyTailed(2 * 16, seed: 6, signed: false, scale: 1)]
        let op = SearchedOperation.linear(inFeatures: 16, outFeatures: 10)
        return LayerSearchProblem(name: "fc", operation: op, weight: w, bias: bias, groups: groups, weightLevels: -127...127,
                                  activationMaxLevel: 15, fixedActivationThreshold: 2.5, inputs: inputs,
                                  targets: inputs.map { referenceOutput(op, $0, w, bias) })
    }

    /// The weight step's candidate sums in Gram form equal those of running the
    /// layer per candidate (3x3 and strided 3x3 and 1x1 convs, a linear layer).
    func testGramSumsMatchDirectSums() {
        let problems = [convProblem().0, convProblem(stride: 2).0, convProblem(kernel: 1, stride: 2, pad: 0).0,
                        linearProblem(groups: 2)]
        for p in problems {
            let s = LayerSearch(p, grid: grid, pool: nil)
            let t = 0.8 * s.activationBase
            let fast = s.weightCandidateSums(activation: t), direct = s.weightCandidateSumsDirect(activation: t)
            XCTAssertEqual(fast.dot.count, p.groups * grid.count)
            for i in fast.dot.indices {
                XCTAssertEqual(fast.dot[i], direct.dot[i], accuracy: 1e-5 * abs(direct.dot[i]), "\(p.operation) dot \(i)")
                XCTAssertEqual(fast.qq[i], direct.qq[i], accuracy: 1e-5 * direct.qq[i], "\(p.operation) qq \(i)")
            }
        }
    }

    /// A linear layer with a bias, one group, and an input threshold fixed by an
    /// earlier layer: only weights are searched.
    func testLinearWithFixedInput() {
        let p = linearProblem()
        let r = PostTraining.searchLayer(p)
        XCTAssertEqual(r.activationThreshold, 2.5)
        XCTAssertEqual(r.steps.map(\.kind), [.weights])
        let base = baseScales(p).weights[0]
        let found = referenceCosine(p, weights: r.weightThresholds, activation: 2.5)
        XCTAssertEqual(r.cosine, found, accuracy: 1e-6)
        for s in grid {
            XCTAssertLessThanOrEqual(referenceCosine(p, weights: [s * base], activation: 2.5), found + 1e-7, "α \(s)")
        }
    }

    func testGroupedConvolutionIsRefused() {
        let b = ArenaBuilder()
        let conv = Conv2dLayer(b, name: "dw", input: FeatureShape(4, 6, 6), outChannels: 4, kernel: 3, padding: 1,
                               groups: 4, maxBatch: 2, threads: 1)
        XCTAssertThrowsError(try PostTraining.searchedOperation(conv, name: "dw")) {
            XCTAssertEqual("\($0)", "dw: the layer scale search handles convolutions without channel groups and linear layers only")
        }
    }

    // MARK: Networks

    struct Fixture {
        let net: Network, policy: GDQRPolicy, rt: Runtime
        let calibration: [[Float]], heldOut: [Float]
        let batch = 8
        func run() { for b in calibration { _ = b.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: batch, rt: rt) } } }
        func logits(_ x: [Float]) -> [Float] {
            let y = x.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: batch, rt: rt) }
            return Array(UnsafeBufferPointer(start: y, count: batch * net.spec.numClasses))
        }
    }

    /// A random network whose batch norms have seen a few training batches (so
    /// activations have realistic scales), with a W4A4 post-training policy.
    func fixture(_ arch: ModelSpec.Arch, threads: Int = 1) throws -> Fixture {
        var s = QuantSettings(); s.mode = .ptqEasyQuant
        let spec = ModelSpec(arch: arch, depth: 8, width: 8, input: FeatureShape(3, 12, 12))
        let policy = try GDQRPolicy(s, model: spec)
        let net = Network(spec, maxBatch: 8, threads: threads, seed: 7, policy: policy)
        let rt = Runtime(arena: net.arena, pool: threads > 1 ? ThreadPool(threads: threads) : nil)
        let images = (0..<4).map { heavyTailed(8 * spec.input.count, seed: 40 + UInt64($0), signed: true, scale: 0.7) }
        policy.bypass = true
        rt.training = true
        for _ in 0..<10 { for b in images { _ = b.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 8, rt: rt) } } }
        rt.training = false
        policy.bypass = false
        return Fixture(net: net, policy: policy, rt: rt, calibration: Array(images[0..<3]), heldOut: images[3])
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { PostTraining.cosine(x.baseAddress!, $0.baseAddress!, count: a.count) } }
    }

    func testResNetSitesAndInputQuantizers() throws {
        let f = try fixture(.resnet)
        let sites = PostTraining.findSites(policy: f.policy, runBatches: f.run)
        // Evaluation runs a block's projection shortcut before conv2, whose fused
        // epilogue adds it; the two searches are independent (different inputs).
        XCTAssertEqual(sites.map(\.quantizer.layer),
                       ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.downsample.0",
                        "layer2.0.conv2", "layer3.0.conv1", "layer3.0.downsample.0", "layer3.0.conv2", "fc"])
        XCTAssertEqual(sites.map { $0.input?.name ?? "-" },
                       ["-", "bn1.act", "layer1.0.act1", "layer1.0.act_out", "layer1.0.act_out", "layer2.0.act1",
                        "layer2.0.act_out", "layer2.0.act_out", "layer3.0.act1", "fc.act_in"])
    }

    /// The CNN pools after a quantizer: conv3 reads the pooled quantizer output.
    func testCNNInputThroughPooling() throws {
        let f = try fixture(.cnn)
        let sites = PostTraining.findSites(policy: f.policy, runBatches: f.run)
        XCTAssertEqual(sites.map { "\($0.quantizer.layer)<\($0.input?.name ?? "-")" },
                       ["conv1<-", "conv2<bn1.act", "conv3<bn2.act", "conv4<bn3.act", "fc<fc.act_in"])
    }

    func testNetworkW4A4SearchBeatsMinMax() throws {
        for arch in [ModelSpec.Arch.resnet, .cnn] {
            let f = try fixture(arch, threads: 2)
            f.policy.bypass = true
            let float = f.calibration.map(f.logits), floatHeld = f.logits(f.heldOut)
            f.policy.bypass = false

            PostTraining.calibrateMinMax(policy: f.policy, arena: f.net.arena, runBatches: f.run)
            let mm = zip(f.calibration.map(f.logits), float).map { cosine($0, $1) }
            let mmHeld = cosine(f.logits(f.heldOut), floatHeld)

            let choices = try PostTraining.searchLayerScales(policy: f.policy, arena: f.net.arena, pool: f.rt.pool,
                                                             runBatches: f.run)
            let searched = zip(f.calibration.map(f.logits), float).map { cosine($0, $1) }
            let searchedHeld = cosine(f.logits(f.heldOut), floatHeld)
            // Mean over the calibration batches, and the held-out batch.
            XCTAssertGreaterThan(searched.reduce(0, +), mm.reduce(0, +), "\(arch): \(searched) vs min-max \(mm)")
            XCTAssertGreaterThan(searchedHeld, mmHeld, "\(arch) held-out")

            XCTAssertEqual(choices.count, f.policy.weightQuantizers.count)
            for c in choices {
                let q = try XCTUnwrap(f.policy.weightQuantizers.first { $0.layer == c.name })
                XCTAssertEqual(q.fixedThresholds, c.weightThresholds, q.layer)
                XCTAssertFalse(q.bypass)
                XCTAssertGreaterThanOrEqual(c.cosine, c.minMaxCosine - 1e-6, c.name)
            }
            // Same bits on a second search.
            let again = try PostTraining.searchLayerScales(policy: f.policy, arena: f.net.arena, pool: f.rt.pool,
                                                           runBatches: f.run)
            XCTAssertEqual(again, choices)
        }
    }
}
