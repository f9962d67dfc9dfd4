// All-reduce bandwidth as measured by Cluster/mpi-allreduce-bench.c, from Swift, so the
// trainer's benchmark can report "ours / raw MPI" in the same run.
//
// Definition (identical to the C bench): `iterations` timed in-place Float sum
// all-reduces of `bytes` bytes after 3 warm-up calls and a barrier; the time is the
// slowest rank's; GB/s = bytes / (time per all-reduce) / 1e9.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic wall-clock seconds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

public struct AllReduceBenchResult: Sendable {
    public let bytes: Int
    public let ranks: Int
    public let iterations: Int
    /// Seconds per all-reduce (slowest rank).
    public let seconds: Double
    public var gbytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e9 : .infinity }

    /// One JSON line in the C bench's format, with bench = "swift_allreduce".
    public var jsonLine: String {
        "{\"bench\":\"swift_allreduce\",\"bytes\":\(bytes),\"ranks\":\(ranks),\"iterations\":\(iterations),"
            + "\"seconds\":\(seconds),\"gbytes_per_s\":\(gbytesPerSecond)}"
    }
}

/// Times all-reduces of a `bytes`-byte Float buffer; collective (every rank calls it
/// with the same arguments). Returns the same result on every rank.
public func allReduceBenchmark(comm: Communicator, bytes: Int, iterations: Int,
                               blocking: Bool = true) throws -> AllReduceBenchResult {
    let count = max(1, bytes / MemoryLayout<Float>.stride)
    let iters = max(1, iterations)
    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    buffer.initialize(repeating: Float(comm.rank + 1) * 1e-3)
    let seconds = try timeCollective(comm: comm, iterations: iters) {
        if blocking {
            try comm.allReduce(buffer, op: .sum)
        } else {
            try comm.startAllReduce(buffer).wait()
        }
    }
    return AllReduceBenchResult(bytes: count * MemoryLayout<Float>.stride, ranks: comm.size,
                                iterations: iters, seconds: seconds)
}

/// Seconds per call of the collective `body`, the slowest rank's: 3 warm-up calls,
/// a barrier, then `iterations` timed calls. Every rank calls it alike.
public func timeCollective(comm: Communicator, iterations: Int, _ body: () throws -> Void) throws -> Double {
    for _ in 0..<3 { try body() }
    try comm.barrier()
    let iters = max(1, iterations)
    let t0 = monotonicSeconds()
    for _ in 0..<iters { try body() }
    return try comm.allReduce(monotonicSeconds() - t0, op: .max) / Double(iters)
}

/// GB/s of in-place Float sum all-reduces of `bytes` bytes (bytes / time per all-reduce).
public func allReduceBandwidth(comm: Communicator, bytes: Int, iterations: Int) throws -> Double {
    try allReduceBenchmark(comm: comm, bytes: bytes, iterations: iterations).gbytesPerSecond
}

/// The C bench's default sweep: 4 KiB ... 16 MiB in powers of 4, ~256 MiB of traffic
/// per size (5...1000 iterations). Returns one result per size.
public func allReduceBandwidthSweep(comm: Communicator, minBytes: Int = 4096,
                                    maxBytes: Int = 16 << 20) throws -> [AllReduceBenchResult] {
    var results: [AllReduceBenchResult] = []
    var bytes = max(4, minBytes)
    while bytes <= maxBytes {
        let iters = min(1000, max(5, (256 << 20) / bytes))
        results.append(try allReduceBenchmark(comm: comm, bytes: bytes, iterations: iters))
        bytes *= 4
    }
    return results
}
