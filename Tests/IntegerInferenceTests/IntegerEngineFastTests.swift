// The fast integer path against its references: the dot-product step against its
// scalar definition, the implicit-GEMM kernel against the plain loop over the same
// layout, and whole random models (odd channel counts, stride 2, padding, the 8-bit
// stem with zero points, a 1x1 shortcut conv, integer and float shortcuts, maxpool,
// average pool, classifier) run with .int32 against .int32Reference: identical
// logits and identical levels of every integer value.
import XCTest
import IntegerSIMD
import IntegerTilesV3
import TensorEngine
@testable import IntegerInference

final class IntegerEngineFastTests: XCTestCase {
    func testDotProductStepMatchesDefinition() {
        var g = seededGenerator()
        for trial in 0..<2000 {
            var acc = SIMD16<Int32>(), a = SIMD16<Int32>(), b = SIMD16<Int32>()
            for j in 0..<16 {
                acc[j] = trial == 0 ? Int32.max - 100 : Int32.random(in: -1_000_000...1_000_000, using: &g)
                // Extremes: all-255 activations times all -128 weights, and random words.
                a[j] = trial == 1 ? -1 : Int32.random(in: .min ... .max, using: &g)
                b[j] = trial == 1 ? Int32(bitPattern: 0x8080_8080) : Int32.random(in: .min ... .max, using: &g)
            }
            let r = dotProductAccumulate(acc, a, b), portable = dotProductAccumulatePortable(acc, a, b)
            for j in 0..<16 {
                let expected = dotProductReference(acc[j], UInt32(bitPattern: a[j]), UInt32(bitPattern: b[j]))
                XCTAssertEqual(r[j], expected, "trial \(trial) lane \(j)")
                XCTAssertEqual(portable[j], expected, "portable, trial \(trial) lane \(j)")
            }
        }
        XCTAssertEqual(dotProductReference(0, 0xFFFF_FFFF, 0x8080_8080), 4 * 255 * -128)
        // bytes a = 1, 2, 3, 4 (low first); b = 1, -2, 2, -1: 5 + 1 - 4 + 6 - 4 = 4.
        XCTAssertEqual(dotProductReference(5, 0x0403_0201, 0xFF02_FE01), 4)
    }

    /// VPMADDUBSW and VPMADDWD against their definitions, including the largest pair
    /// sums that do not saturate (255 · 64 · 2 = 32640) and ones that do.
    func testPairProductsMatchDefinition() {
        var g = seededGenerator()
        for trial in 0..<2000 {
            var a = SIMD8<Int32>(), w = SIMD8<Int32>()
            for j in 0..<8 {
                a[j] = trial == 0 ? -1 : Int32.random(in: .min ... .max, using: &g)
                w[j] = trial == 0 ? 0x4040_4040 : Int32.random(in: .min ... .max, using: &g)
            }
            let pairs = pairProducts(a, w), wide = widenPairs(pairs)
            for j in 0..<8 {
                let ua = UInt32(bitPattern: a[j]), uw = UInt32(bitPattern: w[j])
                var sums: [Int] = []
                for h in 0..<2 {
                    var s = 0
                    for i in (2 * h)..<(2 * h + 2) {
                        s += Int((ua >> (8 * UInt32(i))) & 0xff) * Int(Int8(truncatingIfNeeded: uw >> (8 * UInt32(i))))
                    }
                    sums.append(min(32767, max(-32768, s)))   // VPMADDUBSW saturates
                }
                XCTAssertEqual(Int(pairs[2 * j]), sums[0], "trial \(trial) lane \(j) low pair")
                XCTAssertEqual(Int(pairs[2 * j + 1]), sums[1], "trial \(trial) lane \(j) high pair")
                XCTAssertEqual(Int(wide[j]), sums[0] + sums[1], "trial \(trial) lane \(j) widened")
            }
        }
        XCTAssertEqual(pairChunk(maxInput: 15, maxWeight: 7), 156)
        XCTAssertEqual(pairChunk(maxInput: 255, maxWeight: 64), 1)
        XCTAssertNil(pairChunk(maxInput: 255, maxWeight: 65))
        XCTAssertEqual(pairChunk(maxInput: 255, maxWeight: 0), Int.max)
    }

