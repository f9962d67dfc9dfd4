// The fast path of the integer engine (arithmetic .int32): the same ops and the same
// arithmetic as the reference path in IntegerEngine.swift, results identical, on a
// layout made for the dot-product kernel (IntegerKernels.swift):
//   integer values  uint8 levels channels-last, [H + 2B][W + 2B][C4] per image, C4 =
//                   C rounded up to 4, B = the largest padding of a conv or maxpool
//                   reading the value; the border and the extra channels stay 0 and
//                   stand for zero padding
//   float values    [H·W][C16] Float (C16 = C rounded up to 16) from a conv;
//                   [classes] from the classifier (the logits, contiguous per image)
//   the image       as given, [C][H][W] pixels plus one zero byte; the stem gathers
//                   it per image through a precomputed index table into
//                   [pixel][C·k·k rounded up to 4] bytes (C·k·k is 9 here)
// Each conv: the implicit GEMM, 6 output pixels at a time into an Int32 tile
// [6][C16], and while the tile is in L1 a per-channel epilogue in 16-lane Float
// vectors with exactly the reference's operations: z = fma(acc, multiplier, bias or
// stem bias map), ReLU as !(z > 0) → 0 (ReLU6: then min(z, 6)), z / step rounded half
// to even, clamped to 0 ... maxLevel (signed values: −L ... L, stored + L). A residual
// add runs inside the epilogue of the conv producing its later operand (that conv's
// float output is then never stored). A depthwise conv runs DepthwiseKernel.swift's
// kernel into the same tile and epilogue; a linear op gathers its flattened (C·H·W)
// input from the channels-last layout.
// Threads split the batch; a thread runs its images through every op.

import TensorEngine
import IntegerSIMD

final class FastIntegerRunner {
    let model: IntegerModel
    let maxBatch: Int

    struct Layout {
        var border = 0, paddedH = 0, paddedW = 0
        var stride = 0          // elements per pixel (bytes for integer, floats for float values)
        var perImage = 0        // elements per image
        func offset(_ y: Int, _ x: Int) -> Int { ((y + border) * paddedW + x + border) * stride }
    }
    private(set) var layouts: [Layout] = []
    private var bytes: [UnsafeMutablePointer<UInt8>?]
    private var floats: [UnsafeMutablePointer<Float>?]

    private struct ConvPlan {
        /// Dense convs; a depthwise conv keeps only its block count here (no taps).
        var weights: PackedConvWeights
        var depthwise: PackedDepthwiseWeights?
        var pixelOffsets: UnsafeMutablePointer<Int>
        var tapOffsets: UnsafeMutablePointer<Int>
        var multiplier: [SIMD16<Float>] = []
        var bias: [SIMD16<Float>] = []
        var biasMap: [SIMD16<Float>] = []   // stem: [pixel][block]
        var im2colWidth = 0                  // stem: bytes per gathered pixel
        var gather: [Int32] = []             // stem: [pixel][im2colWidth] image index (count: the zero byte)
        var fusedAdd: Int?                   // the add op that consumes this conv's float output alone
        var fusedOther = 0                   // and its other input
        var pixelRows: [Int32] = []          // output pixel p -> oy (ox = p - oy·width), no division per pixel
    }
    private var plans: [ConvPlan?] = []
    /// Float values computed inside a fused conv + add epilogue and never stored.
    private(set) var fusedAway = Set<Int>()
    private let threads: Int
    private let logits: UnsafeMutablePointer<Float>
    private var accScratch: [UnsafeMutablePointer<Int32>] = []
    private var colScratch: [UnsafeMutablePointer<UInt8>] = []

