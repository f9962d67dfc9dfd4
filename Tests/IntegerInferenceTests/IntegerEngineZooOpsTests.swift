// The integer engine's ops for the zoo networks (VGG, ResNet-50, MobileNetV2): the
// depthwise kernel against its plain reference, and the fast path against the
// reference path on random models with a depthwise 3x3 conv (ReLU6), signed levels
// (a 1x1 conv without ReLU, a residual add without ReLU, a 1x1 conv reading them),
// a float ReLU6 output averaged by avgquant, and a hidden linear layer on a spatial
// input. Both paths must give identical levels and logits (checkFastEqualsReference).

import XCTest
import TensorEngine
@testable import IntegerInference

final class IntegerEngineZooOpsTests: XCTestCase {
    /// Odd channel counts (partial 16-lane blocks, a C4 stride past the last block), 1 to 4
    /// blocks, 1 or 9 taps, tails of the 6-pixel tile; full-range levels and weights.
    func testDepthwiseKernelMatchesReference() {
        var g = seededGenerator()
        for (pixels, channels, taps) in [(1, 1, 9), (7, 5, 9), (13, 16, 9), (11, 21, 1), (25, 40, 9), (6, 64, 9)] {
            let stride = (channels + 3) / 4 * 4
            let w = PackedDepthwiseWeights(channels: channels, taps: taps) { c, t in
                c == 0 && t == 0 ? -128 : Int8.random(in: -128...127, using: &g)
            }
            defer { w.deallocate() }
            let po = (0..<pixels).map { _ in Int.random(in: 0...(pixels * 3), using: &g) * stride }
            let to = (0..<taps).map { _ in Int.random(in: 0...8, using: &g) * stride }
            let srcCount = (pixels * 3 + 9) * stride + stride
            let src = (0..<srcCount).map { i in i < stride ? 255 : UInt8.random(in: 0...255, using: &g) }
            let ld = w.blocks * 16
            var acc = [Int32](repeating: -7, count: pixels * ld)
            var ref: [Int64] = []
            src.withUnsafeBufferPointer { s in po.withUnsafeBufferPointer { p in to.withUnsafeBufferPointer { t in
                let geo = ConvGeometry(src: s.baseAddress!, pixelOffsets: p.baseAddress!, pixels: pixels, tapOffsets: t.baseAddress!)
                let tile = UnsafeMutablePointer<Int32>.allocate(capacity: convTileRows * ld)
                defer { tile.deallocate() }
                acc.withUnsafeMutableBufferPointer { a in
                    depthwiseInt8(geo, w, channelStride: stride, tile: tile, ldAcc: ld) { p0, rows in
                        (a.baseAddress! + p0 * ld).update(from: tile, count: rows * ld)
                    }
                }
                ref = depthwiseReference(geo, w)
            } } }
            // Lanes past the channels: the reference leaves 0, the kernel multiplies by weight 0.
            XCTAssertEqual(acc.map { Int64($0) }, ref, "pixels \(pixels) channels \(channels) taps \(taps)")
            XCTAssertTrue(ref.contains { $0 != 0 })
        }
    }

