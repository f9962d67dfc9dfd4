// The per-layer scale search of EasyQuant (Wu et al. 2020) for one quantized
// conv/linear layer, on cached calibration data.
//
// Given, per calibration batch, the layer's input x (before its input quantizer)
// and the target y = layer(x_float; W) (float weights, the float network's
// input), the search chooses
//   - one weight threshold per output-channel group, T_g = α_g · max|W_g|, and
//   - the input activation threshold T_a = β · max|x| (max over the batches),
// α, β from a grid that contains 1 (the min-max start), to maximise the cosine
// similarity between the layer's quantized output layer(Q_a(x); Q_w(W)) and y
// over all calibration outputs. Rounds alternate
//   (a) activation threshold fixed: coordinate ascent over the groups, each
//       group's α maximising the whole-layer cosine with the other groups held
//       (EasyQuant searches each channel's own output cosine; the whole-layer
//       objective keeps every move an improvement of the quantity reported);
//   (b) weights fixed: β maximising the layer cosine,
// until a round changes nothing or `rounds` rounds are done. A choice moves only
// to a strictly better candidate, so the cosine never decreases from the
// min-max start (up to the rounding of the two evaluation paths below).
//
// Cost: step (a) gets every group's candidate sums from one Gram pass over the
// cached batches (LayerSearchGram.swift; the reference runs the group's
// channels through the layer per candidate), then ascends on those sums; step
// (b) runs the whole layer once per β. Everything runs in a fixed order through
// the engine's conv/linear/GEMM kernels, so a given thread count gives the same
// bits every time.

import Layers
import TensorEngine

/// The conv or linear operation of a layer, as the search evaluates it.
public enum SearchedOperation: Sendable {
    /// `batch` = the most samples per cached batch; groups must be 1.
    case conv(Conv2dShape)
    case linear(inFeatures: Int, outFeatures: Int)

    var outChannels: Int {
        switch self {
        case .conv(let s): return s.outChannels
        case .linear(_, let o): return o
        }
    }
    /// Input floats per sample.
    var inputCount: Int {
        switch self {
        case .conv(let s): return s.inChannels * s.height * s.width
        case .linear(let i, _): return i
        }
    }
    /// Output floats per sample and channel.
    var plane: Int {
        switch self {
        case .conv(let s): return s.colCols
        case .linear: return 1
        }
    }
}

/// One layer's search: its operation, float weights, quantizer grids and cached data.
public struct LayerSearchProblem {
    public var name: String
    public var operation: SearchedOperation
    /// Float weights [C_out, ...] and bias [C_out] (nil: none).
    public var weight: [Float]
    public var bias: [Float]?
    public var groups: Int
    /// Integer levels of the weight quantizer (e.g. -7 ... 7).
    public var weightLevels: ClosedRange<Int>
    /// Top level of the unsigned input quantizer (2^b − 1); nil = float input.
    public var activationMaxLevel: Int?
    /// An input threshold chosen earlier (an input shared with an earlier
    /// layer): used as is, not searched.
    public var fixedActivationThreshold: Float?
    /// Per calibration batch: the layer input [n, inputCount] and the float target [n, C_out, plane].
    public var inputs: [[Float]]
    public var targets: [[Float]]

    public init(name: String, operation: SearchedOperation, weight: [Float], bias: [Float]?, groups: Int,
                weightLevels: ClosedRange<Int>, activationMaxLevel: Int?, fixedActivationThreshold: Float? = nil,
                inputs: [[Float]], targets: [[Float]]) {
        self.name = name; self.operation = operation; self.weight = weight; self.bias = bias
        self.groups = groups; self.weightLevels = weightLevels; self.activationMaxLevel = activationMaxLevel
        self.fixedActivationThreshold = fixedActivationThreshold; self.inputs = inputs; self.targets = targets
    }
}

