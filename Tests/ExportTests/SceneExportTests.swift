// Scene models (ResNet + CenterNet head, ResNet + FCN head) under GDQR W4A4:
// folded into the integer model, run by the integer engine against the fake-quant
// float network (levels of every activation, decoded boxes, per-pixel argmax), the
// fast path against the reference (bit for bit), the head ops against plain
// loops, the model file round trip and its version rules, the validation
// messages of malformed head ops, and the ONNX graph of the heads.
import XCTest
import Layers
import TensorEngine
import GDQR
@testable import IntegerInference
import Checkpoint
@testable import Export

final class SceneExportTests: XCTestCase {
    static let normalization: (mean: [Float], std: [Float]) = ([0.2860], [0.3530])
    static let size = 16, batch = 6, classes = 3

    struct Built {
        let net: SceneNetwork
        let policy: GDQRPolicy
        let model: IntegerModel
        let pixels: [UInt8]
        let rt: Runtime
    }

    /// Scene-like images: a dark noisy background with two bright rectangles.
    static func images(seed: UInt64) -> [UInt8] {
        var rng = CounterRNG(seed: seed, stream: 9)
        var px = [UInt8](repeating: 0, count: batch * size * size)
        for n in 0..<batch {
            for i in 0..<(size * size) { px[n * size * size + i] = UInt8(rng.nextInt(below: 30)) }
            for _ in 0..<2 {
                let w = 3 + rng.nextInt(below: 8), h = 3 + rng.nextInt(below: 8)
                let x0 = rng.nextInt(below: size - w), y0 = rng.nextInt(below: size - h), v = 120 + rng.nextInt(below: 100)
                for y in y0..<(y0 + h) { for x in x0..<(x0 + w) { px[n * size * size + y * size + x] = UInt8(v + rng.nextInt(below: 30)) } }
            }
        }
        return px
    }

    func normalized(_ px: [UInt8]) -> [Float] {
        px.map { (Float($0) / 255 - Self.normalization.mean[0]) / Self.normalization.std[0] }
    }

