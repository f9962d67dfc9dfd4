// Reductions over a contiguous Float buffer: sum, mean, meanAbs, maxAbs,
// sumOfSquares.
//
// Precision and order: the buffer is cut into fixed blocks of opsReduceBlock
// elements; inside a block four SIMD16<Float> accumulators take every 64th
// element, are combined as (a0 + a1) + (a2 + a3) and their 16 lanes added in
// lane order into a Double; block results are added in block order into a
// Double total, and the (< 64 element) tail of each block is added in Double.
// So the Float rounding error grows with the block size (4096), not with the
// buffer, and the result is the same bits on every run. maxAbs is exact.
// These run on the caller: they are memory-bound and used for metrics.

let opsReduceBlock = 4096

@inline(__always)
func opsLaneSum(_ v: SIMD16<Float>) -> Double {
    var s = 0.0
    for l in 0..<16 { s += Double(v[l]) }
    return s
}

/// Sum of f(x[i]) in the fixed order described above, as a Double: `add` folds one
/// vector's f into an accumulator, `tail` gives f of one tail element in Double.
@inline(__always)
func opsBlockedSum(_ x: UnsafePointer<Float>, count: Int, add: (inout SIMD16<Float>, SIMD16<Float>) -> Void,
                   tail: (Float) -> Double) -> Double {
    var total = 0.0
    var start = 0
    while start < count {
        let len = min(opsReduceBlock, count - start)
        let p = x + start
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var i = 0
        while i + 64 <= len {
            add(&a0, opsLoad16(p + i)); add(&a1, opsLoad16(p + i + 16))
            add(&a2, opsLoad16(p + i + 32)); add(&a3, opsLoad16(p + i + 48))
            i += 64
        }
        var s = opsLaneSum((a0 + a1) + (a2 + a3))
        while i < len { s += tail(p[i]); i += 1 }
        total += s
        start += len
    }
    return total
}

/// Sum of x[0..<count], as a Double.
@inline(__always)
func opsSumDouble(_ x: UnsafePointer<Float>, count: Int) -> Double {
    opsBlockedSum(x, count: count, add: { $0 += $1 }, tail: { Double($0) })
}

/// Sum of (x[i] - center)^2, each vector term one fused multiply-add.
@inline(__always)
func opsSumSquaredDeviation(_ x: UnsafePointer<Float>, count: Int, center: Float) -> Double {
    let cv = SIMD16<Float>(repeating: center)
    return opsBlockedSum(x, count: count, add: { let d = $1 - cv; $0.addProduct(d, d) },
                         tail: { let d = Double($0 - center); return d * d })
}

/// Sum of |x[i]|, as a Double.
@inline(__always)
func opsSumAbsDouble(_ x: UnsafePointer<Float>, count: Int) -> Double {
    opsBlockedSum(x, count: count, add: { $0 += simdAbs($1) }, tail: { Double(abs($0)) })
}

/// Sum of x[0..<count] (Float SIMD within 4096-element blocks, Double across blocks).
public func reduceSum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    Float(opsSumDouble(x, count: count))
}

/// Mean of x[0..<count]; 0 for an empty buffer.
public func reduceMean(_ x: UnsafePointer<Float>, count: Int) -> Float {
    count == 0 ? 0 : Float(opsSumDouble(x, count: count) / Double(count))
}

/// Mean of |x[i]|; 0 for an empty buffer.
public func reduceMeanAbs(_ x: UnsafePointer<Float>, count: Int) -> Float {
    count == 0 ? 0 : Float(opsSumAbsDouble(x, count: count) / Double(count))
}

/// Sum of x[i]^2 (Float SIMD within 4096-element blocks, Double across blocks).
public func reduceSumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
    Float(opsSumSquaredDeviation(x, count: count, center: 0))
}

/// max |x[i]| (exact); 0 for an empty buffer. NaNs are not propagated reliably.
public func reduceMaxAbs(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= count {
        let v0 = opsLoad16(x + i), v1 = opsLoad16(x + i + 16)
        a0 = simdMax(a0, simdAbs(v0))
        a1 = simdMax(a1, simdAbs(v1))
        i += 32
    }
    var m = simdMax(a0, a1).max()
    while i < count { m = max(m, abs(x[i])); i += 1 }
    return m
}

/// reduceMeanAbs split over a pool: each 4096-element block is summed exactly as
/// the sequential version sums it, and the block sums are added in block order on
/// the caller, so the result has the same bits for every thread count.
public func reduceMeanAbs(_ x: UnsafePointer<Float>, count: Int, pool: ThreadPool?) -> Float {
    guard let pool, pool.threads > 1, count >= 8 * opsReduceBlock else { return reduceMeanAbs(x, count: count) }
    let blocks = (count + opsReduceBlock - 1) / opsReduceBlock
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: blocks) { sums in
        pool.parallelFor(blocks) { range, _ in
            for b in range {
                let start = b * opsReduceBlock
                sums[b] = opsSumAbsDouble(x + start, count: min(opsReduceBlock, count - start))
            }
        }
        var total = 0.0
        for b in 0..<blocks { total += sums[b] }
        return Float(total / Double(count))
    }
}

/// reduceMaxAbs split over a pool (a maximum does not depend on the order).
public func reduceMaxAbs(_ x: UnsafePointer<Float>, count: Int, pool: ThreadPool?) -> Float {
    guard let pool, pool.threads > 1, count >= 8 * opsReduceBlock else { return reduceMaxAbs(x, count: count) }
    return withUnsafeTemporaryAllocation(of: Float.self, capacity: pool.threads) { maxima in
        maxima.initialize(repeating: 0)
        pool.parallelFor(count) { range, t in
            maxima[t] = reduceMaxAbs(x + range.lowerBound, count: range.count)
        }
        return maxima.max() ?? 0
    }
}

/// True when every x[i] is finite. x·0 is 0 for a finite x and NaN for ±inf and
/// NaN, so one SIMD pass of multiply-adds ends in a NaN exactly when some element
/// is not finite (a trainer checks the whole gradient arena every step).
public func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    let zero = SIMD16<Float>()
    var i = 0
    while i + 32 <= count {
        a0.addProduct(opsLoad16(x + i), zero)
        a1.addProduct(opsLoad16(x + i + 16), zero)
        i += 32
    }
    var s = simdSum(a0 + a1)
    while i < count { s += x[i] * 0; i += 1 }
    return s == 0
}

/// Scalar reference of allFinite.
public func allFiniteReference(_ x: UnsafePointer<Float>, count: Int) -> Bool {
    (0..<count).allSatisfy { x[$0].isFinite }
}