    /// stem → a → depthwise 3x3 stride 2, ReLU6 → dw → 1x1, no ReLU → s (signed) → 1x1 (float)
    /// + s, no ReLU → res (signed) → 1x1, ReLU6 (float) → avgquant → hidden linear (ReLU) →
    /// logits; and a second branch: max pool of dw → hidden linear on the flattened C·H·W.
    static func zooModel(cin: Int, size: Int, c: Int, hidden: Int, classes: Int, signedBits: Int) throws -> IntegerModel {
        var r = IntegerEngineFastTests.ModelRNG("zoo \(cin) \(size) \(c) \(hidden) \(classes) \(signedBits)")
        var values = [IntegerValue(name: "image", kind: .image, channels: cin, height: size, width: size)]
        var ops: [IntegerOp] = []
        func value(_ name: String, _ kind: IntegerValueKind, _ ch: Int, _ h: Int, _ w: Int, bits: Int = 4,
                   signed: Bool = false) -> Int {
            values.append(IntegerValue(name: name, kind: kind, channels: ch, height: h, width: w, bits: kind == .integer ? bits : 0,
                                       threshold: kind == .integer ? r.uniform(1, 4) : 0, signed: signed))
            return values.count - 1
        }
        func weighted(_ kind: IntegerOpKind, _ name: String, _ x: Int, _ y: Int, kernel: Int = 1, stride: Int = 1,
                      pad: Int = 0, groups: Int = 1, bits: Int = 4, relu: Bool = false, relu6: Bool = false) {
            let xv = values[x], yv = values[y]
            var op = IntegerOp(name: name, kind: kind, inputs: [x], output: y)
            op.inChannels = kind == .linear ? xv.count : xv.channels; op.outChannels = yv.channels
            op.kernel = kernel; op.stride = stride; op.padding = pad; op.groups = groups; op.weightBits = bits
            op.weights = (0..<op.weightCount).map { _ in r.int8(bits) }
            // z spans the output's levels (and, for ReLU6, crosses 6 sometimes).
            let k = Float(op.weightCount / op.outChannels)
            let typical = k.squareRoot() * Float(xv.maxInput) * Float(1 << (bits - 1)) / 3
            let target = yv.kind == .integer ? yv.threshold : 8
            op.multiplier = (0..<yv.channels).map { _ in (r.uniform(0, 1) < 0.2 ? -1 : 1) * r.uniform(0.5, 2) * target / typical }
            op.bias = (0..<yv.channels).map { _ in r.uniform(-0.3, 0.6) * target }
            op.relu = relu || relu6; op.relu6 = relu6
            if xv.kind == .image { op.zeroPoint = (0..<xv.channels).map { _ in r.uniform(0, 255) } }
            ops.append(op)
        }
        let s2 = (size + 1) / 2
        let a = value("a", .integer, c, size, size)
        weighted(.conv, "stem", 0, a, kernel: 3, pad: 1, bits: 8, relu: true)
        let dw = value("dw", .integer, c, s2, s2)
        weighted(.conv, "depthwise", a, dw, kernel: 3, stride: 2, pad: 1, groups: c, relu6: true)
        let s = value("s", .integer, 2 * c, s2, s2, bits: signedBits, signed: true)
        weighted(.conv, "project", dw, s, bits: 4)
        let z = value("z", .float, 2 * c, s2, s2)
        weighted(.conv, "project2", s, z, bits: 4)
        let res = value("res", .integer, 2 * c, s2, s2, bits: signedBits, signed: true)
        var add = IntegerOp(name: "add", kind: .add, inputs: [z, s], output: res)
        add.inChannels = 2 * c; add.outChannels = 2 * c
        ops.append(add)
        let last = value("last", .float, 3 * c, s2, s2)
        weighted(.conv, "last-1x1", res, last, relu6: true)
        let avg = value("avg", .integer, 3 * c, 1, 1, bits: 8)
        var aq = IntegerOp(name: "avgquant", kind: .avgquant, inputs: [last], output: avg)
        aq.inChannels = 3 * c; aq.outChannels = 3 * c
        ops.append(aq)
        // VGG's classifier: a hidden layer on the spatial (flattened) pooled depthwise output.
        let pooled = value("pooled", .integer, c, (s2 - 2) / 2 + 1, (s2 - 2) / 2 + 1)
        values[pooled].threshold = values[dw].threshold
        var mp = IntegerOp(name: "maxpool", kind: .maxpool, inputs: [dw], output: pooled)
        mp.inChannels = c; mp.outChannels = c; mp.kernel = 2; mp.stride = 2
        ops.append(mp)
        let h = value("hidden", .integer, hidden, 1, 1)
        weighted(.linear, "fc-hidden", pooled, h, bits: 4, relu: true)
        let h2 = value("hidden2", .integer, hidden, 1, 1)
        weighted(.linear, "fc-hidden2", avg, h2, bits: 4, relu: true)
        let logits = value("logits", .float, classes, 1, 1)
        // The classifier reads one of the hidden layers; the other is checked as a value.
        weighted(.linear, "fc", h2, logits, bits: 8)
        _ = h
        let m = IntegerModel(values: values, ops: ops, classes: classes, normMean: [0.3], normStd: [0.3])
        try m.validate()
        XCTAssertTrue(m.usesVersion3)
        return m
    }

}

extension IntegerEngineFastTests {
    func testFastPathEqualsReferenceOnZooOps() throws {
        // Odd channels (C4 padding, partial blocks), 4- and 8-bit signed levels, odd sizes.
        for (cin, size, c, hidden, classes, bits) in [(1, 9, 5, 7, 3, 4), (3, 12, 16, 24, 10, 4), (1, 16, 21, 10, 10, 8)] {
            let m = try IntegerEngineZooOpsTests.zooModel(cin: cin, size: size, c: c, hidden: hidden, classes: classes,
                                                           signedBits: bits)
            try checkFastEqualsReference(m, batch: 5)
        }
    }
}