    /// Random weights; batch-norm and activation statistics from training-mode forwards; folded.
    func build(_ kind: SceneNetwork.Kind, seed: UInt64) throws -> Built {
        let policy = try GDQRPolicy(QuantSettings())
        let net = SceneNetwork(kind: kind, depth: 8, width: 8, input: FeatureShape(1, Self.size, Self.size),
                               classes: Self.classes, maxBatch: Self.batch, threads: 1, seed: seed, headChannels: 8,
                               policy: policy)
        let rt = Runtime(arena: net.arena, pool: nil)
        if let head = net.centerNet {
            // Box sizes of 2-3 cells (random weights alone predict sizes near 0: no boxes).
            net.arena.value(head.branches[1].out.bias!).update(from: [2, 2.5], count: 2)
        }
        for step in 0..<4 {
            rt.step = step
            let x = normalized(Self.images(seed: seed &+ UInt64(step) &+ 100))
            _ = x.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: Self.batch, rt: rt) }
        }
        rt.training = false
        rt.step = Int.max / 2
        let model = try Folding.fold(net, normalization: Self.normalization, info: ["test": "scene"])
        return Built(net: net, policy: policy, model: model, pixels: Self.images(seed: seed), rt: rt)
    }

    func run(_ m: IntegerModel, _ px: [UInt8], _ arithmetic: IntegerEngine.Arithmetic, threads: Int = 1)
        throws -> (out: [Float], levels: [Int: [UInt8]]) {
        let e = try IntegerEngine(m, maxBatch: Self.batch, threads: threads, arithmetic: arithmetic)
        let p = px.withUnsafeBufferPointer { e.run($0.baseAddress!, batch: Self.batch) }
        let out = Array(UnsafeBufferPointer(start: p, count: Self.batch * m.logits.count))
        var levels: [Int: [UInt8]] = [:]
        for (i, v) in m.values.enumerated() where v.kind == .integer {
            levels[i] = Array(UnsafeBufferPointer(start: e.levels(of: i)!, count: Self.batch * v.count))
        }
        return (out, levels)
    }

    func testFoldedGraphs() throws {
        let det = try build(.centerNet, seed: 1).model
        XCTAssertEqual(det.task, .centernet)
        XCTAssertEqual(det.logits.channels, Self.classes + 4)
        XCTAssertEqual(det.logits.height, Self.size / 4)
        XCTAssertEqual(det.ops.last!.kind, .concat)
        // Branch 3x3 convs at 4 bits with ReLU into 8-bit activations; 1x1 prediction convs at 8 bits, float out.
        for b in ["heatmap", "size", "offset"] {
            let hidden = det.ops.first { $0.name == "head.\(b).0" }!, pred = det.ops.first { $0.name == "head.\(b).2" }!
            XCTAssertEqual(hidden.weightBits, 4); XCTAssertTrue(hidden.relu)
            XCTAssertEqual(det.values[hidden.output].bits, 8)
            XCTAssertEqual(pred.weightBits, 8); XCTAssertEqual(det.values[pred.output].kind, .float)
        }
        let seg = try build(.fcn, seed: 2).model
        XCTAssertEqual(seg.task, .segmentation)
        XCTAssertEqual(seg.ops.suffix(4).map(\.kind), [.upsample2x, .conv, .sum, .upsample2x])
        XCTAssertEqual(seg.logits.channels, Self.classes + 1)
        XCTAssertEqual(seg.logits.height, Self.size)
        for name in ["head.score_deep", "head.score_skip"] {
            XCTAssertEqual(seg.ops.first { $0.name == name }!.weightBits, 8)
        }
    }

    /// The engine's levels against the fake-quant activations, and its output against
    /// the float network's: decoded boxes (CenterNet) and per-pixel argmax (FCN).
    func testEngineMatchesFakeQuant() throws {
        for kind in [SceneNetwork.Kind.centerNet, .fcn] {
            let b = try build(kind, seed: 5)
            let (out, levels) = try run(b.model, b.pixels, .int32Reference)
            let x = normalized(b.pixels)
            let fq = x.withUnsafeBufferPointer { b.net.forward($0.baseAddress!, batch: Self.batch, rt: b.rt) }
            let shape = b.net.outputShape
            let fqOut = Array(UnsafeBufferPointer(start: fq, count: Self.batch * shape.count))
            // Levels: a level may differ by one where z/Δ is within float rounding of a half-integer.
            var differing = 0, total = 0
            let index = Dictionary(uniqueKeysWithValues: b.model.values.enumerated().map { ($1.name, $0) })
            for q in b.policy.activationQuantizers {
                let v = b.model.values[index[q.name]!], lv = levels[index[q.name]!]!
                for e in 0..<(Self.batch * v.count) {
                    let f = Int((q.output[e] / v.step).rounded(.toNearestOrEven))
                    XCTAssertLessThanOrEqual(abs(f - Int(lv[e])), 1, "\(q.name)[\(e)]")
                    if f != Int(lv[e]) { differing += 1 }
                    total += 1
                }
            }
            XCTAssertGreaterThan(total, 0)
            XCTAssertLessThan(Double(differing) / Double(total), 0.002, "\(kind): \(differing) of \(total) levels differ")
            let hw = shape.height * shape.width
            if kind == .fcn {
                var agree = 0
                for n in 0..<Self.batch {
                    for p in 0..<hw {
                        func best(_ o: [Float]) -> Int {
                            (0..<shape.channels).max { o[(n * shape.channels + $0) * hw + p] < o[(n * shape.channels + $1) * hw + p] }!
                        }
                        if best(out) == best(fqOut) { agree += 1 }
                    }
                }
                XCTAssertGreaterThanOrEqual(Double(agree) / Double(Self.batch * hw), 0.99, "argmax agreement \(agree) of \(Self.batch * hw)")
            } else {
                var same = 0
                for n in 0..<Self.batch {
                    func boxes(_ o: [Float]) -> [ScoredBox] {
                        o.withUnsafeBufferPointer { p in
                            let base = p.baseAddress! + n * shape.count
                            return CenterNetTargets.decode(heatmap: base, size: base + Self.classes * hw,
                                                           offset: base + (Self.classes + 2) * hw, classes: Self.classes,
                                                           height: shape.height, width: shape.width, stride: b.net.stride,
                                                           topK: 10, minScore: 0.01, nmsIoU: 0.5)
                        }
                    }
                    let a = boxes(out), f = boxes(fqOut)
                    XCTAssertFalse(f.isEmpty)
                    let close = a.count == f.count && zip(a, f).allSatisfy { (p: ScoredBox, q: ScoredBox) -> Bool in
                        let d: [Double] = [p.box.x - q.box.x, p.box.y - q.box.y, p.box.w - q.box.w, p.box.h - q.box.h]
                        return p.box.classId == q.box.classId && abs(p.score - q.score) < 1e-2 && d.allSatisfy { abs($0) < 0.25 }
                    }
                    if close { same += 1 }
                }
                XCTAssertGreaterThanOrEqual(same, Self.batch - 1, "images with the same decoded boxes: \(same) of \(Self.batch)")
            }
        }
    }

    /// The fast path (one and two threads) and exact-float against the Int32 reference: identical bits.
    func testFastPathBitIdentical() throws {
        for (kind, seed) in [(SceneNetwork.Kind.centerNet, UInt64(11)), (.fcn, 12), (.centerNet, 13), (.fcn, 14)] {
            let b = try build(kind, seed: seed)
            let ref = try run(b.model, b.pixels, .int32Reference)
            XCTAssertTrue(ref.out.contains { $0 != 0 })
            for (arith, threads) in [(IntegerEngine.Arithmetic.int32, 1), (.int32, 2), (.exactFloat, 1)] {
                let r = try run(b.model, b.pixels, arith, threads: threads)
                XCTAssertEqual(r.out.map(\.bitPattern), ref.out.map(\.bitPattern), "\(kind) \(arith) \(threads) threads")
                XCTAssertEqual(r.levels, ref.levels, "\(kind) \(arith) \(threads) threads")
            }
        }
    }

    /// The head ops of both paths against plain loops in Double (bilinear weights from
    /// the align_corners = false definition), on odd channel counts.
    func testHeadOpsAgainstPlainLoops() throws {
        let c = 5, h = 3, w = 4
        var values = [IntegerValue(name: "image", kind: .image, channels: 1, height: h, width: w)]
        // The float inputs come from two 1x1 stem convs of the image (float output, varying per pixel).
        func floatValue(_ name: String, _ ch: Int, _ hh: Int, _ ww: Int) -> Int {
            values.append(IntegerValue(name: name, kind: .float, channels: ch, height: hh, width: ww)); return values.count - 1
        }
        let va = floatValue("a", c, h, w), vb = floatValue("b", c, h, w)
        let s = floatValue("s", c, h, w), u = floatValue("u", c, 2 * h, 2 * w), cat = floatValue("cat", 2 * c, h, w)
        var ops: [IntegerOp] = []
        let biasA: [Float] = (0..<c).map { Float($0) * 0.5 - 1 }, biasB: [Float] = (0..<c).map { Float($0 * $0) * 0.25 }
        for (v, bias) in zip([va, vb], [biasA, biasB]) {
            var op = IntegerOp(name: "conv\(v)", kind: .conv, inputs: [0], output: v)
            op.inChannels = 1; op.outChannels = c; op.kernel = 1; op.weightBits = 4
            op.weights = (0..<c).map { (ch: Int) -> Int8 in Int8(ch % 3 - 1) }
            op.multiplier = (0..<c).map { (ch: Int) -> Float in 0.01 * Float(ch + 1) }
            op.bias = bias; op.zeroPoint = [10]
            ops.append(op)
        }
        var sum = IntegerOp(name: "sum", kind: .sum, inputs: [va, vb], output: s)
        sum.inChannels = 2 * c; sum.outChannels = c
        var up = IntegerOp(name: "up", kind: .upsample2x, inputs: [s], output: u)
        up.inChannels = c; up.outChannels = c
        var cc = IntegerOp(name: "cat", kind: .concat, inputs: [vb, va], output: cat)
        cc.inChannels = 2 * c; cc.outChannels = 2 * c
        let last = floatValue("up2", c, 4 * h, 4 * w)
        var up2 = IntegerOp(name: "up2", kind: .upsample2x, inputs: [u], output: last)
        up2.inChannels = c; up2.outChannels = c
        ops += [sum, up, cc, up2]
        let m = IntegerModel(values: values, ops: ops, classes: c - 1, task: .segmentation, normMean: [0.1], normStd: [0.5])
        XCTAssertThrowsError(try m.validate()) { e in
            XCTAssertEqual("\(e)", "segmentation logits are 12x16, the image 3x4")
        }
        // Labelled a CenterNet map (classes + 4 channels, any size) it is a valid model.
        var mc = m
        mc.task = .centernet
        mc.classes = c - 4
        let px = (0..<(Self.batch * h * w)).map { UInt8(($0 * 37) % 256) }
        for arith in [IntegerEngine.Arithmetic.int32Reference, .int32] {
            let e = try IntegerEngine(mc, maxBatch: Self.batch, threads: 1, arithmetic: arith)
            let out = px.withUnsafeBufferPointer { e.run($0.baseAddress!, batch: Self.batch) }
            for n in 0..<Self.batch {
                let fa = Array(UnsafeBufferPointer(start: e.floats(of: va)! + n * c * h * w, count: c * h * w))
                let fb = Array(UnsafeBufferPointer(start: e.floats(of: vb)! + n * c * h * w, count: c * h * w))
                let fs = UnsafeBufferPointer(start: e.floats(of: s)! + n * c * h * w, count: c * h * w)
                let fc = UnsafeBufferPointer(start: e.floats(of: cat)! + n * 2 * c * h * w, count: 2 * c * h * w)
                for i in 0..<(c * h * w) {
                    XCTAssertEqual(fs[i], fa[i] + fb[i])
                    XCTAssertEqual(fc[i], fb[i]); XCTAssertEqual(fc[c * h * w + i], fa[i])
                }
                let fu = UnsafeBufferPointer(start: e.floats(of: u)! + n * c * 4 * h * w, count: c * 4 * h * w)
                let fo = UnsafeBufferPointer(start: out + n * c * 16 * h * w, count: c * 16 * h * w)
                XCTAssertEqual(Array(UnsafeBufferPointer(start: e.floats(of: last)! + n * c * 16 * h * w, count: c * 16 * h * w)), Array(fo))
                for (src, dst, sh, sw) in [(Array(fs), Array(fu), h, w), (Array(fu), Array(fo), 2 * h, 2 * w)] {
                    for ch in 0..<c {
                        for oy in 0..<(2 * sh) {
                            for ox in 0..<(2 * sw) {
                                func taps(_ d: Int, _ n: Int) -> (Int, Int, Double) {
                                    let x = max((Double(d) + 0.5) / 2 - 0.5, 0), i = Int(x.rounded(.down))
                                    return (i, min(i + 1, n - 1), x - Double(i))
                                }
                                let (y0, y1, ly) = taps(oy, sh), (x0, x1, lx) = taps(ox, sw)
                                func at(_ y: Int, _ x: Int) -> Double { Double(src[(ch * sh + y) * sw + x]) }
                                let top: Double = (1 - lx) * at(y0, x0) + lx * at(y0, x1)
                                let bottom: Double = (1 - lx) * at(y1, x0) + lx * at(y1, x1)
                                let v: Double = (1 - ly) * top + ly * bottom
                                XCTAssertEqual(Double(dst[(ch * 2 * sh + oy) * 2 * sw + ox]), v, accuracy: 1e-5 * max(1, abs(v)),
                                               "\(arith) n \(n) c \(ch) (\(oy), \(ox))")
                            }
                        }
                    }
                }
            }
        }
    }

    func testMalformedHeadOpsRefused() throws {
        let good = try build(.fcn, seed: 3).model
        func message(_ change: (inout IntegerModel) -> Void) -> String {
            var m = good
            change(&m)
            do { try m.validate(); return "valid" } catch { return "\(error)" }
        }
        let sum = good.ops.firstIndex { $0.kind == .sum }!, up = good.ops.firstIndex { $0.kind == .upsample2x }!
        XCTAssertEqual(message { $0.ops[sum].inputs = [$0.ops[sum].inputs[0]] },
                       "op head.sum: sum needs two float inputs of the output's shape, float output")
        XCTAssertEqual(message { $0.ops[up].inputs = [$0.ops[sum].output] },
                       "op head.score_deep.up: input \(good.ops[sum].output) is not produced before it")
        XCTAssertEqual(message { $0.values[$0.ops[up].output].height += 1 },
                       "op head.score_deep.up: upsample2x needs a float input and a float output of twice its size")
        XCTAssertEqual(message { $0.classes = 5 },
                       "the last op must produce a float segmentation map of 6 channels for 5 classes")
        let det = try build(.centerNet, seed: 3).model
        var bad = det
        bad.values[bad.ops.last!.output].channels -= 1
        XCTAssertThrowsError(try bad.validate()) { e in
            XCTAssertEqual("\(e)", "op head.concat: concat needs float inputs of the output's size whose channels add up to the output's")
        }
    }

    /// The ONNX graph of the heads: Resize (bilinear, half_pixel) per upsample2x, Add for
    /// the skip sum, Concat on channels, and the head's map as the output.
    func testOnnxGraphOfTheHeads() throws {
        let seg = try build(.fcn, seed: 2).model
        var g = try OnnxExport.model(seg).graph
        let resize = g.nodes.filter { $0.opType == "Resize" }
        XCTAssertEqual(resize.map(\.name), seg.ops.filter { $0.kind == .upsample2x }.map(\.name))
        XCTAssertEqual(resize[0].inputs, ["head.score_deep.conv", "", "head.score_deep.up.scales"])
        XCTAssertEqual(resize[0].attributes, [OnnxAttribute("mode", .string("linear")),
                                              OnnxAttribute("coordinate_transformation_mode", .string("half_pixel"))])
        XCTAssertEqual(g.initializers.first { $0.name == "head.score_deep.up.scales" }, .float("head.score_deep.up.scales", dims: [4], [1, 1, 2, 2]))
        XCTAssertEqual(g.nodes.first { $0.name == "head.fused" }?.inputs, ["head.score_deep.up", "head.score_skip.conv"])
        XCTAssertEqual(g.outputs, [OnnxValueInfo(name: "head.up1", elemType: .float,
                                                 shape: [.param("N"), .value(Self.classes + 1), .value(Self.size), .value(Self.size)])])
        g = try OnnxExport.model(try build(.centerNet, seed: 2).model).graph
        let concat = g.nodes.first { $0.opType == "Concat" }!
        XCTAssertEqual(concat.inputs, ["head.heatmap.2.conv", "head.size.2.conv", "head.offset.2.conv"])
        XCTAssertEqual(concat.attributes, [OnnxAttribute("axis", .int(1))])
        XCTAssertEqual(g.outputs[0].shape, [.param("N"), .value(Self.classes + 4), .value(Self.size / 4), .value(Self.size / 4)])
    }

    func testModelFileRoundTripAndVersions() throws {
        for kind in [SceneNetwork.Kind.centerNet, .fcn] {
            let m = try build(kind, seed: 21).model
            let bytes = try ModelFile.encode(m)
            XCTAssertEqual(bytes[8], 2, "scene models need format version 2")
            let back = try bytes.withUnsafeBytes { try ModelFile.decode($0, name: "s.gdqr") }
            XCTAssertEqual(back, m)
            XCTAssertEqual(try ModelFile.encode(back), bytes)
            // The same bytes labelled version 1 (checksum recomputed): refused, naming the op.
            var v1 = bytes
            v1[8] = 1
            let crc = CRC32C.checksum(Array(v1[0..<(v1.count - 16)]))
            withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { v1[v1.count - 16 + i] = $0[i] } }
            let firstHeadOp = m.ops.first { $0.kind.isHeadOp }!
            XCTAssertThrowsError(try v1.withUnsafeBytes { try ModelFile.decode($0, name: "s.gdqr") }) { e in
                XCTAssertEqual("\(e)", "s.gdqr: op \(firstHeadOp.name): kind \(firstHeadOp.kind.rawValue) needs format version 2, the file says 1")
            }
            // And the engine runs what the file holds, bit for bit.
            let px = Self.images(seed: 3)
            XCTAssertEqual(try run(back, px, .int32).out.map(\.bitPattern), try run(m, px, .int32).out.map(\.bitPattern))
        }
        // Classifiers are still written as version 1.
        XCTAssertEqual(try ModelFile.encode(try ModelFileTests.foldedModel())[8], 1)
    }
}
