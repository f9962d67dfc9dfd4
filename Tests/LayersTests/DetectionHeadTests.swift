import XCTest
@testable import Layers
import TensorEngine

/// Naive Double references of the heads (direct convolution, ReLU, bilinear 2x
/// as in PyTorch with align_corners = false); the heads' forward is compared with
/// them and every analytic gradient (input and parameters) with central finite
/// differences of them in Double.
enum HeadReference {
    /// Stride-1 convolution [n, cin, s, s] -> [n, cout, s, s] with "same" padding k/2.
    static func conv(_ x: [Double], n: Int, cin: Int, s: Int, w: [Double], b: [Double], cout: Int, k: Int) -> [Double] {
        let pad = k / 2
        var y = [Double](repeating: 0, count: n * cout * s * s)
        for i in 0..<n { for o in 0..<cout { for r in 0..<s { for c in 0..<s {
            var acc: Double = b[o]
            for ci in 0..<cin { for ky in 0..<k { for kx in 0..<k {
                let yy = r + ky - pad, xx = c + kx - pad
                if yy < 0 || yy >= s || xx < 0 || xx >= s { continue }
                acc += x[((i * cin + ci) * s + yy) * s + xx] * w[((o * cin + ci) * k + ky) * k + kx]
            } } }
            y[((i * cout + o) * s + r) * s + c] = acc
        } } } }
        return y
    }

    static func up2(_ x: [Double], planes: Int, s: Int) -> [Double] {
        func src(_ d: Int) -> (Int, Int, Double) {
            let f: Double = max((Double(d) + 0.5) / 2 - 0.5, 0)
            let i0 = Int(f)
            return (i0, min(i0 + 1, s - 1), f - Double(i0))
        }
        var y = [Double](repeating: 0, count: planes * 4 * s * s)
        for p in 0..<planes { for r in 0..<(2 * s) { for c in 0..<(2 * s) {
            let (y0, y1, ty) = src(r), (x0, x1, tx) = src(c)
            let base = p * s * s
            let a00: Double = x[base + y0 * s + x0], a01: Double = x[base + y0 * s + x1]
            let a10: Double = x[base + y1 * s + x0], a11: Double = x[base + y1 * s + x1]
            let top: Double = (1 - tx) * a00 + tx * a01
            let bottom: Double = (1 - tx) * a10 + tx * a11
            y[(p * 2 * s + r) * 2 * s + c] = (1 - ty) * top + ty * bottom
        } } }
        return y
    }
}

final class DetectionHeadTests: XCTestCase {
    func probe(_ count: Int, seed: UInt64) -> [Double] {
        var rng = CounterRNG(seed: seed, stream: 0xFD)
        return (0..<count).map { _ in Double(rng.nextUniform()) * 2 - 1 }
    }
    func random(_ count: Int, seed: UInt64) -> [Float] {
        var rng = CounterRNG(seed: seed, stream: 1)
        return (0..<count).map { _ in rng.nextUniform() * 2 - 1 }
    }
    func values(_ a: ParameterArena, _ r: ParamRef) -> [Double] { (0..<r.count).map { Double(a.value(r)[$0]) } }
    func grads(_ a: ParameterArena, _ r: ParamRef) -> [Float] { (0..<r.count).map { a.grad(r)[$0] } }

