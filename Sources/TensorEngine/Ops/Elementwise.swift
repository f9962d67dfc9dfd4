// Elementwise kernels on contiguous Float buffers: add, addInPlace (gradient
// accumulation), scale, axpy, copy, and the ReLU forward/backward.
//
// Every kernel reads and writes through SIMD16<Float> on raw pointers with a
// scalar tail. Outputs are overwritten (addInPlace and axpy update their
// destination by definition). Results are elementwise, so they never depend on
// the thread count. Large buffers (>= opsParallelThreshold elements) are split
// over the pool in contiguous chunks; small ones run on the caller.

/// Work (in elements) below which a kernel runs on the caller even when given a pool.
let opsParallelThreshold = 32_768

@inline(__always)
func opsLoad16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func opsLoad16(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func opsStore16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Runs `body` over 0..<items: split over the pool when there is a pool, more than
/// one item and at least `opsParallelThreshold` elements of work in all; otherwise
/// on the caller in one call.
@inline(__always)
func opsFor(_ pool: ThreadPool?, items: Int, elementsPerItem: Int, _ body: (Range<Int>) -> Void) {
    if items <= 0 { return }
    if let pool = pool, pool.threads > 1, items > 1, items * elementsPerItem >= opsParallelThreshold {
        pool.parallelFor(items) { range, _ in body(range) }
    } else {
        body(0..<items)
    }
}

/// Runs `body(offset, length)` over 0..<count split into chunks that are multiples of 16.
@inline(__always)
func opsForElements(_ pool: ThreadPool?, count: Int, _ body: (Int, Int) -> Void) {
    if count <= 0 { return }
    let blocks = (count + 1023) / 1024
    opsFor(pool, items: blocks, elementsPerItem: 1024) { r in
        let lo = r.lowerBound * 1024
        let hi = min(r.upperBound * 1024, count)
        body(lo, hi - lo)
    }
}

// MARK: - Elementwise arithmetic

/// out[i] = a[i] + b[i]. `out` may alias `a` or `b`.
public func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                count: Int, pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        let a = a + lo, b = b + lo, o = out + lo
        var i = 0
        while i + 16 <= len { opsStore16(opsLoad16(a + i) + opsLoad16(b + i), o + i); i += 16 }
        while i < len { o[i] = a[i] + b[i]; i += 1 }
    }
}

/// dst[i] += src[i] (accumulates a gradient, e.g. the two branches of a residual).
public func addInPlace(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int,
                       pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        let s = src + lo, d = dst + lo
        var i = 0
        while i + 16 <= len { opsStore16(opsLoad16(d + i) + opsLoad16(s + i), d + i); i += 16 }
        while i < len { d[i] += s[i]; i += 1 }
    }
}

/// x[i] *= alpha, in place.
public func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int, pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        let x = x + lo
        let av = SIMD16<Float>(repeating: alpha)
        var i = 0
        while i + 16 <= len { opsStore16(opsLoad16(x + i) * av, x + i); i += 16 }
        while i < len { x[i] *= alpha; i += 1 }
    }
}

/// y[i] += alpha * x[i] (one rounding per element: fused multiply-add).
public func axpy(alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int,
                 pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        let x = x + lo, y = y + lo
        let av = SIMD16<Float>(repeating: alpha)
        var i = 0
        while i + 16 <= len {
            var acc = opsLoad16(y + i)
            acc.addProduct(av, opsLoad16(x + i))
            opsStore16(acc, y + i); i += 16
        }
        while i < len { y[i] = y[i].addingProduct(alpha, x[i]); i += 1 }
    }
}

/// dst[i] = src[i]. The buffers must not overlap.
public func copy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int,
                 pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        (dst + lo).update(from: src + lo, count: len)
    }
}

// MARK: - ReLU

/// output[i] = max(input[i], 0). In place (output == input) is allowed. NaN maps to 0.
public func reluForward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int,
                        pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        let x = input + lo, y = output + lo
        let zero = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= len {
            let v = opsLoad16(x + i)
            opsStore16(zero.replacing(with: v, where: v .> zero), y + i); i += 16
        }
        while i < len { y[i] = x[i] > 0 ? x[i] : 0; i += 1 }
    }
}

/// gradInput[i] = output[i] > 0 ? gradOutput[i] : 0, from the forward OUTPUT.
/// gradInput may alias gradOutput.
public func reluBackward(output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                         gradInput: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        let y = output + lo, g = gradOutput + lo, d = gradInput + lo
        let zero = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= len {
            opsStore16(zero.replacing(with: opsLoad16(g + i), where: opsLoad16(y + i) .> zero), d + i); i += 16
        }
        while i < len { d[i] = y[i] > 0 ? g[i] : 0; i += 1 }
    }
}

// MARK: - ReLU6

/// output[i] = min(max(input[i], 0), 6) (MobileNetV2's activation). In place is allowed. NaN maps to 0.
public func relu6Forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int,
                         pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        let x = input + lo, y = output + lo
        let zero = SIMD16<Float>(repeating: 0), six = SIMD16<Float>(repeating: 6)
        var i = 0
        while i + 16 <= len {
            let v = opsLoad16(x + i)
            opsStore16(zero.replacing(with: v, where: v .> zero).replacing(with: six, where: v .> six), y + i); i += 16
        }
        while i < len { y[i] = x[i] > 6 ? 6 : (x[i] > 0 ? x[i] : 0); i += 1 }
    }
}

/// gradInput[i] = 0 < output[i] < 6 ? gradOutput[i] : 0, from the forward OUTPUT (PyTorch's
/// hardtanh backward: no gradient at or beyond either bound). gradInput may alias gradOutput.
public func relu6Backward(output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                          gradInput: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool? = nil) {
    opsForElements(pool, count: count) { lo, len in
        let y = output + lo, g = gradOutput + lo, d = gradInput + lo
        let zero = SIMD16<Float>(repeating: 0), six = SIMD16<Float>(repeating: 6)
        var i = 0
        while i + 16 <= len {
            let v = opsLoad16(y + i)
            opsStore16(zero.replacing(with: opsLoad16(g + i), where: (v .> zero) .& (v .< six)), d + i); i += 16
        }
        while i < len { d[i] = y[i] > 0 && y[i] < 6 ? g[i] : 0; i += 1 }
    }
}