/// One step of the alternation and the layer cosine it reached (from its own sums).
public struct LayerSearchStep: Equatable, Sendable {
    public enum Kind: String, Sendable { case weights, activation }
    public var kind: Kind
    public var weightThresholds: [Float]
    public var activationThreshold: Float?
    public var cosine: Double
}

public struct LayerScaleChoice: Equatable, Sendable {
    public var name: String
    public var weightThresholds: [Float]
    /// Nil for a float input.
    public var activationThreshold: Float?
    /// The layer cosine at the start (T_g = max|W_g|, T_a = max|x| or the fixed one) and at the end.
    public var minMaxCosine: Double
    public var cosine: Double
    public var steps: [LayerSearchStep]
}

/// Runs the layer's operation on cached batches for a slice of output channels.
final class SearchedLayerEvaluator {
    let operation: SearchedOperation
    let pool: ThreadPool?
    private var workspaces: [Int: Conv2dWorkspace] = [:]

    init(_ operation: SearchedOperation, pool: ThreadPool?) {
        self.operation = operation
        self.pool = pool
    }

    /// output [batch, channels.count, plane] = layer(input) for output channels
    /// `channels`, with `weight` holding those channels' weights only.
    func run(input: UnsafePointer<Float>, batch: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
             channels: Range<Int>, output: UnsafeMutablePointer<Float>) {
        let b = bias.map { $0 + channels.lowerBound }
        switch operation {
        case .conv(let full):
            var s = full
            s.outChannels = channels.count
            let ws: Conv2dWorkspace
            if let w = workspaces[s.outChannels] { ws = w } else {
                ws = Conv2dWorkspace(shape: s, threads: pool?.threads ?? 1)
                workspaces[s.outChannels] = ws
            }
            s.batch = batch
            conv2dForward(s, input: input, weight: weight, bias: b, output: output, workspace: ws, pool: pool)
        case .linear(let inF, _):
            linearForward(input: input, weight: weight, bias: b, output: output, batch: batch, inFeatures: inF,
                          outFeatures: channels.count, pool: pool)
        }
    }
}

/// Σ target·candidate, Σ candidate², Σ target² over `samples` rows: the
/// candidate row n at n·length, the target row at n·targetStride + targetOffset.
func rowStats(target: UnsafePointer<Float>, candidate: UnsafePointer<Float>, samples: Int, length: Int,
              targetStride: Int, targetOffset: Int) -> (dot: Double, qq: Double, tt: Double) {
    var d = 0.0, qq = 0.0, tt = 0.0
    for n in 0..<samples {
        let s = PostTraining.dotStats(target + n * targetStride + targetOffset, candidate + n * length, count: length)
        d += s.0; qq += s.1; tt += s.2
    }
    return (d, qq, tt)
}

/// Calls body with the bias's base address, or nil without a bias.
func withBias<R>(_ bias: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let bias else { return body(nil) }
    return bias.withUnsafeBufferPointer { body($0.baseAddress) }
}

@inline(__always) func cosineOf(dot: Double, qq: Double, tt: Double) -> Double {
    qq > 0 && tt > 0 ? dot / (qq.squareRoot() * tt.squareRoot()) : -1
}

extension PostTraining {
    /// The scale grid of the layer search: 0.5 ... 1.2 by 1/160 (113 candidates, 1 among them).
    public static let layerSearchGrid: [Float] = (0...112).map { 0.5 + Float($0) / 160 }

