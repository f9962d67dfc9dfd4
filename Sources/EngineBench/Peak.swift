// Measured FMA peak and the result record every kernel benchmark reports against it.
//
// `peakFMAGflops(threads:)` times a pure SIMD16<Float> FMA loop (12 independent
// accumulators: enough to cover the FMA latency on two pipes), compiled for the
// level in use (GemmKernelsV4/FMAPeak.swift), on `threads` threads at once and
// returns the best aggregate GFLOP/s of several runs.
// `BenchResult` is one measured line: print it as a table row or as one JSON
// object per line, so every bench (gemm, conv, ...) shares one format.

import TensorEngine
import JSONFormat
#if canImport(Glibc)
import Glibc
#endif

/// Monotonic wall-clock seconds.
public func benchSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// One persistent pool per thread count for benchmarks (pools live for the process).
/// Returns nil for 1 thread: callers then run on their own thread.
public func benchPool(threads: Int) -> ThreadPool? {
    if threads <= 1 { return nil }
    benchPoolLock.lock(); defer { benchPoolLock.unlock() }
    if let p = benchPools[threads] { return p }
    let p = ThreadPool(threads: threads)
    benchPools[threads] = p
    return p
}

nonisolated(unsafe) private var benchPools: [Int: ThreadPool] = [:]
private let benchPoolLock = BenchLock()

private final class BenchLock: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(m, nil) }
    func lock() { pthread_mutex_lock(m) }
    func unlock() { pthread_mutex_unlock(m) }
}

/// Flops counted per `fmaPeakLoop` iteration: 12 FMAs x 16 lanes x 2.
let flopsPerFMAIteration = 12 * 16 * 2

/// Best aggregate FP32 FMA GFLOP/s over `repetitions` runs of a pure SIMD16 FMA
/// loop of the level in use on `threads` threads at once (each thread runs the same loop).
public func peakFMAGflops(threads: Int, repetitions: Int = 15, iterations: Int = 1_000_000) -> Double {
    let pool = benchPool(threads: threads)
    let t = pool?.threads ?? 1
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: t)
    defer { sink.deallocate() }
    var best = 0.0
    for _ in 0..<repetitions {
        let start = benchSeconds()
        if let pool {
            pool.run { i in sink[i] = benchFMAPeakLoop(iterations: iterations, seed: Float(i)) }
        } else {
            sink[0] = benchFMAPeakLoop(iterations: iterations, seed: 0)
        }
        let elapsed = benchSeconds() - start
        let gflops = Double(t * iterations * flopsPerFMAIteration) / elapsed / 1e9
        best = max(best, gflops)
    }
    if sink[0].isNaN { print("") }  // keep the result observable
    return best
}

/// One benchmark measurement, comparable to the FMA peak of the same thread count.
public struct BenchResult: Sendable {
    public var bench: String        // "gemm", "conv_forward", "fma_peak", ...
    public var shape: String        // e.g. "1024x1024x1024"
    public var threads: Int
    public var gflops: Double
    public var peakGflops: Double
    /// Extra key/value pairs appended to the JSON line (values printed as JSON strings).
    public var extra: [(String, String)]

    public init(bench: String, shape: String, threads: Int, gflops: Double, peakGflops: Double,
                extra: [(String, String)] = []) {
        self.bench = bench; self.shape = shape; self.threads = threads
        self.gflops = gflops; self.peakGflops = peakGflops; self.extra = extra
    }

    public var fractionOfPeak: Double { peakGflops > 0 ? gflops / peakGflops : 0 }

    /// One JSON object: bench, shape, threads, gflops, peak_gflops, fraction_of_peak (+ extra).
    public var jsonLine: String {
        var s = "{\"bench\":\(JSONText.quoted(bench)),\"shape\":\(JSONText.quoted(shape)),\"threads\":\(threads)"
        s += ",\"gflops\":\(fmt(gflops, 2)),\"peak_gflops\":\(fmt(peakGflops, 2))"
        s += ",\"fraction_of_peak\":\(fmt(fractionOfPeak, 4))"
        for (k, v) in extra { s += ",\(JSONText.quoted(k)):\(JSONText.quoted(v))" }
        return s + "," + BuildInfo.cpuJSONFields + "}"
    }

    /// Column titles matching `textLine`.
    public static var textHeader: String {
        pad("bench", 14) + pad("shape", 18) + lpad("threads", 8) + lpad("GFLOP/s", 10)
            + lpad("peak", 10) + lpad("of peak", 9)
    }

    /// A fixed-width table row matching `textHeader`.
    public var textLine: String {
        var s = BenchResult.pad(bench, 14) + BenchResult.pad(shape, 18) + BenchResult.lpad("\(threads)", 8)
        s += BenchResult.lpad(fmt(gflops, 1), 10) + BenchResult.lpad(fmt(peakGflops, 1), 10)
        s += BenchResult.lpad(fmt(fractionOfPeak * 100, 1) + "%", 9)
        for (k, v) in extra { s += "  \(k)=\(v)" }
        return s
    }

    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
    static func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? " " + s : String(repeating: " ", count: w - s.count) + s }
}

/// Fixed-point decimal formatting without Foundation.
func fmt(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(x) * scale).rounded()
    let whole = Int(r / scale), frac = Int(r - Double(whole) * scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (x < 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}

