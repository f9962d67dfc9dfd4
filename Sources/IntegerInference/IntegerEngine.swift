// The integer engine: runs an IntegerModel on batches of uint8 images.
//
// Activations are held as uint8 levels. A conv is im2col (per image, per thread)
// followed by a GEMM of the weight levels [Cout, K] by the column matrix [K, N]
// (N = output positions, padded to a multiple of 32), then a per-channel
// epilogue: z = multiplier·acc + bias (the stem: a per-position bias map), ReLU
// (or ReLU6), z/Δ rounded half to even and clamped (requantization; signed values
// store q + L), or z kept in float. A depthwise conv is one such GEMM per channel
// (m = 1, k = 9): the plain reference of the fast path's depthwise kernel.
//
// Three arithmetics for the GEMM, same results:
//   .int32       the fast path (IntegerEngineFast.swift): channels-last uint8
//                activations, implicit GEMM with u8 × s8 → s32 dot products
//                (VPDPBUSD where the CPU has VNNI), vectorised epilogue.
//   .int32Reference  this file's plain path: integer levels widened to Int32 by
//                im2col, SIMD16<Int32> multiply-add, Int32 accumulation (LLVM emits
//                vpmulld/vpaddd from it); the reference the fast path is tested against.
//   .exactFloat  the same integers held in Float32 and multiplied with the
//                engine's FP32 GEMM (FMA). Integer-exact: every product and partial
//                sum is an integer of magnitude at most Σ_k |w_ck| · maxInput, and
//                the engine checks at build time, per layer, that this bound is
//                below 2^24 for every output channel (4-bit: 15·7·576 = 60480; stem:
//                255·127·9 = 291465), so no float operation rounds, in any order.
//                A layer that fails the check runs in Int32.
// Threads split the batch: each thread runs its images through every op.

import TensorEngine

@inline(__always) private func ld16(_ p: UnsafePointer<Int32>) -> SIMD16<Int32> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int32>.self)
}
@inline(__always) private func st16(_ v: SIMD16<Int32>, _ p: UnsafeMutablePointer<Int32>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Int32>.self)
}

/// C[m, n] = A[m, k] · B[k, n], Int32, row-major, n a multiple of 32 (ldb = ldc = n).
public func integerGemmInt32(m: Int, n: Int, k: Int, a: UnsafePointer<Int32>, b: UnsafePointer<Int32>,
                             c: UnsafeMutablePointer<Int32>) {
    precondition(n % 32 == 0, "integerGemmInt32: n must be a multiple of 32")
    var i = 0
    while i + 4 <= m {
        let a0 = a + i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k
        var j = 0
        while j < n {
            var c00 = SIMD16<Int32>(), c01 = SIMD16<Int32>(), c10 = SIMD16<Int32>(), c11 = SIMD16<Int32>()
            var c20 = SIMD16<Int32>(), c21 = SIMD16<Int32>(), c30 = SIMD16<Int32>(), c31 = SIMD16<Int32>()
            var bp = b + j
            for kk in 0..<k {
                let b0 = ld16(bp), b1 = ld16(bp + 16)
                let w0 = SIMD16<Int32>(repeating: a0[kk]), w1 = SIMD16<Int32>(repeating: a1[kk])
                let w2 = SIMD16<Int32>(repeating: a2[kk]), w3 = SIMD16<Int32>(repeating: a3[kk])
                c00 &+= w0 &* b0; c01 &+= w0 &* b1
                c10 &+= w1 &* b0; c11 &+= w1 &* b1
                c20 &+= w2 &* b0; c21 &+= w2 &* b1
                c30 &+= w3 &* b0; c31 &+= w3 &* b1
                bp += n
            }
            let cp = c + i * n + j
            st16(c00, cp); st16(c01, cp + 16)
            st16(c10, cp + n); st16(c11, cp + n + 16)
            st16(c20, cp + 2 * n); st16(c21, cp + 2 * n + 16)
            st16(c30, cp + 3 * n); st16(c31, cp + 3 * n + 16)
            j += 32
        }
        i += 4
    }
    while i < m {
        let a0 = a + i * k
        var j = 0
        while j < n {
            var c00 = SIMD16<Int32>(), c01 = SIMD16<Int32>()
            var bp = b + j
            for kk in 0..<k {
                let w0 = SIMD16<Int32>(repeating: a0[kk])
                c00 &+= w0 &* ld16(bp); c01 &+= w0 &* ld16(bp + 16)
                bp += n
            }
            st16(c00, c + i * n + j); st16(c01, c + i * n + j + 16)
            j += 32
        }
        i += 1
    }
}