    /// The search of the file comment for one layer.
    public static func searchLayer(_ p: LayerSearchProblem, grid: [Float] = layerSearchGrid, rounds: Int = 3,
                                   pool: ThreadPool? = nil) -> LayerScaleChoice {
        guard let one = grid.firstIndex(of: 1) else { preconditionFailure("\(p.name): the scale grid must contain 1") }
        precondition(rounds >= 1, "\(p.name): rounds must be >= 1, got \(rounds)")
        precondition(p.inputs.count == p.targets.count, "\(p.name): \(p.inputs.count) input batches, \(p.targets.count) targets")
        let search = LayerSearch(p, grid: grid, pool: pool)
        var wIndex = [Int](repeating: one, count: p.groups)
        var aIndex = one
        let searchesInput = p.activationMaxLevel != nil && p.fixedActivationThreshold == nil
        let start = search.cosine(weightIndex: wIndex, activationIndex: aIndex)
        var steps: [LayerSearchStep] = []
        for round in 0..<rounds {
            let (w, cw) = search.weightStep(weightIndex: wIndex, activationIndex: aIndex)
            let weightsChanged = w != wIndex
            wIndex = w
            steps.append(LayerSearchStep(kind: .weights, weightThresholds: search.weightThresholds(wIndex),
                                         activationThreshold: search.activationThreshold(aIndex), cosine: cw))
            // Weights unchanged after an input step: the next input step would repeat itself.
            if !searchesInput || (round > 0 && !weightsChanged) { break }
            let (a, ca) = search.activationStep(weightIndex: wIndex, activationIndex: aIndex)
            let inputChanged = a != aIndex
            aIndex = a
            steps.append(LayerSearchStep(kind: .activation, weightThresholds: search.weightThresholds(wIndex),
                                         activationThreshold: search.activationThreshold(aIndex), cosine: ca))
            if !weightsChanged && !inputChanged { break }
        }
        return LayerScaleChoice(name: p.name, weightThresholds: search.weightThresholds(wIndex),
                                activationThreshold: search.activationThreshold(aIndex), minMaxCosine: start,
                                cosine: search.cosine(weightIndex: wIndex, activationIndex: aIndex), steps: steps)
    }
}

/// The state of one layer's search: base scales, buffers, evaluator.
final class LayerSearch {
    let p: LayerSearchProblem
    let grid: [Float]
    let evaluator: SearchedLayerEvaluator
    let groupSize: Int, groupChannels: Int
    /// max|W_g| per group and max|x| over the cached inputs.
    let weightBase: [Float]
    let activationBase: Float
    let targetSquares: Double
    let maxSamples: Int
    let pool: ThreadPool?
    /// A quantized input batch and a layer output batch.
    let xq: UnsafeMutablePointer<Float>
    let y: UnsafeMutablePointer<Float>

    init(_ p: LayerSearchProblem, grid: [Float], pool: ThreadPool?) {
        let cout = p.operation.outChannels
        precondition(p.groups >= 1 && cout % p.groups == 0, "\(p.name): \(p.groups) groups for \(cout) channels")
        precondition(p.weight.count % cout == 0, "\(p.name): weight count \(p.weight.count) for \(cout) channels")
        self.p = p
        self.grid = grid
        self.pool = pool
        evaluator = SearchedLayerEvaluator(p.operation, pool: pool)
        groupSize = p.weight.count / p.groups
        groupChannels = cout / p.groups
        weightBase = p.weight.withUnsafeBufferPointer { w in
            (0..<p.groups).map { quantMaxAbs(w.baseAddress! + $0 * p.weight.count / p.groups, count: p.weight.count / p.groups) }
        }
        activationBase = p.inputs.reduce(0) { m, x in max(m, x.withUnsafeBufferPointer { quantMaxAbs($0.baseAddress!, count: x.count) }) }
        targetSquares = p.targets.reduce(0) { s, t in
            s + t.withUnsafeBufferPointer { PostTraining.dotStats($0.baseAddress!, $0.baseAddress!, count: t.count).2 }
        }
        maxSamples = p.inputs.map { $0.count / p.operation.inputCount }.max() ?? 0
        for (x, t) in zip(p.inputs, p.targets) {
            precondition(x.count % p.operation.inputCount == 0 && t.count == x.count / p.operation.inputCount * cout * p.operation.plane,
                         "\(p.name): a cached batch's input and target sizes do not match the layer")
        }
        xq = Tensor.allocate(max(1, maxSamples * p.operation.inputCount))
        y = Tensor.allocate(max(1, maxSamples * cout * p.operation.plane))
    }

    deinit { xq.deallocate(); y.deallocate() }

