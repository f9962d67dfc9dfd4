// Per-channel sums over the N planes of an NCHW tensor (batch norm's statistics
// and its backward's two sums), in one fixed order whatever the plane size:
// each plane is read in 16-wide chunks into SIMD16<Float> partial sums, its (< 16)
// tail into a scalar Float; whenever 1024 or more elements have been taken in (at
// the end of a plane, or of a 4096-element block of a large plane), the partial
// sums are added into a Double total, the 16 lanes in lane order, then the scalar.
//
// Why not Reductions' per-plane sums: those flush to Double once per plane and add
// tails below 64 in Double, so a 7x7 plane (49 values) was summed entirely in
// scalar Double arithmetic with a 16-lane horizontal sum per plane; batch norm on
// ResNet's 7x7 and 14x14 stages ran at a fraction of memory speed.
//
// One channel is summed by one thread, so the bits do not depend on the thread count.

/// Elements taken into Float partial sums before they go to the Double total: 64 per
/// lane, about what one 28x28 plane gave the per-plane sums before (data-parallel
/// SyncBN is compared with one rank to 1e-5 after two steps, Tests/scripts/mpi-train.sh).
let opsChannelFlush = 1024

/// SIMD16 + scalar Float partial sums with a Double total.
struct OpsChannelSum {
    var v = SIMD16<Float>()
    var s: Float = 0
    var total = 0.0
    @inline(__always) mutating func flush() {
        total += opsLaneSum(v) + Double(s)
        v = SIMD16<Float>(); s = 0
    }
}

/// Calls vector(offset) for every 16-wide chunk and scalar(offset) for every tail
/// element of planes b*stride ..< b*stride + count (b < planes), and flush() after
/// each opsChannelFlush or more elements and at the end.
@inline(__always)
func opsChannelVisit(planes: Int, stride: Int, count: Int, vector: (Int) -> Void, scalar: (Int) -> Void,
                     flush: () -> Void) {
    var pending = 0
    for b in 0..<planes {
        let base = b * stride
        var start = 0
        while start < count {
            let end = start + min(opsReduceBlock, count - start)
            var i = start
            while i + 16 <= end { vector(base + i); i += 16 }
            while i < end { scalar(base + i); i += 1 }
            pending += end - start
            if pending >= opsChannelFlush { flush(); pending = 0 }
            start = end
        }
    }
    if pending > 0 { flush() }
}

/// Σ x over the planes.
@inline(__always)
func opsChannelSum(_ x: UnsafePointer<Float>, planes: Int, stride: Int, count: Int) -> Double {
    var a = OpsChannelSum()
    opsChannelVisit(planes: planes, stride: stride, count: count,
                    vector: { a.v += opsLoad16(x + $0) }, scalar: { a.s += x[$0] }, flush: { a.flush() })
    return a.total
}

/// Σ (x - center)^2 over the planes.
@inline(__always)
func opsChannelSumSquaredDeviation(_ x: UnsafePointer<Float>, planes: Int, stride: Int, count: Int,
                                   center: Float) -> Double {
    var a = OpsChannelSum()
    let cv = SIMD16<Float>(repeating: center)
    opsChannelVisit(planes: planes, stride: stride, count: count,
                    vector: { let d = opsLoad16(x + $0) - cv; a.v.addProduct(d, d) },
                    scalar: { let d = x[$0] - center; a.s = a.s.addingProduct(d, d) }, flush: { a.flush() })
    return a.total
}

/// (Σ g, Σ g * (x - mean)) over the planes, g = dy, or dy masked to 0 where mask <= 0
/// (the fused ReLU's output).
@inline(__always)
func opsChannelGradientSums(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
                            planes: Int, stride: Int, count: Int, mean: Float) -> (Double, Double) {
    var g = OpsChannelSum(), d = OpsChannelSum()
    let mv = SIMD16<Float>(repeating: mean), zero = SIMD16<Float>()
    func flush() { g.flush(); d.flush() }
    if let mask {
        opsChannelVisit(planes: planes, stride: stride, count: count, vector: {
            let gv = zero.replacing(with: opsLoad16(dy + $0), where: opsLoad16(mask + $0) .> zero)
            g.v += gv; d.v.addProduct(gv, opsLoad16(x + $0) - mv)
        }, scalar: {
            let gs: Float = mask[$0] > 0 ? dy[$0] : 0
            g.s += gs; d.s = d.s.addingProduct(gs, x[$0] - mean)
        }, flush: flush)
    } else {
        opsChannelVisit(planes: planes, stride: stride, count: count, vector: {
            let gv = opsLoad16(dy + $0)
            g.v += gv; d.v.addProduct(gv, opsLoad16(x + $0) - mv)
        }, scalar: {
            g.s += dy[$0]; d.s = d.s.addingProduct(dy[$0], x[$0] - mean)
        }, flush: flush)
    }
    return (g.total, d.total)
}