    /// Central differences of f at x (Double), step 1e-6.
    func numeric(_ x: [Double], _ f: ([Double]) -> Double) -> [Double] {
        var v = x
        return x.indices.map { i in
            v[i] = x[i] + 1e-6; let up = f(v)
            v[i] = x[i] - 1e-6; let down = f(v)
            v[i] = x[i]
            return (up - down) / 2e-6
        }
    }
    func assertClose(_ got: [Float], _ want: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        // NaN-aware (NumericAssertions.swift): max(worst, NaN) kept worst in the loop this replaced.
        assertAllClose(got, want, atol: 1e-4, rtol: 1e-3, what, file: file, line: line)
    }
    func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    func testCenterNetHeadForwardAndGradients() {
        let (n, cin, s, classes, hidden) = (2, 3, 5, 2, 4)
        let b = ArenaBuilder()
        let head = CenterNetHead(b, name: "head", input: FeatureShape(cin, s, s), classes: classes, hiddenChannels: hidden,
                                 maxBatch: n, threads: 1)
        let arena = ParameterArena(b, seed: 3)
        head.initializeHeatmapBias(arena)
        XCTAssertEqual(Double(arena.value(head.branches[0].out.bias!)[0]), -log(9.0), accuracy: 1e-6)
        // Non-zero biases everywhere so the bias gradients are exercised off zero.
        for br in head.branches {
            for r in [br.hidden.bias!, br.out.bias!] {
                for i in 0..<r.count { arena.value(r)[i] += 0.05 * Float(i + 1) }
            }
        }
        let rt = Runtime(arena: arena, pool: nil)
        let x = random(n * cin * s * s, seed: 5)
        let y = x.withUnsafeBufferPointer { head.forward($0.baseAddress!, batch: n, rt: rt) }
        let outCount = n * (classes + 4) * s * s
        let got: [Float] = (0..<outCount).map { y[$0] }

        let refs: [[ParamRef]] = head.branches.map { [$0.hidden.weight, $0.hidden.bias!, $0.out.weight, $0.out.bias!] }
        let couts = [classes, 2, 2]
        // Reference output with all parameters given (per branch: w1, b1, w2, b2).
        func reference(_ xd: [Double], _ p: [[[Double]]]) -> [Double] {
            var outs: [[Double]] = []
            for k in 0..<3 {
                let pre: [Double] = HeadReference.conv(xd, n: n, cin: cin, s: s, w: p[k][0], b: p[k][1], cout: hidden, k: 3)
                let h: [Double] = pre.map { (v: Double) -> Double in max(v, 0) }
                outs.append(HeadReference.conv(h, n: n, cin: hidden, s: s, w: p[k][2], b: p[k][3], cout: couts[k], k: 1))
            }
            var y: [Double] = []
            for i in 0..<n {
                for k in 0..<3 {
                    let len: Int = couts[k] * s * s
                    y.append(contentsOf: outs[k][(i * len)..<((i + 1) * len)])
                }
            }
            return y
        }
        let params: [[[Double]]] = refs.map { $0.map { values(arena, $0) } }
        let xd: [Double] = x.map(Double.init)
        assertClose(got, reference(xd, params), "forward")

        let pr = probe(outCount, seed: 9)
        let dy: [Float] = pr.map(Float.init)
        let gx = dy.withUnsafeBufferPointer { head.backward($0.baseAddress!, batch: n, rt: rt)! }
        let gotX: [Float] = (0..<x.count).map { gx[$0] }
        assertClose(gotX, numeric(xd) { dot(reference($0, params), pr) }, "input gradient")
        for k in 0..<3 {
            for j in 0..<4 {
                let g = grads(arena, refs[k][j])
                let num = numeric(params[k][j]) { (v: [Double]) -> Double in
                    var p = params
                    p[k][j] = v
                    return dot(reference(xd, p), pr)
                }
                assertClose(g, num, "branch \(k) parameter \(j) gradient")
            }
        }
    }