    /// Every register tile this CPU runs against the plain loop: the portable step with
    /// full int8 ranges, AVX2 pair products with 4-bit ranges (156 steps per widening)
    /// and with the largest exact range (a widening after every step), AVX512-VNNI and
    /// AVX-VNNI where the CPU has them, with full int8 ranges. The path is asserted, so a
    /// range change that silently picks another fails.
    func testConvKernelMatchesReference() {
        var cases: [(Int8TilePath, Int, Int)] = [(.portable, 255, 127), (.pairs(chunk: 156), 15, 7),
                                                (.pairs(chunk: 1), 255, 64)]
        if CPULevel.cpuFeatures.contains("avx512vnni") { cases.append((.vnni, 255, 127)) }
        if CPULevel.cpuFeatures.contains("avxvnni") { cases.append((.vnni256, 255, 127)) }
        for (path, maxInput, maxWeight) in cases {
            // Not a vacuous comparison: some output of the path's shapes is non-zero. (Per
            // shape it failed in 3 of 5 runs: the 1-output shape's sum often cancels,
            // its extreme weights +max and -max meeting equal extreme inputs.)
            XCTAssertTrue(convKernelCase(path: path, maxInput: maxInput, maxWeight: maxWeight), "\(path): every output 0")
        }
    }

    /// Compares every shape for one path; returns whether any reference output was non-zero.
    private func convKernelCase(path: Int8TilePath, maxInput: Int, maxWeight: Int) -> Bool {
        var anyNonZero = false
        var g = seededGenerator()
        // (pixels, output channels, taps, channels per tap): tails of 6 pixels, 1 ... 5 blocks.
        for (pixels, cout, taps, cpt) in [(1, 1, 1, 4), (7, 16, 9, 8), (13, 33, 9, 16), (49, 64, 9, 64),
                                          (25, 70, 1, 12), (6, 100, 4, 4), (11, 48, 9, 20)] {
            let w = PackedConvWeights(outChannels: cout, inChannels: cpt, taps: taps, channelsPerTap: cpt,
                                      maxInput: maxInput) { co, t, ci in
                // The extremes first, so every range's largest products occur.
                co == 0 && t == 0 && ci < 2 ? Int8(ci == 0 ? maxWeight : -maxWeight)
                    : Int8.random(in: Int8(-maxWeight)...Int8(maxWeight), using: &g)
            }
            defer { w.deallocate() }
            XCTAssertEqual(Int8TilePath.choose(w, level: path == .vnni ? .v4VNNI : path == .vnni256 ? .v3VNNI : .v3), path)
            let srcCount = pixels * 3 + taps * 5 + cpt + 64
            let src = (0..<srcCount).map { i in i < 8 ? UInt8(maxInput) : UInt8.random(in: 0...UInt8(maxInput), using: &g) }
            let po = (0..<pixels).map { _ in Int.random(in: 0...(pixels * 3), using: &g) }
            let to = (0..<taps).map { _ in Int.random(in: 0...(taps * 5), using: &g) }
            let ld = w.blocks * 16
            var acc = [Int32](repeating: -7, count: pixels * ld)
            var ref: [Int64] = []
            src.withUnsafeBufferPointer { s in po.withUnsafeBufferPointer { p in to.withUnsafeBufferPointer { t in
                let geo = ConvGeometry(src: s.baseAddress!, pixelOffsets: p.baseAddress!, pixels: pixels, tapOffsets: t.baseAddress!)
                acc.withUnsafeMutableBufferPointer { convolveInt8(geo, w, path: path, acc: $0.baseAddress!, ldAcc: ld) }
                ref = convolveReference(geo, w)
            } } }
            XCTAssertEqual(acc.map { Int64($0) }, ref, "\(path): pixels \(pixels) cout \(cout) taps \(taps) cpt \(cpt)")
            anyNonZero = anyNonZero || ref.contains { $0 != 0 }
        }
        return anyNonZero
    }

    // MARK: whole models

    /// Draws for one random model; the model's shape names its stream.
    struct ModelRNG {
        var g: CounterRNG
        init(_ shape: String) { g = seededGenerator(shape) }
        mutating func uniform(_ lo: Float, _ hi: Float) -> Float { Float.random(in: lo...hi, using: &g) }
        mutating func int8(_ bits: Int) -> Int8 { Int8(Int.random(in: -(1 << (bits - 1))...((1 << (bits - 1)) - 1), using: &g)) }
    }

