// GEMM benchmark: square M=N=K sizes at 1 thread and at all threads, plus the
// per-image convolution shapes (single thread), each as GFLOP/s = 2MNK / t (best
// of several repetitions) against the FMA peak measured for the same thread count.

import Foundation
import TensorEngine

/// Best GFLOP/s of `repetitions` timed runs of one gemm shape (C = A.B, beta 0).
/// Each run repeats the call enough times to last ~`minSeconds`.
public func gemmGflops(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                       threads: Int, repetitions: Int = 10, minSeconds: Double = 0.02) -> Double {
    let pool = benchPool(threads: threads)
    let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
    let b = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    for i in 0..<(m * k) { a[i] = Float(i % 17) * 0.0625 - 0.5 }
    for i in 0..<(k * n) { b[i] = Float(i % 13) * 0.125 - 0.75 }
    c.initialize(repeating: 0, count: m * n)
    let lda = transA ? m : k, ldb = transB ? k : n
    func call() {
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda,
             b: b, ldb: ldb, beta: 0, c: c, ldc: n, pool: pool)
    }
    var start = benchSeconds()
    call()  // warm-up: workspace, caches, pool threads awake
    let once = max(benchSeconds() - start, 1e-7)
    let inner = max(1, Int(minSeconds / once))
    var best = Double.infinity
    for _ in 0..<repetitions {
        start = benchSeconds()
        for _ in 0..<inner { call() }
        best = min(best, (benchSeconds() - start) / Double(inner))
    }
    return 2.0 * Double(m) * Double(n) * Double(k) / best / 1e9
}

/// The threads a "use all threads" measurement uses on this machine.
public var benchAllThreads: Int { ProcessInfo.processInfo.activeProcessorCount }

/// FMA peak lines (bench "fma_peak") for each thread count, keyed by thread count.
public func fmaPeakResults(threadCounts: [Int]) -> [Int: BenchResult] {
    var out: [Int: BenchResult] = [:]
    for t in Set(threadCounts) {
        let p = peakFMAGflops(threads: t)
        out[t] = BenchResult(bench: "fma_peak", shape: "simd16x12", threads: t, gflops: p, peakGflops: p)
    }
    return out
}

/// Square GEMM results (bench "gemm", shape "NxNxN") for every size and thread count,
/// each compared with `peaks[threads]`. `emit` is called as soon as each line is measured.
public func runGemmBench(sizes: [Int], threadCounts: [Int], peaks: [Int: BenchResult],
                         emit: (BenchResult) -> Void) {
    for s in sizes {
        for t in threadCounts {
            let reps = s >= 2048 ? 5 : 10
            let g = gemmGflops(m: s, n: s, k: s, threads: t, repetitions: reps)
            emit(BenchResult(bench: "gemm", shape: "\(s)x\(s)x\(s)", threads: t, gflops: g,
                             peakGflops: peaks[t]?.gflops ?? 0))
        }
    }
}

/// The convolution's per-image GEMMs (single thread, no pool), as MxNxK:
/// forward A.B (Cout x HW x Cin*9), backward data A^T.B (Cin*9 x HW x Cout),
/// backward weights A.B^T (Cout x Cin*9 x HW).
public func runGemmConvShapesBench(peak1: Double, emit: (BenchResult) -> Void) {
    for (cout, hw, cin9) in [(16, 784, 144), (32, 196, 288), (64, 49, 576), (32, 784, 288), (64, 196, 576)] {
        let cases: [(String, Bool, Bool, Int, Int, Int)] = [
            ("gemm_conv_fwd", false, false, cout, hw, cin9),
            ("gemm_conv_bwd_data", true, false, cin9, hw, cout),
            ("gemm_conv_bwd_weights", false, true, cout, cin9, hw),
        ]
        for (name, ta, tb, m, n, k) in cases {
            let g = gemmGflops(transA: ta, transB: tb, m: m, n: n, k: k, threads: 1, repetitions: 10, minSeconds: 0.01)
            emit(BenchResult(bench: name, shape: "\(m)x\(n)x\(k)", threads: 1, gflops: g, peakGflops: peak1,
                             extra: [("op", (ta ? "At" : "A") + "." + (tb ? "Bt" : "B"))]))
        }
    }
}