/// Scalar reference: C = A·B in Int64 (tests).
public func integerGemmReference(m: Int, n: Int, k: Int, a: [Int32], b: [Int32]) -> [Int64] {
    var c = [Int64](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n { var s: Int64 = 0; for kk in 0..<k { s += Int64(a[i * k + kk]) * Int64(b[kk * n + j]) }; c[i * n + j] = s } }
    return c
}

/// Column matrix of one image: col[(ci·kh + y)·kw + x][oy·OW + ox] = input or 0 (padding);
/// columns N ..< ldc are zero.
@inline(__always)
func integerIm2col<T: Numeric>(_ src: UnsafePointer<UInt8>, channels: Int, height h: Int, width w: Int,
                               kernel: Int, stride: Int, pad: Int, outH: Int, outW: Int,
                               col: UnsafeMutablePointer<T>, ldc: Int, _ convert: (UInt8) -> T) {
    let n = outH * outW
    var row = 0
    for ci in 0..<channels {
        let plane = src + ci * h * w
        for ky in 0..<kernel {
            for kx in 0..<kernel {
                let dst = col + row * ldc
                // ox with 0 <= ox*stride - pad + kx < w
                let lo = max(0, (pad - kx + stride - 1) / stride)
                let hi = min(outW, (w - 1 + pad - kx) >= 0 ? (w - 1 + pad - kx) / stride + 1 : 0)
                for oy in 0..<outH {
                    let iy = oy * stride - pad + ky
                    let d = dst + oy * outW
                    if iy < 0 || iy >= h || lo >= hi {
                        for ox in 0..<outW { d[ox] = 0 }
                        continue
                    }
                    for ox in 0..<lo { d[ox] = 0 }
                    let s = plane + iy * w - pad + kx
                    if stride == 1 {
                        for ox in lo..<hi { d[ox] = convert(s[ox]) }
                    } else {
                        for ox in lo..<hi { d[ox] = convert(s[ox * stride]) }
                    }
                    for ox in hi..<outW { d[ox] = 0 }
                }
                for j in n..<ldc { dst[j] = 0 }
                row += 1
            }
        }
    }
}

public final class IntegerEngine {
    public enum Arithmetic: String, Sendable, CaseIterable {
        case int32, int32Reference = "int32-reference", exactFloat = "exact-float"
    }

    public let model: IntegerModel
    public let maxBatch: Int
    public let arithmetic: Arithmetic
    public let pool: ThreadPool?
    private let threads: Int

    /// Per value: uint8 levels (image and integer values) or floats.
    private var levels: [UnsafeMutablePointer<UInt8>?]
    private var floats: [UnsafeMutablePointer<Float>?]

    private struct Prepared {
        var k = 0, n = 0, ldn = 0, outH = 0, outW = 0
        var wInt: UnsafeMutablePointer<Int32>?
        var wFloat: UnsafeMutablePointer<Float>?
        var biasMap: [Float] = []        // stem: [Cout, N]
        var useFloat = false
        var maxAbsSum = 0                // max over channels of Σ|w|·maxInput
    }
    private var prepared: [Prepared]
    private var colInt: [UnsafeMutablePointer<Int32>] = []
    private var colFloat: [UnsafeMutablePointer<Float>] = []
    private var accInt: [UnsafeMutablePointer<Int32>] = []
    private var accFloat: [UnsafeMutablePointer<Float>] = []
    private var fast: FastIntegerRunner?
    private var lastBatch = 0