    init(_ model: IntegerModel, maxBatch: Int, threads: Int, stemBiasMap: (Int) -> [Float]) {
        self.model = model
        self.maxBatch = maxBatch
        self.threads = threads
        let nv = model.values.count
        var border = [Int](repeating: 0, count: nv)
        for op in model.ops where op.kind == .conv || op.kind == .maxpool {
            border[op.inputs[0]] = max(border[op.inputs[0]], op.padding)
        }
        // The logits of a classifier are stored contiguous, [classes] per image.
        let logitsValue = model.ops.last!.kind == .linear ? model.ops.last!.output : -1
        bytes = Array(repeating: nil, count: nv)
        floats = Array(repeating: nil, count: nv)
        for (i, v) in model.values.enumerated() {
            var l = Layout()
            switch v.kind {
            case .image:
                // One zero byte after each image: what the stem's gather reads for padding.
                l.paddedH = v.height; l.paddedW = v.width; l.stride = 1; l.perImage = v.count + 1
            case .integer:
                l.border = border[i]
                l.paddedH = v.height + 2 * l.border; l.paddedW = v.width + 2 * l.border
                l.stride = (v.channels + 3) / 4 * 4
                l.perImage = l.paddedH * l.paddedW * l.stride
            case .float:
                l.paddedH = v.height; l.paddedW = v.width
                l.stride = i == logitsValue ? v.channels : (v.channels + 15) / 16 * 16
                l.perImage = v.height * v.width * l.stride
            }
            layouts.append(l)
            let n = l.perImage * maxBatch
            if v.kind == .float {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); floats[i] = p
            } else {
                let p = UnsafeMutablePointer<UInt8>.allocate(capacity: n); p.initialize(repeating: 0, count: n); bytes[i] = p
            }
        }
        logits = .allocate(capacity: maxBatch * model.logits.count)
        var maxAcc = 16, maxCol = 4
        for (oi, op) in model.ops.enumerated() {
            guard op.kind == .conv else { plans.append(nil); continue }
            let x = model.values[op.inputs[0]], y = model.values[op.output], lx = layouts[op.inputs[0]]
            let k = op.kernel, pixels = y.height * y.width
            let plan: ConvPlan
            if x.kind == .image {
                let kk = op.inChannels * k * k, width = (kk + 3) / 4 * 4
                let w = PackedConvWeights(outChannels: op.outChannels, inChannels: kk, taps: 1, channelsPerTap: width,
                                          maxInput: x.maxInput) { co, _, i in
                    op.weights[co * kk + i]
                }
                let po = UnsafeMutablePointer<Int>.allocate(capacity: pixels)
                for p in 0..<pixels { po[p] = p * width }
                let to = UnsafeMutablePointer<Int>.allocate(capacity: 1); to[0] = 0
                var pl = ConvPlan(weights: w, depthwise: nil, pixelOffsets: po, tapOffsets: to)
                pl.im2colWidth = width
                pl.gather = Self.stemGatherTable(op, x, y, width: width)
                maxCol = max(maxCol, pixels * width)
                let map = stemBiasMap(oi)   // [Cout][pixels]
                pl.biasMap = (0..<(pixels * w.blocks)).map { e in
                    let p = e / w.blocks, b = e % w.blocks
                    var v = SIMD16<Float>()
                    for j in 0..<16 where 16 * b + j < op.outChannels { v[j] = map[(16 * b + j) * pixels + p] }
                    return v
                }
                plan = pl
            } else {
                let depthwise = op.groups > 1
                let w = depthwise
                    ? PackedConvWeights(outChannels: op.outChannels, inChannels: 0, taps: 0, channelsPerTap: 0) { _, _, _ in 0 }
                    : PackedConvWeights(outChannels: op.outChannels, inChannels: op.inChannels, taps: k * k,
                                        channelsPerTap: lx.stride, maxInput: x.maxInput) { co, t, ci in
                        op.weights[((co * op.inChannels + ci) * k + t / k) * k + t % k]
                    }
                let po = UnsafeMutablePointer<Int>.allocate(capacity: pixels)
                for oy in 0..<y.height {
                    for ox in 0..<y.width { po[oy * y.width + ox] = lx.offset(oy * op.stride - op.padding, ox * op.stride - op.padding) }
                }
                let to = UnsafeMutablePointer<Int>.allocate(capacity: k * k)
                for ky in 0..<k { for kx in 0..<k { to[ky * k + kx] = (ky * lx.paddedW + kx) * lx.stride } }
                plan = ConvPlan(weights: w, depthwise: depthwise ? PackedDepthwiseWeights(channels: op.outChannels, taps: k * k) { c, t in
                    op.weights[c * k * k + t]
                } : nil, pixelOffsets: po, tapOffsets: to)
            }
            var pl = plan
            pl.pixelRows = (0..<pixels).map { Int32($0 / y.width) }
            let nb = pl.weights.blocks
            func lanes(_ a: [Float]) -> [SIMD16<Float>] {
                (0..<nb).map { b in var v = SIMD16<Float>(); for j in 0..<16 where 16 * b + j < a.count { v[j] = a[16 * b + j] }; return v }
            }
            pl.multiplier = lanes(op.multiplier)
            pl.bias = lanes(op.bias)
            maxAcc = max(maxAcc, convTileRows * nb * 16)
            plans.append(pl)
        }
        // An add runs in the epilogue of the conv that produces the later of its two inputs
        // when that conv's float output feeds nothing else (the float tensor is then never
        // stored). Float addition commutes, so either operand may be the fused one.
        var uses = [Int](repeating: 0, count: nv), producer = [Int](repeating: -1, count: nv)
        for (i, op) in model.ops.enumerated() { producer[op.output] = i; for v in op.inputs { uses[v] += 1 } }
        for (ai, op) in model.ops.enumerated() where op.kind == .add {
            let last = producer[op.inputs[0]] > producer[op.inputs[1]] ? 0 : 1
            let v = op.inputs[last], ci = producer[v]
            guard ci >= 0, uses[v] == 1, model.values[v].kind == .float, plans[ci] != nil else { continue }
            plans[ci]!.fusedAdd = ai
            plans[ci]!.fusedOther = op.inputs[1 - last]
            fusedAway.insert(v)
        }
        fusedAddOps = Set(plans.compactMap { $0?.fusedAdd })
        for (i, op) in model.ops.enumerated() where op.kind == .upsample2x {
            let x = model.values[op.inputs[0]]
            upsampleTaps[i] = (Bilinear2xTaps(inputSize: x.height), Bilinear2xTaps(inputSize: x.width))
        }
        for op in model.ops where op.kind == .linear { maxCol = max(maxCol, op.inChannels) }
        linearGather = model.ops.map { op in
            guard op.kind == .linear else { return [] }
            let x = model.values[op.inputs[0]], l = layouts[op.inputs[0]]
            // Flattened index (c·H + y)·W + x → byte offset of (y, x), channel c.
            return (0..<x.count).map { i in Int32(l.offset(i / x.width % x.height, i % x.width) + i / (x.height * x.width)) }
        }
        for _ in 0..<threads {
            accScratch.append(.allocate(capacity: maxAcc))
            colScratch.append(.allocate(capacity: maxCol))
        }
    }

    deinit {
        for p in bytes { p?.deallocate() }
        for p in floats { p?.deallocate() }
        for case let p? in plans {
            p.weights.deallocate(); p.depthwise?.deallocate(); p.pixelOffsets.deallocate(); p.tapOffsets.deallocate()
        }
        for p in accScratch { p.deallocate() }
        logits.deallocate()
        for p in colScratch { p.deallocate() }
    }

    /// Runs `batch` images ([batch][C][H][W] pixels); returns the logits [batch][classes].
    func run(_ images: UnsafePointer<UInt8>, batch: Int, pool: ThreadPool?) -> UnsafePointer<Float> {
        let count = model.values[0].count, stride = layouts[0].perImage
        for n in 0..<batch { (bytes[0]! + n * stride).update(from: images + n * count, count: count) }
        if let pool {
            pool.run { t in
                for n in ThreadPool.chunk(t, of: self.threads, count: batch) { self.runImage(n, thread: t) }
            }
        } else {
            for n in 0..<batch { runImage(n, thread: 0) }
        }
        let last = model.ops.last!.output
        if layouts[last].stride == model.values[last].channels { return UnsafePointer(floats[last]!) }
        copyFloats(of: last, batch: batch, to: logits)   // a conv's padded channels-last output
        return UnsafePointer(logits)
    }

    /// Levels of integer value `v` for `batch` images in [batch][C][H][W] order.
    func copyLevels(of v: Int, batch: Int, to dst: UnsafeMutablePointer<UInt8>) {
        let x = model.values[v], l = layouts[v]
        guard let src = bytes[v] else { return }
        if x.kind == .image {
            for n in 0..<batch { (dst + n * x.count).update(from: src + n * l.perImage, count: x.count) }
            return
        }
        for n in 0..<batch {
            let s = src + n * l.perImage, d = dst + n * x.count
            for c in 0..<x.channels { for y in 0..<x.height { for xx in 0..<x.width {
                d[(c * x.height + y) * x.width + xx] = s[l.offset(y, xx) + c]
            } } }
        }
    }

    /// Floats of float value `v` for `batch` images in [batch][C][H][W] order.
    func copyFloats(of v: Int, batch: Int, to dst: UnsafeMutablePointer<Float>) {
        let x = model.values[v], l = layouts[v]
        guard let src = floats[v] else { return }
        for n in 0..<batch {
            let s = src + n * l.perImage, d = dst + n * x.count
            for c in 0..<x.channels { for p in 0..<(x.height * x.width) { d[c * x.height * x.width + p] = s[p * l.stride + c] } }
        }
    }

    // Filled at the end of init (threads read them concurrently; a lazy var would race).
    private var fusedAddOps = Set<Int>()
    /// Per linear op (by op index): the input byte of each flattened element.
    private var linearGather: [[Int32]] = []
    /// Rows and columns taps of each upsample2x op, by op index.
    private var upsampleTaps: [Int: (rows: Bilinear2xTaps, columns: Bilinear2xTaps)] = [:]

    private func runImage(_ n: Int, thread t: Int) {
        for (i, op) in model.ops.enumerated() {
            switch op.kind {
            case .conv: conv(op, plans[i]!, n, t)
            case .add: if !fusedAddOps.contains(i) { add(op, n) }
            case .maxpool: maxPool(op, n)
            case .avgquant: avgQuant(op, n)
            case .linear: linear(op, i, n, t)
            case .upsample2x, .sum, .concat: headOp(op, i, n)
            }
        }
    }


    /// The float ops of the dense-prediction heads on the [H·W][C16] layout (IntegerHeadOps.swift).
    private func headOp(_ op: IntegerOp, _ index: Int, _ n: Int) {
        func input(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(floats[op.inputs[i]]!) + n * layouts[op.inputs[i]].perImage }
        let y = model.values[op.output], ly = layouts[op.output], out = floats[op.output]! + n * ly.perImage
        switch op.kind {
        case .upsample2x:
            let taps = upsampleTaps[index]!
            HeadOpsFast.upsample2x(input(0), out, stride: ly.stride, rows: taps.rows, columns: taps.columns,
                                   width: model.values[op.inputs[0]].width)
        case .sum: HeadOpsFast.sum(input(0), input(1), out, count: ly.perImage)
        default:
            HeadOpsFast.concat(op.inputs.indices.map { (input($0), channels: model.values[op.inputs[$0]].channels,
                                                        stride: layouts[op.inputs[$0]].stride) },
                               out, stride: ly.stride, pixels: y.height * y.width)
        }
    }

    private func conv(_ op: IntegerOp, _ plan: ConvPlan, _ n: Int, _ t: Int) {
        let y = model.values[op.output]
        let src = UnsafePointer(bytes[op.inputs[0]]!) + n * layouts[op.inputs[0]].perImage
        let pixels = y.height * y.width
        var geo = ConvGeometry(src: src, pixelOffsets: plan.pixelOffsets, pixels: pixels, tapOffsets: plan.tapOffsets)
        if plan.im2colWidth > 0 {
            let col = colScratch[t]
            plan.gather.withUnsafeBufferPointer { g in for e in 0..<g.count { col[e] = src[Int(g[e])] } }
            geo.src = UnsafePointer(col)
        }
        let tile = accScratch[t], ld = plan.weights.blocks * 16
        let ly = layouts[op.output], yw = y.width, channelStride = layouts[op.inputs[0]].stride
        let blocks = plan.weights.blocks, relu = op.relu, relu6 = op.relu6, stem = !plan.biasMap.isEmpty
        let six = SIMD16<Float>(repeating: 6)
        @inline(__always) func convolve(_ consume: (_ p0: Int, _ rows: Int) -> Void) {
            if let dw = plan.depthwise {
                depthwiseInt8(geo, dw, channelStride: channelStride, tile: tile, ldAcc: ld, consume)
            } else {
                convolveInt8(geo, plan.weights, tile: tile, ldAcc: ld, consume)
            }
        }
        plan.multiplier.withUnsafeBufferPointer { mul in plan.bias.withUnsafeBufferPointer { bias in
        plan.biasMap.withUnsafeBufferPointer { map in plan.pixelRows.withUnsafeBufferPointer { rowOf in
            // z of pixel p, block b from the tile row r.
            @inline(__always) func z(_ r: Int, _ p: Int, _ b: Int) -> SIMD16<Float> {
                let a = toFloat(tile + r * ld + 16 * b)
                let z = (stem ? map[p * blocks + b] : bias[b]).addingProduct(a, mul[b])
                guard relu else { return z }
                let r = z.replacing(with: SIMD16<Float>(), where: .!(z .> SIMD16<Float>()))
                return relu6 ? r.replacing(with: six, where: r .> six) : r
            }
            if let ai = plan.fusedAdd {
                let add = model.ops[ai], ya = model.values[add.output], la = layouts[add.output]
                let s = AddInputs(self, add, other: plan.fusedOther, n), q = Requantizer(ya)
                let out = bytes[add.output]! + n * la.perImage
                convolve { p0, rows in
                    for r in 0..<rows {
                        let p = p0 + r, oy = Int(rowOf[p]), ox = p - oy * yw, o = out + la.offset(oy, ox)
                        for b in 0..<blocks {
                            q.store(s.sum(z(r, p, b), oy, ox, p, 16 * b), o + 16 * b, count: min(16, ya.channels - 16 * b),
                                    nonNegative: add.relu)
                        }
                    }
                }
            } else if y.kind == .integer {
                let out = bytes[op.output]! + n * ly.perImage
                let q = Requantizer(y)
                convolve { p0, rows in
                    for r in 0..<rows {
                        let p = p0 + r, oy = Int(rowOf[p]), o = out + ly.offset(oy, p - oy * yw)
                        for b in 0..<blocks { q.store(z(r, p, b), o + 16 * b, count: min(16, y.channels - 16 * b), nonNegative: relu) }
                    }
                }
            } else {
                let out = floats[op.output]! + n * ly.perImage
                convolve { p0, rows in
                    for r in 0..<rows {
                        let p = p0 + r
                        for b in 0..<blocks {
                            UnsafeMutableRawPointer(out + p * ly.stride + 16 * b).storeBytes(of: z(r, p, b), as: SIMD16<Float>.self)
                        }
                    }
                }
            }
        } } } }
    }

    /// The stem's input pixels under each output pixel, in weight order (ci, ky, kx):
    /// image indices, x.count (the zero byte after the image) outside the image and for
    /// the columns that round the width up to 4.
    private static func stemGatherTable(_ op: IntegerOp, _ x: IntegerValue, _ y: IntegerValue, width: Int) -> [Int32] {
        let k = op.kernel
        var table = [Int32](repeating: Int32(x.count), count: y.height * y.width * width)
        for oy in 0..<y.height {
            for ox in 0..<y.width {
                var e = (oy * y.width + ox) * width
                for ci in 0..<x.channels {
                    for ky in 0..<k {
                        let iy = oy * op.stride - op.padding + ky
                        for kx in 0..<k {
                            let ix = ox * op.stride - op.padding + kx
                            if iy >= 0 && iy < x.height && ix >= 0 && ix < x.width { table[e] = Int32((ci * x.height + iy) * x.width + ix) }
                            e += 1
                        }
                    }
                }
            }
        }
        return table
    }

    private func add(_ op: IntegerOp, _ n: Int) {
        let y = model.values[op.output], ly = layouts[op.output], lm = layouts[op.inputs[0]]
        let main = UnsafePointer(floats[op.inputs[0]]!) + n * lm.perImage
        let out = bytes[op.output]! + n * ly.perImage
        let s = AddInputs(self, op, other: op.inputs[1], n), q = Requantizer(y)
        for oy in 0..<y.height {
            for ox in 0..<y.width {
                let p = oy * y.width + ox, o = out + ly.offset(oy, ox)
                var c = 0
                while c < y.channels {
                    let m = UnsafeRawPointer(main + p * lm.stride + c).loadUnaligned(as: SIMD16<Float>.self)
                    q.store(s.sum(m, oy, ox, p, c), o + c, count: min(16, y.channels - c), nonNegative: op.relu)
                    c += 16
                }
            }
        }
    }

    /// One operand of an add for one image (the shortcut, or the main branch when the add
    /// is fused into the shortcut's conv): sum(z) = max(z + operand, 0), or z + operand
    /// for an add without ReLU (MobileNetV2's linear bottlenecks).
    private struct AddInputs {
        let floatShortcut: UnsafePointer<Float>?, floatStride: Int
        let levelShortcut: UnsafePointer<UInt8>?, levelLayout: Layout, channels: Int
        let step: SIMD16<Float>, zero: SIMD16<Float>
        let relu: Bool

        init(_ r: FastIntegerRunner, _ op: IntegerOp, other si: Int, _ n: Int) {
            relu = op.relu
            let ls = r.layouts[si], sv = r.model.values[si]
            floatShortcut = r.floats[si].map { UnsafePointer($0) + n * ls.perImage }
            levelShortcut = r.bytes[si].map { UnsafePointer($0) + n * ls.perImage }
            floatStride = ls.stride
            levelLayout = ls
            channels = sv.channels
            step = SIMD16(repeating: sv.step > 0 && sv.step.isFinite ? sv.step : 0)
            zero = SIMD16(repeating: Float(sv.zeroLevel))
        }

        /// max(main + shortcut, 0) for channels c ..< c+16 of pixel (oy, ox) = p; an integer
        /// shortcut is its level times its step (a product, then the sum, as the reference).
        @inline(__always) func sum(_ main: SIMD16<Float>, _ oy: Int, _ ox: Int, _ p: Int, _ c: Int) -> SIMD16<Float> {
            let s: SIMD16<Float>
            if let f = floatShortcut {
                s = UnsafeRawPointer(f + p * floatStride + c).loadUnaligned(as: SIMD16<Float>.self)
            } else {
                let sp = levelShortcut! + levelLayout.offset(oy, ox) + c
                var lv = SIMD16<UInt8>()
                if c + 16 <= levelLayout.stride {
                    lv = UnsafeRawPointer(sp).loadUnaligned(as: SIMD16<UInt8>.self)
                } else {
                    for j in 0..<min(16, channels - c) { lv[j] = sp[j] }
                }
                s = (levelsToFloat(lv) - zero) * step   // exact difference of small integers
            }
            let z = main + s
            return relu ? z.replacing(with: SIMD16<Float>(), where: z .< SIMD16<Float>()) : z
        }
    }

    private func maxPool(_ op: IntegerOp, _ n: Int) {
        let x = model.values[op.inputs[0]], y = model.values[op.output]
        let lx = layouts[op.inputs[0]], ly = layouts[op.output]
        let src = UnsafePointer(bytes[op.inputs[0]]!) + n * lx.perImage
        let out = bytes[op.output]! + n * ly.perImage
        for oy in 0..<y.height {
            for ox in 0..<y.width {
                let o = out + ly.offset(oy, ox)
                for c in 0..<y.channels { o[c] = 0 }
                for ky in 0..<op.kernel {
                    for kx in 0..<op.kernel {
                        // The zero border is the reference's "skip taps outside": levels are >= 0.
                        let s = src + lx.offset(oy * op.stride - op.padding + ky, ox * op.stride - op.padding + kx)
                        for c in 0..<x.channels { o[c] = max(o[c], s[c]) }
                    }
                }
            }
        }
    }

    private func avgQuant(_ op: IntegerOp, _ n: Int) {
        let x = model.values[op.inputs[0]], y = model.values[op.output]
        let lx = layouts[op.inputs[0]], ly = layouts[op.output]
        let out = bytes[op.output]! + n * ly.perImage + ly.offset(0, 0)
        let degenerate = IntegerEngine.degenerate(y)
        let hw = x.height * x.width
        if x.kind == .float {
            // Per channel, the Double sum over pixels in the reference's order.
            let src = UnsafePointer(floats[op.inputs[0]]!) + n * lx.perImage
            var sums = [Double](repeating: 0, count: x.channels)
            for p in 0..<hw { let s = src + p * lx.stride; for c in 0..<x.channels { sums[c] += Double(s[c]) } }
            for c in 0..<x.channels {
                out[c] = degenerate ? UInt8(y.zeroLevel) : IntegerEngine.quantize(Float(sums[c] / Double(hw)), y)
            }
            return
        }
        let src = UnsafePointer(bytes[op.inputs[0]]!) + n * lx.perImage
        let dx = x.step > 0 && x.step.isFinite ? Double(x.step) : 0
        var sums = [Int](repeating: 0, count: x.channels)
        for yy in 0..<x.height { for xx in 0..<x.width {
            let s = src + lx.offset(yy, xx)
            for c in 0..<x.channels { sums[c] += Int(s[c]) - x.zeroLevel }
        } }
        for c in 0..<x.channels {
            let mean = Float(Double(sums[c]) * dx / Double(hw))
            out[c] = degenerate ? UInt8(y.zeroLevel) : IntegerEngine.quantize(mean, y)
        }
    }

    private func linear(_ op: IntegerOp, _ index: Int, _ n: Int, _ t: Int) {
        let k = op.inChannels, lx = layouts[op.inputs[0]], ly = layouts[op.output], y = model.values[op.output]
        let image = UnsafePointer(bytes[op.inputs[0]]!) + n * lx.perImage
        let src = colScratch[t]
        linearGather[index].withUnsafeBufferPointer { g in for i in 0..<k { src[i] = image[Int(g[i])] } }
        op.weights.withUnsafeBufferPointer { w in
            for o in 0..<op.outChannels {
                var acc: Int32 = 0
                for i in 0..<k { acc &+= Int32(w[o * k + i]) &* Int32(src[i]) }
                let z = IntegerEngine.activate(op.bias[o].addingProduct(Float(acc), op.multiplier[o]), op)
                if y.kind == .float {
                    floats[op.output]![n * ly.perImage + o] = z
                } else {
                    bytes[op.output]![n * ly.perImage + ly.offset(0, 0) + o] =
                        IntegerEngine.degenerate(y) ? 0 : IntegerEngine.quantize(z, y)
                }
            }
        }
    }
}