    /// A random model exercising every op and layout case.
    static func randomModel(inChannels: Int, height: Int, width: Int, c1: Int, c2: Int, classes: Int) throws -> IntegerModel {
        var r = ModelRNG("random \(inChannels) \(height) \(width) \(c1) \(c2) \(classes)")
        var values = [IntegerValue(name: "image", kind: .image, channels: inChannels, height: height, width: width)]
        var ops: [IntegerOp] = []
        func value(_ name: String, _ kind: IntegerValueKind, _ c: Int, _ h: Int, _ w: Int, bits: Int = 4) -> Int {
            values.append(IntegerValue(name: name, kind: kind, channels: c, height: h, width: w,
                                       bits: kind == .integer ? bits : 0, threshold: kind == .integer ? r.uniform(1, 4) : 0))
            return values.count - 1
        }
        func conv(_ name: String, _ x: Int, _ y: Int, kernel: Int, stride: Int, pad: Int, bits: Int, relu: Bool) {
            let xv = values[x], yv = values[y]
            var op = IntegerOp(name: name, kind: .conv, inputs: [x], output: y)
            op.inChannels = xv.channels; op.outChannels = yv.channels
            op.kernel = kernel; op.stride = stride; op.padding = pad; op.weightBits = bits
            op.weights = (0..<op.weightCount).map { _ in r.int8(bits) }
            // Scale so that z spans the output's levels: acc ~ sqrt(K)·(max input)·(max weight)/3.
            let k = Float(xv.channels * kernel * kernel)
            let typical = k.squareRoot() * Float(xv.maxInput) * Float(1 << (bits - 1)) / 3
            let target = yv.kind == .integer ? yv.threshold : 2
            op.multiplier = (0..<yv.channels).map { _ in (r.uniform(0, 1) < 0.2 ? -1 : 1) * r.uniform(0.5, 2) * target / typical }
            op.bias = (0..<yv.channels).map { _ in r.uniform(-0.3, 0.6) * target }
            op.relu = relu
            if xv.kind == .image { op.zeroPoint = (0..<xv.channels).map { _ in r.uniform(0, 255) } }
            ops.append(op)
        }
        let h2 = (height + 1) / 2, w2 = (width + 1) / 2
        let a = value("a", .integer, c1, height, width)
        conv("stem", 0, a, kernel: 3, stride: 1, pad: 1, bits: 8, relu: true)
        let b = value("b", .integer, c2, h2, w2)
        conv("conv-s2", a, b, kernel: 3, stride: 2, pad: 1, bits: 4, relu: false)   // no ReLU: the clamp at 0 requantises
        let main1 = value("main1", .float, c2, h2, w2)
        conv("conv-main1", b, main1, kernel: 3, stride: 1, pad: 1, bits: 4, relu: false)
        let short1 = value("short1", .float, c2, h2, w2)
        conv("shortcut-1x1", a, short1, kernel: 1, stride: 2, pad: 0, bits: 4, relu: false)
        let d = value("d", .integer, c2, h2, w2)
        var add1 = IntegerOp(name: "add1", kind: .add, inputs: [main1, short1], output: d)
        add1.inChannels = c2; add1.outChannels = c2
        ops.append(add1)
        let main2 = value("main2", .float, c2, h2, w2)
        conv("conv-main2", d, main2, kernel: 3, stride: 1, pad: 1, bits: 4, relu: false)
        let e = value("e", .integer, c2, h2, w2)
        var add2 = IntegerOp(name: "add2", kind: .add, inputs: [main2, d], output: e)
        add2.inChannels = c2; add2.outChannels = c2
        ops.append(add2)
        let h3 = (h2 + 2 - 3) / 2 + 1, w3 = (w2 + 2 - 3) / 2 + 1
        values.append(IntegerValue(name: "pooled", kind: .integer, channels: c2, height: h3, width: w3,
                                   bits: 4, threshold: values[e].threshold))
        let pooled = values.count - 1
        var mp = IntegerOp(name: "maxpool", kind: .maxpool, inputs: [e], output: pooled)
        mp.inChannels = c2; mp.outChannels = c2; mp.kernel = 3; mp.stride = 2; mp.padding = 1
        ops.append(mp)
        let avg = value("avg", .integer, c2, 1, 1, bits: 8)
        var aq = IntegerOp(name: "avgquant", kind: .avgquant, inputs: [pooled], output: avg)
        aq.inChannels = c2; aq.outChannels = c2
        ops.append(aq)
        let logits = value("logits", .float, classes, 1, 1)
        var fc = IntegerOp(name: "fc", kind: .linear, inputs: [avg], output: logits)
        fc.inChannels = c2; fc.outChannels = classes; fc.weightBits = 8
        fc.weights = (0..<(c2 * classes)).map { _ in r.int8(8) }
        fc.multiplier = (0..<classes).map { _ in r.uniform(0.001, 0.01) }
        fc.bias = (0..<classes).map { _ in r.uniform(-1, 1) }
        ops.append(fc)
        let m = IntegerModel(values: values, ops: ops, classes: classes, normMean: [0.3], normStd: [0.3])
        try m.validate()
        return m
    }