    func testFCNHeadForwardAndGradients() {
        let (n, cd, cs, d, classes) = (2, 3, 2, 2, 3)   // deep 2x2, skip 4x4, output 8x8
        let b = ArenaBuilder()
        let head = FCNHead(b, name: "seg", deep: FeatureShape(cd, d, d), skip: FeatureShape(cs, 2 * d, 2 * d),
                           classes: classes, outputSize: 4 * d, maxBatch: n, threads: 1)
        XCTAssertEqual(head.outputShape, FeatureShape(classes, 4 * d, 4 * d))
        let arena = ParameterArena(b, seed: 4)
        for r in [head.scoreDeep.bias!, head.scoreSkip.bias!] {
            for i in 0..<r.count { arena.value(r)[i] = 0.1 * Float(i) - 0.1 }
        }
        let rt = Runtime(arena: arena, pool: nil)
        let deep = random(n * cd * d * d, seed: 6), skip = random(n * cs * 4 * d * d, seed: 7)
        let y = deep.withUnsafeBufferPointer { dp in
            skip.withUnsafeBufferPointer { sp in head.forward(deep: dp.baseAddress!, skip: sp.baseAddress!, batch: n, rt: rt) }
        }
        let outCount = n * classes * 16 * d * d
        let got: [Float] = (0..<outCount).map { y[$0] }
        let refs: [ParamRef] = [head.scoreDeep.weight, head.scoreDeep.bias!, head.scoreSkip.weight, head.scoreSkip.bias!]
        func reference(_ dd: [Double], _ sd: [Double], _ p: [[Double]]) -> [Double] {
            let sdeep: [Double] = HeadReference.conv(dd, n: n, cin: cd, s: d, w: p[0], b: p[1], cout: classes, k: 1)
            let up: [Double] = HeadReference.up2(sdeep, planes: n * classes, s: d)
            let sk: [Double] = HeadReference.conv(sd, n: n, cin: cs, s: 2 * d, w: p[2], b: p[3], cout: classes, k: 1)
            var fused: [Double] = up
            for i in fused.indices { fused[i] += sk[i] }
            return HeadReference.up2(fused, planes: n * classes, s: 2 * d)
        }
        let params: [[Double]] = refs.map { values(arena, $0) }
        let dd: [Double] = deep.map(Double.init), sd: [Double] = skip.map(Double.init)
        assertClose(got, reference(dd, sd, params), "forward")
        let pr = probe(outCount, seed: 10)
        let dy: [Float] = pr.map(Float.init)
        let (gd, gs) = dy.withUnsafeBufferPointer { head.backward($0.baseAddress!, batch: n, rt: rt) }
        let gotDeep: [Float] = (0..<deep.count).map { gd[$0] }
        let gotSkip: [Float] = (0..<skip.count).map { gs[$0] }
        assertClose(gotDeep, numeric(dd) { dot(reference($0, sd, params), pr) }, "deep gradient")
        assertClose(gotSkip, numeric(sd) { dot(reference(dd, $0, params), pr) }, "skip gradient")
        for j in 0..<4 {
            let num = numeric(params[j]) { (v: [Double]) -> Double in
                var p = params
                p[j] = v
                return dot(reference(dd, sd, p), pr)
            }
            assertClose(grads(arena, refs[j]), num, "parameter \(j) gradient")
        }
    }