    func weightThresholds(_ index: [Int]) -> [Float] { index.indices.map { grid[index[$0]] * weightBase[$0] } }

    func activationThreshold(_ index: Int) -> Float? {
        guard p.activationMaxLevel != nil else { return nil }
        return p.fixedActivationThreshold ?? grid[index] * activationBase
    }

    func weightGrid(threshold t: Float) -> QuantGrid {
        let hi = Float(p.weightLevels.upperBound)
        return QuantGrid(delta: t / hi, lo: Float(p.weightLevels.lowerBound), hi: hi)
    }

    /// Group g's weights quantized with threshold t into dst.
    func quantizeGroup(_ g: Int, threshold t: Float, into dst: UnsafeMutablePointer<Float>) {
        p.weight.withUnsafeBufferPointer { w in
            _ = fakeQuantize(w.baseAddress! + g * groupSize, into: dst, count: groupSize, grid: weightGrid(threshold: t))
        }
    }

    func quantizedWeights(_ index: [Int]) -> [Float] {
        var out = [Float](repeating: 0, count: p.weight.count)
        let t = weightThresholds(index)
        out.withUnsafeMutableBufferPointer { o in
            for g in 0..<p.groups { quantizeGroup(g, threshold: t[g], into: o.baseAddress! + g * groupSize) }
        }
        return out
    }

    /// Batch b's input, quantized with threshold t (copied when the input is float), into xq.
    func quantizeInput(_ b: Int, threshold t: Float?) {
        let x = p.inputs[b]
        x.withUnsafeBufferPointer { src in
            if let t, let s = p.activationMaxLevel {
                fakeQuantize(src.baseAddress!, into: xq, count: x.count,
                             grid: QuantGrid(delta: t / Float(s), lo: 0, hi: Float(s)), pool: pool)
            } else {
                xq.update(from: src.baseAddress!, count: x.count)
            }
        }
    }

    func samples(_ b: Int) -> Int { p.inputs[b].count / p.operation.inputCount }

    /// (Σ y·target, Σ y²) of batch b through the whole layer with weights wq, the
    /// input already quantized in xq.
    func batchSums(_ b: Int, weights wq: UnsafePointer<Float>) -> (dot: Double, qq: Double) {
        let n = samples(b), count = n * p.operation.outChannels * p.operation.plane
        withBias(p.bias) { bias in
            evaluator.run(input: xq, batch: n, weight: wq, bias: bias,
                          channels: 0..<p.operation.outChannels, output: y)
        }
        let s = p.targets[b].withUnsafeBufferPointer {
            rowStats(target: $0.baseAddress!, candidate: y, samples: 1, length: count, targetStride: 0, targetOffset: 0)
        }
        return (s.dot, s.qq)
    }

    /// The layer cosine over all batches (the start and the end of the search).
    func cosine(weightIndex: [Int], activationIndex: Int) -> Double {
        let wq = quantizedWeights(weightIndex)
        var dot = 0.0, qq = 0.0
        for b in p.inputs.indices {
            quantizeInput(b, threshold: activationThreshold(activationIndex))
            let s = wq.withUnsafeBufferPointer { batchSums(b, weights: $0.baseAddress!) }
            dot += s.dot; qq += s.qq
        }
        return cosineOf(dot: dot, qq: qq, tt: targetSquares)
    }

    /// Step (a): every group's candidate sums (Gram form), then coordinate ascent over the groups.
    func weightStep(weightIndex start: [Int], activationIndex: Int) -> ([Int], Double) {
        let s = weightCandidateSums(activation: activationThreshold(activationIndex))
        return Self.coordinateAscent(start: start, candidates: grid.count, dot: s.dot, qq: s.qq, tt: targetSquares)
    }