    func checkFastEqualsReference(_ m: IntegerModel, batch: Int) throws {
        var g = seededGenerator("pixels \(m.values.map(\.count)) \(batch)")
        let pixels = (0..<(batch * m.input.count)).map { _ in UInt8.random(in: 0...255, using: &g) }
        let ref = try IntegerEngine(m, maxBatch: batch + 2, threads: 1, arithmetic: .int32Reference)
        let refLogits = pixels.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: ref.run($0.baseAddress!, batch: batch), count: batch * m.classes)) }
        for threads in [1, 2] {
            let fast = try IntegerEngine(m, maxBatch: batch + 2, threads: threads, arithmetic: .int32)
            // Run twice (the second run must not depend on the first's leftovers).
            for _ in 0..<2 {
                let l = pixels.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: fast.run($0.baseAddress!, batch: batch), count: batch * m.classes)) }
                XCTAssertEqual(l, refLogits, "logits, threads \(threads)")
            }
            for (vi, v) in m.values.enumerated() where v.kind != .image {
                if v.kind == .integer {
                    let a = Array(UnsafeBufferPointer(start: fast.levels(of: vi)!, count: batch * v.count))
                    let b = Array(UnsafeBufferPointer(start: ref.levels(of: vi)!, count: batch * v.count))
                    XCTAssertEqual(a, b, "levels of \(v.name), threads \(threads)")
                    // Not vacuous: levels vary, some are 0 and some are above 0. A 1x1 value
                    // (pooled features, a hidden FC layer) holds a few levels per image that
                    // random weights and biases can leave all at 0 or all above it (a hidden
                    // ReLU FC was all zero in one of the full runs), so it is exempt; the
                    // logits it feeds are compared above. A max pool's output is exempt from
                    // needing a 0: a window's maximum is 0 only if all its levels are, which
                    // mostly-positive inputs rarely give; its input is checked for both.
                    let pooled = m.ops.contains { $0.kind == .maxpool && $0.output == vi }
                    XCTAssertTrue(b.contains(0) || v.height == 1 || pooled, "\(v.name) has no zero level")
                    XCTAssertTrue(b.contains { $0 > 0 } || v.height == 1, "\(v.name) is all zero")
                } else if let f = fast.floats(of: vi) {   // nil: fused into its add (checked below)
                    let a = Array(UnsafeBufferPointer(start: f, count: batch * v.count))
                    let b = Array(UnsafeBufferPointer(start: ref.floats(of: vi)!, count: batch * v.count))
                    XCTAssertEqual(a, b, "floats of \(v.name), threads \(threads)")
                }
            }
        }
    }

    func testResidualAddIsFusedIntoTheConv() throws {
        let m = try Self.randomModel(inChannels: 1, height: 9, width: 9, c1: 4, c2: 8, classes: 3)
        let e = try IntegerEngine(m, maxBatch: 1, threads: 1, arithmetic: .int32)
        let names = m.values.indices.filter { e.floats(of: $0) == nil && m.values[$0].kind == .float }.map { m.values[$0].name }
        // Each add runs in the conv producing its later input: add1 in the 1x1 shortcut conv
        // (after conv-main1), add2 in conv-main2 (its shortcut d is earlier); main1 is stored.
        XCTAssertEqual(names, ["short1", "main2"])
        let ref = try IntegerEngine(m, maxBatch: 1, threads: 1, arithmetic: .int32Reference)
        XCTAssertNotNil(ref.floats(of: m.values.firstIndex { $0.name == "main1" }!))
    }

    func testFastPathEqualsReferenceOnRandomModels() throws {
        // Odd channels (C4 padding, partial 16-lane blocks), odd sizes, 1 ... 5 blocks.
        for (cin, h, w, c1, c2, classes) in [(1, 11, 9, 5, 19, 7), (3, 8, 13, 16, 70, 10), (2, 7, 7, 3, 33, 3), (1, 28, 28, 16, 64, 10)] {
            let m = try Self.randomModel(inChannels: cin, height: h, width: w, c1: c1, c2: c2, classes: classes)
            try checkFastEqualsReference(m, batch: 5)
        }
    }
}
