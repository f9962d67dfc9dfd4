// The integer engine's register tile over the packed layout of IntegerInference/IntegerKernels.swift:
// 6 pixels × 1, 2 or 4 weight blocks of 16 output channels, each a SIMD16<Int32>
// accumulator, one u8 × s8 four-byte dot-product step per (tap, group). This file is
// compiled into IntegerTilesVNNI (the step is VPDPBUSD on zmm, 24 accumulators in
// AVX-512's 32 registers) and IntegerTilesV3 (the step is the exact portable
// arithmetic, for the 8-bit layers the AVX2 pair-product tile cannot take) through
// a symlink; each module defines `dotStep`. (`import Swift`: IntegerTilesVNNI is
// built with -parse-stdlib, which does not import it implicitly.)
import Swift

@inline(__always) func broadcastWord(_ p: UnsafePointer<UInt8>) -> SIMD16<Int32> {
    SIMD16<Int32>(repeating: UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
}
@inline(__always) func storeWords(_ v: SIMD16<Int32>, _ p: UnsafeMutablePointer<Int32>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Int32>.self)
}

/// One pixel's accumulators: 16 output channels of each of its 1, 2 or 4 consecutive
/// weight blocks. The same type carries those blocks' weights for one (tap, group).
protocol TileRow {
    init()
    init(weights w: UnsafePointer<SIMD16<Int32>>, blockStride bs: Int)
    mutating func add(_ a: SIMD16<Int32>, _ w: Self)
    func write(to out: UnsafeMutablePointer<Int32>)
}

struct Row1: TileRow {
    var c0 = SIMD16<Int32>()
    init() {}
    @inline(__always) init(weights w: UnsafePointer<SIMD16<Int32>>, blockStride bs: Int) { c0 = w[0] }
    @inline(__always) mutating func add(_ a: SIMD16<Int32>, _ w: Row1) { c0 = dotStep(c0, a, w.c0) }
    @inline(__always) func write(to out: UnsafeMutablePointer<Int32>) { storeWords(c0, out) }
}

struct Row2: TileRow {
    var c0 = SIMD16<Int32>(), c1 = SIMD16<Int32>()
    init() {}
    @inline(__always) init(weights w: UnsafePointer<SIMD16<Int32>>, blockStride bs: Int) { c0 = w[0]; c1 = w[bs] }
    @inline(__always) mutating func add(_ a: SIMD16<Int32>, _ w: Row2) {
        c0 = dotStep(c0, a, w.c0); c1 = dotStep(c1, a, w.c1)
    }
    @inline(__always) func write(to out: UnsafeMutablePointer<Int32>) { storeWords(c0, out); storeWords(c1, out + 16) }
}

struct Row4: TileRow {
    var c0 = SIMD16<Int32>(), c1 = SIMD16<Int32>(), c2 = SIMD16<Int32>(), c3 = SIMD16<Int32>()
    init() {}
    @inline(__always) init(weights w: UnsafePointer<SIMD16<Int32>>, blockStride bs: Int) {
        c0 = w[0]; c1 = w[bs]; c2 = w[2 * bs]; c3 = w[3 * bs]
    }
    @inline(__always) mutating func add(_ a: SIMD16<Int32>, _ w: Row4) {
        c0 = dotStep(c0, a, w.c0); c1 = dotStep(c1, a, w.c1)
        c2 = dotStep(c2, a, w.c2); c3 = dotStep(c3, a, w.c3)
    }
    @inline(__always) func write(to out: UnsafeMutablePointer<Int32>) {
        storeWords(c0, out); storeWords(c1, out + 16); storeWords(c2, out + 32); storeWords(c3, out + 48)
    }
}

/// out[r · ldAcc + 16·k + j] for the tile's rows r < `rows` (pixel r at src + pixelOffsets[r];
/// rows beyond `rows` repeat the last pixel and are not stored) and blocks k < `blocks`
/// (1, 2 or 4) of the weights starting at `weights` (block stride taps · groups).
public func registerTile(blocks: Int, src: UnsafePointer<UInt8>, pixelOffsets o: UnsafePointer<Int>, rows: Int,
                         tapOffsets: UnsafePointer<Int>, taps: Int, groups: Int,
                         weights: UnsafePointer<SIMD16<Int32>>, out: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    switch blocks {
    case 4: tile(Row4.self, src, o, rows, tapOffsets, taps, groups, weights, out, ldAcc)
    case 2: tile(Row2.self, src, o, rows, tapOffsets, taps, groups, weights, out, ldAcc)
    default: tile(Row1.self, src, o, rows, tapOffsets, taps, groups, weights, out, ldAcc)
    }
}