    /// Per conv/linear op: (name, max Σ|w|·maxInput, runs in exact float).
    public var accumulatorBounds: [(op: String, bound: Int, exactFloat: Bool)] {
        zip(model.ops, prepared).filter { $0.0.hasWeights }.map { ($0.0.name, $0.1.maxAbsSum, $0.1.useFloat) }
    }

    public init(_ model: IntegerModel, maxBatch: Int, threads: Int = 1, arithmetic: Arithmetic = .int32) throws {
        try model.validate()
        self.model = model
        self.maxBatch = max(1, maxBatch)
        self.arithmetic = arithmetic
        self.threads = max(1, threads)
        pool = threads > 1 ? ThreadPool(threads: threads) : nil
        levels = Array(repeating: nil, count: model.values.count)
        floats = Array(repeating: nil, count: model.values.count)
        for (i, v) in model.values.enumerated() {
            let n = v.count * self.maxBatch
            if v.kind == .float {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); floats[i] = p
            } else {
                let p = UnsafeMutablePointer<UInt8>.allocate(capacity: n); p.initialize(repeating: 0, count: n); levels[i] = p
            }
        }
        prepared = []
        var maxCol = 1, maxAcc = 1
        for op in model.ops {
            var p = Prepared()
            if op.hasWeights {
                let x = model.values[op.inputs[0]], y = model.values[op.output]
                p.k = op.inChannels / op.groups * op.kernel * op.kernel
                p.outH = y.height; p.outW = y.width
                p.n = y.height * y.width
                p.ldn = (p.n + 31) / 32 * 32
                let wi = UnsafeMutablePointer<Int32>.allocate(capacity: op.weightCount)
                let wf = UnsafeMutablePointer<Float>.allocate(capacity: op.weightCount)
                for i in 0..<op.weightCount { wi[i] = Int32(op.weights[i]); wf[i] = Float(op.weights[i]) }
                p.wInt = wi; p.wFloat = wf
                for c in 0..<op.outChannels {
                    var s = 0
                    for i in 0..<p.k { s += abs(Int(op.weights[c * p.k + i])) }
                    p.maxAbsSum = max(p.maxAbsSum, s * x.maxInput)
                }
                p.useFloat = arithmetic == .exactFloat && op.kind == .conv && p.maxAbsSum < (1 << 24)
                if op.kind == .conv && x.kind == .image { p.biasMap = Self.stemBiasMap(op, x, p) }
                if op.kind == .conv {
                    maxCol = max(maxCol, p.k * p.ldn)
                    maxAcc = max(maxAcc, op.outChannels * p.ldn)
                }
            }
            prepared.append(p)
        }
        if arithmetic == .int32 {
            let stem = prepared.map { $0.biasMap }
            fast = FastIntegerRunner(model, maxBatch: self.maxBatch, threads: self.threads) { stem[$0] }
            return
        }
        for _ in 0..<self.threads {
            colInt.append(.allocate(capacity: maxCol)); colFloat.append(.allocate(capacity: maxCol))
            accInt.append(.allocate(capacity: maxAcc)); accFloat.append(.allocate(capacity: maxAcc))
        }
    }

    deinit {
        for p in levels { p?.deallocate() }
        for p in floats { p?.deallocate() }
        for p in prepared { p.wInt?.deallocate(); p.wFloat?.deallocate() }
        for p in colInt { p.deallocate() }
        for p in colFloat { p.deallocate() }
        for p in accInt { p.deallocate() }
        for p in accFloat { p.deallocate() }
    }

    /// B[c, oy, ox] = bias_c − multiplier_c · Σ_i zeroPoint_i · Σ_{taps inside the image} W[c, i, tap]:
    /// makes pixel-space zero padding equal to zero padding of the normalised image.
    private static func stemBiasMap(_ op: IntegerOp, _ x: IntegerValue, _ p: Prepared) -> [Float] {
        var map = [Float](repeating: 0, count: op.outChannels * p.n)
        let k = op.kernel
        for c in 0..<op.outChannels {
            for oy in 0..<p.outH {
                for ox in 0..<p.outW {
                    var corr = 0.0
                    for i in 0..<op.inChannels {
                        var s = 0
                        for ky in 0..<k {
                            let iy = oy * op.stride - op.padding + ky
                            if iy < 0 || iy >= x.height { continue }
                            for kx in 0..<k {
                                let ix = ox * op.stride - op.padding + kx
                                if ix < 0 || ix >= x.width { continue }
                                s += Int(op.weights[((c * op.inChannels + i) * k + ky) * k + kx])
                            }
                        }
                        corr += Double(op.zeroPoint[i]) * Double(s)
                    }
                    map[c * p.n + oy * p.outW + ox] = Float(Double(op.bias[c]) - Double(op.multiplier[c]) * corr)
                }
            }
        }
        return map
    }

    /// Logits [batch, classes] (a scene model: its output map [batch, C, H, W]) for
    /// `images` [batch, C, H, W] uint8 pixels. The pointer stays valid until the next run.
    @discardableResult
    public func run(_ images: UnsafePointer<UInt8>, batch: Int) -> UnsafePointer<Float> {
        precondition(batch >= 0 && batch <= maxBatch, "IntegerEngine: batch \(batch) exceeds the built maximum \(maxBatch)")
        lastBatch = batch
        if let fast { return fast.run(images, batch: batch, pool: pool) }
        levels[0]!.update(from: images, count: batch * model.values[0].count)
        if let pool {
            pool.run { t in
                for n in ThreadPool.chunk(t, of: self.threads, count: batch) { self.runImage(n, thread: t) }
            }
        } else {
            for n in 0..<batch { runImage(n, thread: 0) }
        }
        return UnsafePointer(floats[model.ops.last!.output]!)
    }

    /// Levels of an integer value for the samples of the last run ([batch, C, H, W]).
    public func levels(of value: Int) -> UnsafePointer<UInt8>? {
        guard let p = levels[value] else { return nil }
        fast?.copyLevels(of: value, batch: lastBatch, to: p)   // from the fast path's layout
        return UnsafePointer(p)
    }
    /// Floats of a float value for the samples of the last run ([batch, C, H, W]).
    /// nil also for a value the fast path never stores (a conv output added to a shortcut
    /// inside the conv's epilogue).
    public func floats(of value: Int) -> UnsafePointer<Float>? {
        guard let p = floats[value], !(fast?.fusedAway.contains(value) ?? false) else { return nil }
        fast?.copyFloats(of: value, batch: lastBatch, to: p)
        return UnsafePointer(p)
    }

    private func runImage(_ n: Int, thread t: Int) {
        for (i, op) in model.ops.enumerated() {
            switch op.kind {
            case .conv: conv(op, prepared[i], n, t)
            case .add: add(op, n)
            case .maxpool: maxPool(op, n)
            case .avgquant: avgQuant(op, n)
            case .linear: linear(op, prepared[i], n)
            case .upsample2x, .sum, .concat: headOp(op, n)
            }
        }
    }

    /// The float ops of the dense-prediction heads (IntegerHeadOps.swift), image n.
    private func headOp(_ op: IntegerOp, _ n: Int) {
        func input(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(floats[op.inputs[i]]!) + n * model.values[op.inputs[i]].count }
        let y = model.values[op.output], out = floats[op.output]! + n * y.count
        switch op.kind {
        case .upsample2x:
            let x = model.values[op.inputs[0]]
            HeadOpsReference.upsample2x(input(0), out, channels: x.channels, height: x.height, width: x.width)
        case .sum: HeadOpsReference.sum(input(0), input(1), out, count: y.count)
        default: HeadOpsReference.concat(op.inputs.indices.map { (input($0), count: model.values[op.inputs[$0]].count) }, out)
        }
    }

    /// The stored level of z: clamp(round(z / step), −zero, maxLevel − zero) + zero.
    @inline(__always) static func quantize(_ z: Float, _ y: IntegerValue) -> UInt8 {
        let v = z / y.step, zero = Float(y.zeroLevel)
        return UInt8(min(max(v.rounded(.toNearestOrEven), -zero), Float(y.maxLevel) - zero) + zero)
    }

    @inline(__always) static func degenerate(_ y: IntegerValue) -> Bool { !(y.step > 0) || !y.step.isFinite }

    /// ReLU, or ReLU6, of z when the op asks for it (NaN becomes 0, as the float ReLU's !(z > 0)).
    @inline(__always) static func activate(_ z: Float, _ op: IntegerOp) -> Float {
        guard op.relu else { return z }
        if !(z > 0) { return 0 }
        return op.relu6 && z > 6 ? 6 : z
    }

    private func conv(_ op: IntegerOp, _ p: Prepared, _ n: Int, _ t: Int) {
        let x = model.values[op.inputs[0]], y = model.values[op.output]
        let acc = accFloat[t]
        // Group g: input channels g·cin ..< (g+1)·cin, output channels g·cout ..< (g+1)·cout.
        let cin = op.inChannels / op.groups, cout = op.outChannels / op.groups
        for g in 0..<op.groups {
            let src = UnsafePointer(levels[op.inputs[0]]!) + n * x.count + g * cin * x.height * x.width
            let w = g * cout * p.k, a = acc + g * cout * p.ldn
            if p.useFloat {
                let col = colFloat[t]
                integerIm2col(src, channels: cin, height: x.height, width: x.width, kernel: op.kernel,
                              stride: op.stride, pad: op.padding, outH: p.outH, outW: p.outW, col: col, ldc: p.ldn) { Float($0) }
                gemm(transA: false, transB: false, m: cout, n: p.ldn, k: p.k, alpha: 1, a: p.wFloat! + w, lda: p.k,
                     b: col, ldb: p.ldn, beta: 0, c: a, ldc: p.ldn, pool: nil)
            } else {
                let col = colInt[t], ai = accInt[t]
                integerIm2col(src, channels: cin, height: x.height, width: x.width, kernel: op.kernel,
                              stride: op.stride, pad: op.padding, outH: p.outH, outW: p.outW, col: col, ldc: p.ldn) { Int32($0) }
                integerGemmInt32(m: cout, n: p.ldn, k: p.k, a: p.wInt! + w, b: col, c: ai)
                for c in 0..<cout {
                    let r = ai + c * p.ldn, o = a + c * p.ldn
                    for j in 0..<p.n { o[j] = Float(r[j]) }
                }
            }
        }
        epilogue(op, p, acc, n, y)
    }

    private func epilogue(_ op: IntegerOp, _ p: Prepared, _ acc: UnsafeMutablePointer<Float>, _ n: Int, _ y: IntegerValue) {
        let hw = p.n
        let stem = !p.biasMap.isEmpty
        p.biasMap.withUnsafeBufferPointer { bm in
            if y.kind == .integer {
                let out = levels[op.output]! + n * y.count
                let degenerate = Self.degenerate(y)
                for c in 0..<op.outChannels {
                    let a = acc + c * p.ldn, o = out + c * hw, m = op.multiplier[c], b = op.bias[c]
                    if degenerate { o.update(repeating: UInt8(y.zeroLevel), count: hw); continue }
                    for j in 0..<hw {
                        let z = Self.activate((stem ? bm[c * hw + j] : b).addingProduct(a[j], m), op)
                        o[j] = Self.quantize(z, y)
                    }
                }
            } else {
                let out = floats[op.output]! + n * y.count
                for c in 0..<op.outChannels {
                    let a = acc + c * p.ldn, o = out + c * hw, m = op.multiplier[c], b = op.bias[c]
                    for j in 0..<hw { o[j] = Self.activate((stem ? bm[c * hw + j] : b).addingProduct(a[j], m), op) }
                }
            }
        }
    }

    private func add(_ op: IntegerOp, _ n: Int) {
        let y = model.values[op.output], cnt = y.count
        let main = UnsafePointer(floats[op.inputs[0]]!) + n * cnt
        let out = levels[op.output]! + n * cnt
        if Self.degenerate(y) { out.update(repeating: UInt8(y.zeroLevel), count: cnt); return }
        let sv = model.values[op.inputs[1]]
        if sv.kind == .float {
            let s = UnsafePointer(floats[op.inputs[1]]!) + n * cnt
            for i in 0..<cnt { out[i] = Self.quantize(Self.activate(main[i] + s[i], op), y) }
        } else {
            // The shortcut's real value (stored level − zero level)·step, a product then the sum.
            let s = UnsafePointer(levels[op.inputs[1]]!) + n * cnt
            let ds = sv.step > 0 && sv.step.isFinite ? sv.step : 0, zero = Int32(sv.zeroLevel)
            for i in 0..<cnt {
                out[i] = Self.quantize(Self.activate(main[i] + Float(Int32(s[i]) - zero) * ds, op), y)
            }
        }
    }

    private func maxPool(_ op: IntegerOp, _ n: Int) {
        let x = model.values[op.inputs[0]], y = model.values[op.output]
        let src = UnsafePointer(levels[op.inputs[0]]!) + n * x.count
        let out = levels[op.output]! + n * y.count
        for c in 0..<y.channels {
            let plane = src + c * x.height * x.width
            for oy in 0..<y.height {
                for ox in 0..<y.width {
                    var m: UInt8 = 0
                    for ky in 0..<op.kernel {
                        let iy = oy * op.stride - op.padding + ky
                        if iy < 0 || iy >= x.height { continue }
                        for kx in 0..<op.kernel {
                            let ix = ox * op.stride - op.padding + kx
                            if ix < 0 || ix >= x.width { continue }
                            m = max(m, plane[iy * x.width + ix])
                        }
                    }
                    out[(c * y.height + oy) * y.width + ox] = m
                }
            }
        }
    }

    private func avgQuant(_ op: IntegerOp, _ n: Int) {
        let x = model.values[op.inputs[0]], y = model.values[op.output]
        let hw = x.height * x.width
        let out = levels[op.output]! + n * y.count
        let degenerate = Self.degenerate(y)
        if x.kind == .float {
            // A float input (MobileNetV2's last 1x1 conv, ReLU6, no quantizer): the mean in Double.
            let src = UnsafePointer(floats[op.inputs[0]]!) + n * x.count
            for c in 0..<x.channels {
                var s = 0.0
                for i in 0..<hw { s += Double(src[c * hw + i]) }
                out[c] = degenerate ? UInt8(y.zeroLevel) : Self.quantize(Float(s / Double(hw)), y)
            }
            return
        }
        let src = UnsafePointer(levels[op.inputs[0]]!) + n * x.count
        let dx = x.step > 0 && x.step.isFinite ? Double(x.step) : 0
        for c in 0..<x.channels {
            var s = 0
            for i in 0..<hw { s += Int(src[c * hw + i]) - x.zeroLevel }
            let mean = Float(Double(s) * dx / Double(hw))
            out[c] = degenerate ? UInt8(y.zeroLevel) : Self.quantize(mean, y)
        }
    }

    /// The flattened (C·H·W) input × weights: float logits, or ReLU and requantized (hidden layers).
    private func linear(_ op: IntegerOp, _ p: Prepared, _ n: Int) {
        let k = op.inChannels, y = model.values[op.output]
        let src = UnsafePointer(levels[op.inputs[0]]!) + n * k
        let w = p.wInt!
        for o in 0..<op.outChannels {
            var acc: Int32 = 0
            for i in 0..<k { acc &+= w[o * k + i] &* Int32(src[i]) }
            let z = Self.activate(op.bias[o].addingProduct(Float(acc), op.multiplier[o]), op)
            if y.kind == .float {
                floats[op.output]![n * op.outChannels + o] = z
            } else {
                levels[op.output]![n * op.outChannels + o] = Self.degenerate(y) ? 0 : Self.quantize(z, y)
            }
        }
    }
}