    func testCenterNetTargetsAndDecodeRoundTrip() {
        // Radius from the IoU condition: a (r, r) shift of a 10x6 box keeps IoU >= 0.7.
        let r = CenterNetTargets.radius(width: 10, height: 6)
        func shiftedIoU(_ r: Double) -> Double {
            let inter: Double = (10 - r) * (6 - r)
            return inter / (120 - inter)
        }
        XCTAssertGreaterThanOrEqual(shiftedIoU(Double(r)), 0.7)
        XCTAssertLessThan(shiftedIoU(Double(r + 1)), 0.7)
        XCTAssertEqual(CenterNetTargets.radius(width: 0.5, height: 0.5), 0)

        let (classes, s, stride) = (3, 16, 4)
        let boxes = [LabeledBox(classId: 2, x: 8, y: 12, w: 20, h: 14), LabeledBox(classId: 3, x: 30, y: 2, w: 30, h: 40),
                     LabeledBox(classId: 2, x: 40, y: 44, w: 10, h: 12)]
        var heat = [Float](repeating: .nan, count: classes * s * s)
        let (size, offset) = CenterNetTargets.build(boxes, sample: 0, stride: stride, classes: classes, height: s, width: s,
                                                    heatmap: &heat)
        XCTAssertEqual(heat.filter { $0 == 1 }.count, 3)
        XCTAssertEqual(heat[(1 * s + 4) * s + 4], 1)          // box 1 centre (18, 19) / 4 -> cell (4, 4), class 2 plane
        XCTAssertEqual(size[0].values, [5, 3.5])
        XCTAssertEqual(offset[0].values, [0.5, 0.75])
        XCTAssertEqual(size[0].cell, 4 * s + 4)
        XCTAssertEqual(heat[(0 * s + 4) * s + 4], 0, "other classes' planes untouched")
        XCTAssertTrue(heat.allSatisfy { $0 >= 0 && $0 <= 1 })

        // Perfect predictions (logits of the targets, exact sizes/offsets) decode back to the boxes.
        let logits: [Float] = heat.map { (v: Float) -> Float in
            let p: Float = min(max(v, 1e-6), 1 - 1e-6)
            return log(p / (1 - p))
        }
        var sz = [Float](repeating: 0, count: 2 * s * s), off = sz
        for (a, o) in zip(size, offset) {
            for c in 0..<2 { sz[c * s * s + a.cell] = a.values[c]; off[c * s * s + o.cell] = o.values[c] }
        }
        let dec = CenterNetTargets.decode(heatmap: logits, size: sz, offset: off, classes: classes, height: s, width: s,
                                          stride: stride, topK: 10, minScore: 0.5)
        XCTAssertEqual(dec.count, 3)
        for b in boxes {
            let m = dec.first { $0.box.classId == b.classId && CenterNetTargets.iou($0.box, b) > 0.999 }
            XCTAssertNotNil(m, "box \(b) not recovered from \(dec)")
        }

        var hm = [Float](repeating: -10, count: 1 * 4 * 4)
        hm[0] = 3; hm[1] = 2      // (0,1) is next to the larger (0,0): not a peak
        hm[2] = 2                 // (0,2) is a peak: its 3x3 neighbourhood excludes (0,0)
        hm[10] = 1; hm[15] = 0.5  // (2,2) a peak, (3,3) beside it not
        let one = [Float](repeating: 1, count: 2 * 16), half = [Float](repeating: 0.5, count: 2 * 16)
        let peaks = CenterNetTargets.decode(heatmap: hm, size: one, offset: half, classes: 1, height: 4, width: 4, stride: 1, topK: 2)
        XCTAssertEqual(peaks.count, 2)
        XCTAssertEqual(Double(peaks[0].score), 1 / (1 + exp(-3.0)), accuracy: 1e-6)
        XCTAssertEqual(Double(peaks[1].score), 1 / (1 + exp(-2.0)), accuracy: 1e-6)
        XCTAssertEqual(peaks[0].box, LabeledBox(classId: 1, x: 0, y: 0, w: 1, h: 1))
        XCTAssertEqual(peaks[1].box, LabeledBox(classId: 1, x: 2, y: 0, w: 1, h: 1))
        // 3x3 boxes: (0,0) -> [0,2)x[0,2), (0,2) -> [1,4)x[0,2), (2,2) -> [1,4)x[1,4).
        // IoU (0,0)-(0,2) = 2/8, (0,2)-(2,2) = 3/12, (0,0)-(2,2) = 1/12: NMS at 0.2 drops (0,2) only.
        let big = [Float](repeating: 3, count: 2 * 16)
        let noNMS = CenterNetTargets.decode(heatmap: hm, size: big, offset: half, classes: 1, height: 4, width: 4, stride: 1)
        let nms = CenterNetTargets.decode(heatmap: hm, size: big, offset: half, classes: 1, height: 4, width: 4, stride: 1,
                                          nmsIoU: 0.2)
        XCTAssertEqual(noNMS.count, 3)
        XCTAssertEqual(nms.map(\.box), [LabeledBox(classId: 1, x: 0, y: 0, w: 2, h: 2), LabeledBox(classId: 1, x: 1, y: 1, w: 3, h: 3)])
    }
}