    /// The candidate weights of every group, [G][A][groupSize].
    func candidateWeights() -> [Float] {
        var out = [Float](repeating: 0, count: p.groups * grid.count * groupSize)
        out.withUnsafeMutableBufferPointer { o in
            for g in 0..<p.groups {
                for (i, a) in grid.enumerated() {
                    quantizeGroup(g, threshold: a * weightBase[g], into: o.baseAddress! + (g * grid.count + i) * groupSize)
                }
            }
        }
        return out
    }

    /// Reference of weightCandidateSums: Σ y·target and Σ y² of every group's
    /// channels for every candidate [g·A + i], running the group's channels
    /// through the layer on every cached batch.
    func weightCandidateSumsDirect(activation t: Float?) -> (dot: [Double], qq: [Double]) {
        let G = p.groups, A = grid.count, cout = p.operation.outChannels, plane = p.operation.plane
        let candidates = candidateWeights()
        var dot = [Double](repeating: 0, count: G * A), qq = dot
        let rowLength = groupChannels * plane
        for b in p.inputs.indices {
            let n = samples(b)
            quantizeInput(b, threshold: t)
            p.targets[b].withUnsafeBufferPointer { target in
                candidates.withUnsafeBufferPointer { cw in
                    withBias(p.bias) { bias in
                        for g in 0..<G {
                            let channels = g * groupChannels ..< (g + 1) * groupChannels
                            for i in 0..<A {
                                evaluator.run(input: xq, batch: n, weight: cw.baseAddress! + (g * A + i) * groupSize,
                                              bias: bias, channels: channels, output: y)
                                let s = rowStats(target: target.baseAddress!, candidate: y, samples: n, length: rowLength,
                                                 targetStride: cout * plane, targetOffset: g * rowLength)
                                dot[g * A + i] += s.dot
                                qq[g * A + i] += s.qq
                            }
                        }
                    }
                }
            }
        }
        return (dot, qq)
    }

    /// Maximises Σ_g dot[g][i_g] / sqrt(Σ_g qq[g][i_g] · tt) one group at a time,
    /// moving only to strictly better candidates, until a sweep changes nothing.
    static func coordinateAscent(start: [Int], candidates A: Int, dot: [Double], qq: [Double],
                                 tt: Double) -> ([Int], Double) {
        var index = start
        var D = index.indices.reduce(0.0) { $0 + dot[$1 * A + index[$1]] }
        var Q = index.indices.reduce(0.0) { $0 + qq[$1 * A + index[$1]] }
        var best = cosineOf(dot: D, qq: Q, tt: tt)
        var changed = true
        while changed {
            changed = false
            for g in index.indices {
                let restD = D - dot[g * A + index[g]], restQ = Q - qq[g * A + index[g]]
                for i in 0..<A {
                    let c = cosineOf(dot: restD + dot[g * A + i], qq: restQ + qq[g * A + i], tt: tt)
                    if c > best {
                        best = c
                        index[g] = i
                        changed = true
                    }
                }
                D = restD + dot[g * A + index[g]]
                Q = restQ + qq[g * A + index[g]]
            }
        }
        return (index, best)
    }

    /// Step (b): the input threshold with the best layer cosine, weights fixed.
    func activationStep(weightIndex: [Int], activationIndex start: Int) -> (Int, Double) {
        let wq = quantizedWeights(weightIndex)
        var sums = [(dot: Double, qq: Double)](repeating: (0, 0), count: grid.count)
        wq.withUnsafeBufferPointer { w in
            for b in p.inputs.indices {
                for (j, beta) in grid.enumerated() {
                    quantizeInput(b, threshold: beta * activationBase)
                    let s = batchSums(b, weights: w.baseAddress!)
                    sums[j].dot += s.dot
                    sums[j].qq += s.qq
                }
            }
        }
        var best = (index: start, cos: cosineOf(dot: sums[start].dot, qq: sums[start].qq, tt: targetSquares))
        for (j, s) in sums.enumerated() {
            let c = cosineOf(dot: s.dot, qq: s.qq, tt: targetSquares)
            if c > best.cos { best = (j, c) }
        }
        return (best.index, best.cos)
    }
}
