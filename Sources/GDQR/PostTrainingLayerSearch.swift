// Post-training calibration by the per-layer scale search of EasyQuant over a
// whole network (the search itself: LayerScaleSearch.swift).
//
// 1. Min-max calibration (PostTraining.calibrateMinMax): every threshold gets a
//    start value; activation quantizers that feed no searched layer keep it.
// 2. One float pass finds the quantized layers in forward order and each one's
//    input quantizer: the one whose output buffer the layer reads, else the last
//    one to run before it (a max pool between them commutes with the monotone
//    quantizer: pool(Q(a)) = Q(pool(a))). The stem conv reads the image: no
//    input quantizer.
// 3. Then, layer by layer in forward order:
//    - a float pass (every quantizer in bypass) gives the target, the layer's
//      output with float weights on the float network's input;
//    - a pass with every quantizer active except the layer's input quantizer
//      (in bypass, so the layer sees the activation before quantization) caches
//      the layer input. Earlier layers and activations are quantized with the
//      thresholds already chosen, so each layer's search sees, and compensates,
//      the error its predecessors leave (as EasyQuant does: quantizing layer by
//      layer on the quantized network's activations rather than the float ones,
//      which would choose scales for inputs the deployed network never sees);
//    - the search chooses the group thresholds and, when this layer is the first
//      consumer of its input quantizer, that quantizer's threshold (a later
//      consumer, e.g. a ResNet block's projection shortcut, reuses it).
// Two passes per layer over the calibration batches plus the search on the
// cached batches; the caches hold one layer at a time.

import Layers
import TensorEngine

extension PostTraining {
    /// A quantized layer as seen in a forward pass.
    struct SearchSite {
        let quantizer: GroupWeightQuantizer
        let layer: Layer
        let input: ActivationQuantizer?
    }

    /// Calibrates every quantizer of `policy` by the layer search (see the file
    /// comment); leaves them active. Returns each searched layer's choice, in
    /// forward order. Throws when a quantized layer is neither a convolution
    /// (groups 1) nor a linear layer.
    @discardableResult
    public static func searchLayerScales(policy: GDQRPolicy, arena: ParameterArena, pool: ThreadPool?,
                                         grid: [Float] = layerSearchGrid, rounds: Int = 3,
                                         runBatches: () -> Void) throws -> [LayerScaleChoice] {
        calibrateMinMax(policy: policy, arena: arena, runBatches: runBatches)
        defer {
            policy.bypass = false
            for q in policy.weightQuantizers { q.inputObserver = nil }
            for q in policy.activationQuantizers { q.inputObserver = nil }
        }
        let sites = findSites(policy: policy, runBatches: runBatches)
        var decided = Set<ObjectIdentifier>()
        var choices: [LayerScaleChoice] = []
        for site in sites {
            let q = site.quantizer
            let (operation, bias) = try searchedOperation(site.layer, name: q.layer)
            let weight = Array(UnsafeBufferPointer(start: arena.value(q.weight), count: q.count))
            let biasValues = bias.map { Array(UnsafeBufferPointer(start: arena.value($0), count: $0.count)) }
            let evaluator = SearchedLayerEvaluator(operation, pool: pool)

            // Float pass: the target.
            policy.bypass = true
            var targets: [[Float]] = []
            q.inputObserver = { _, x, n in
                var t = [Float](repeating: 0, count: n * operation.outChannels * operation.plane)
                t.withUnsafeMutableBufferPointer { out in
                    weight.withUnsafeBufferPointer { w in
                        withBias(biasValues) { b in
                            evaluator.run(input: x, batch: n, weight: w.baseAddress!, bias: b,
                                          channels: 0..<operation.outChannels, output: out.baseAddress!)
                        }
                    }
                }
                targets.append(t)
            }
            runBatches()

            // Quantized pass: the input, before its quantizer.
            policy.bypass = false
            site.input?.bypass = true
            var inputs: [[Float]] = []
            q.inputObserver = { _, x, n in inputs.append(Array(UnsafeBufferPointer(start: x, count: n * operation.inputCount))) }
            runBatches()
            q.inputObserver = nil
            site.input?.bypass = false

            var fixedInput: Float?
            if let a = site.input, decided.contains(ObjectIdentifier(a)), case .fixed(let t) = a.source { fixedInput = t }
            let problem = LayerSearchProblem(name: q.layer, operation: operation, weight: weight, bias: biasValues,
                                             groups: q.groups, weightLevels: q.minLevel...q.maxLevel,
                                             activationMaxLevel: site.input?.maxLevel,
                                             fixedActivationThreshold: fixedInput, inputs: inputs, targets: targets)
            let choice = searchLayer(problem, grid: grid, rounds: rounds, pool: pool)
            q.fixedThresholds = choice.weightThresholds
            if let a = site.input, let t = choice.activationThreshold {
                a.source = .fixed(t)
                decided.insert(ObjectIdentifier(a))
            }
            choices.append(choice)
        }
        return choices
    }

    /// The quantized layers in forward order with their input quantizers (one float pass).
    static func findSites(policy: GDQRPolicy, runBatches: () -> Void) -> [SearchSite] {
        policy.bypass = true
        var sites: [SearchSite] = []
        var seen = Set<ObjectIdentifier>()
        var ran: [ActivationQuantizer] = []
        var firstPassDone = false
        for a in policy.activationQuantizers {
            a.inputObserver = { _, _ in if !firstPassDone { ran.append(a) } }
        }
        for q in policy.weightQuantizers {
            q.inputObserver = { layer, x, _ in
                guard !firstPassDone else { return }
                guard seen.insert(ObjectIdentifier(q)).inserted else { firstPassDone = true; return }
                let producer = ran.last { $0.output == x } ?? ran.last
                sites.append(SearchSite(quantizer: q, layer: layer, input: producer))
            }
        }
        runBatches()
        for q in policy.weightQuantizers { q.inputObserver = nil }
        for a in policy.activationQuantizers { a.inputObserver = nil }
        precondition(sites.count == policy.weightQuantizers.count,
                     "layer search: \(sites.count) of \(policy.weightQuantizers.count) quantized layers ran in a forward pass")
        return sites
    }

    /// The layer's operation for the search and its bias.
    static func searchedOperation(_ layer: Layer, name: String) throws -> (SearchedOperation, ParamRef?) {
        switch layer {
        case let c as Conv2dLayer where c.geometry.groups == 1:
            return (.conv(c.geometry), c.bias)
        case let l as LinearLayer:
            return (.linear(inFeatures: l.inputShape.count, outFeatures: l.outputShape.channels), l.bias)
        default:
            throw QuantError("\(name): the layer scale search handles convolutions without channel groups and linear layers only")
        }
    }
}
