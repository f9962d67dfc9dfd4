// The benchmarks' FMA peak loop, compiled per level like the GEMM tiles (this file is
// symlinked into GemmKernelsV3): a SIMD16<Float> FMA is one zmm instruction on v4 and
// two ymm instructions on v3, so each level's peak is that of its own vector width.
// Before, one copy compiled for x86-64-v3 measured the ymm peak on every CPU, and the
// v4 GEMM on a CPU with full-width AVX-512 units ran at 195% of that "peak".

/// Runs `iterations` rounds of 12 independent SIMD16 FMAs (enough to cover the FMA
/// latency on two pipes); returns a value depending on every accumulator so nothing is
/// optimised away.
@inline(never)
public func fmaPeakLoop(iterations: Int, seed: Float) -> Float {
    let x = SIMD16<Float>(repeating: 1.0000001 + seed * 1e-9)
    let y = SIMD16<Float>(repeating: 0.9999999)
    var a0 = SIMD16<Float>(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3
    var a4 = a0 + 4, a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7
    var a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11
    for _ in 0..<iterations {
        a0.addProduct(x, y); a1.addProduct(x, y); a2.addProduct(x, y); a3.addProduct(x, y)
        a4.addProduct(y, x); a5.addProduct(y, x); a6.addProduct(y, x); a7.addProduct(y, x)
        a8.addProduct(x, x); a9.addProduct(x, x); a10.addProduct(y, y); a11.addProduct(y, y)
    }
    let s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))
    return s.sum()
}