@inline(__always)
func tile<Row: TileRow>(_: Row.Type, _ src: UnsafePointer<UInt8>, _ o: UnsafePointer<Int>, _ rows: Int,
                        _ tapOffsets: UnsafePointer<Int>, _ taps: Int, _ groups: Int,
                        _ weights: UnsafePointer<SIMD16<Int32>>, _ out: UnsafeMutablePointer<Int32>, _ ldAcc: Int) {
    let l = rows - 1
    let r0 = src + o[0], r1 = src + o[min(1, l)], r2 = src + o[min(2, l)]
    let r3 = src + o[min(3, l)], r4 = src + o[min(4, l)], r5 = src + o[min(5, l)]
    var c0 = Row(), c1 = Row(), c2 = Row(), c3 = Row(), c4 = Row(), c5 = Row()
    let bs = taps * groups
    var wp = weights
    for t in 0..<taps {
        let to = tapOffsets[t]
        var q0 = r0 + to, q1 = r1 + to, q2 = r2 + to, q3 = r3 + to, q4 = r4 + to, q5 = r5 + to
        for g in 0..<groups {
            let wg = Row(weights: wp + g, blockStride: bs)
            c0.add(broadcastWord(q0), wg); c1.add(broadcastWord(q1), wg); c2.add(broadcastWord(q2), wg)
            c3.add(broadcastWord(q3), wg); c4.add(broadcastWord(q4), wg); c5.add(broadcastWord(q5), wg)
            q0 += 4; q1 += 4; q2 += 4; q3 += 4; q4 += 4; q5 += 4
        }
        wp += groups
    }
    func put(_ r: Int, _ c: Row) { if r < rows { c.write(to: out + r * ldAcc) } }
    put(0, c0); put(1, c1); put(2, c2); put(3, c3); put(4, c4); put(5, c5)
}

/// 12 pixels × 1 weight block: out[r · ldAcc + j] for rows r < `rows` (at most 12; rows
/// beyond it repeat the last pixel and are not stored). The 6-pixel tile of a single block
/// has 6 independent dot-product chains, too few to cover VPDPBUSD's latency on two pipes
/// (layers of at most 16 output channels, and a wider layer's last block); 12 chains do.
public func registerTile12(src: UnsafePointer<UInt8>, pixelOffsets o: UnsafePointer<Int>, rows: Int,
                           tapOffsets: UnsafePointer<Int>, taps: Int, groups: Int,
                           weights: UnsafePointer<SIMD16<Int32>>, out: UnsafeMutablePointer<Int32>, ldAcc: Int) {
    let l = rows - 1
    let r = (
        src + o[0], src + o[min(1, l)], src + o[min(2, l)], src + o[min(3, l)], src + o[min(4, l)], src + o[min(5, l)],
        src + o[min(6, l)], src + o[min(7, l)], src + o[min(8, l)], src + o[min(9, l)], src + o[min(10, l)], src + o[min(11, l)])
    var c0 = Row1(), c1 = Row1(), c2 = Row1(), c3 = Row1(), c4 = Row1(), c5 = Row1()
    var c6 = Row1(), c7 = Row1(), c8 = Row1(), c9 = Row1(), c10 = Row1(), c11 = Row1()
    var wp = weights
    for t in 0..<taps {
        let to = tapOffsets[t]
        for g in 0..<groups {
            let wg = Row1(weights: wp + g, blockStride: 0), off = to + 4 * g
            c0.add(broadcastWord(r.0 + off), wg); c1.add(broadcastWord(r.1 + off), wg); c2.add(broadcastWord(r.2 + off), wg)
            c3.add(broadcastWord(r.3 + off), wg); c4.add(broadcastWord(r.4 + off), wg); c5.add(broadcastWord(r.5 + off), wg)
            c6.add(broadcastWord(r.6 + off), wg); c7.add(broadcastWord(r.7 + off), wg); c8.add(broadcastWord(r.8 + off), wg)
            c9.add(broadcastWord(r.9 + off), wg); c10.add(broadcastWord(r.10 + off), wg); c11.add(broadcastWord(r.11 + off), wg)
        }
        wp += groups
    }
    func put(_ i: Int, _ c: Row1) { if i < rows { c.write(to: out + i * ldAcc) } }
    put(0, c0); put(1, c1); put(2, c2); put(3, c3); put(4, c4); put(5, c5)
    put(6, c6); put(7, c7); put(8, c8); put(9, c9); put(10, c10); put(11, c11)
}
