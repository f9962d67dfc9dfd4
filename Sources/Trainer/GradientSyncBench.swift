// The trainer's all-reduce bandwidth: the gradient arena of a real model reduced
// by GradientSync exactly as a training step does it (buckets cut on parameter
// boundaries, the reductions not started during backward done in finish), with
// no compute between, so the time is communication alone. Same definition as
// Distributed.allReduceBenchmark and Cluster/mpi-allreduce-bench.c: bytes / (slowest rank's time per step), so the
// two can be put side by side as "trainer / raw MPI_Allreduce".

import Distributed
import Layers

public struct GradientSyncBenchResult: Sendable {
    public let bytes: Int
    public let buckets: Int
    public let ranks: Int
    public let iterations: Int
    /// Seconds per gradient average (slowest rank).
    public let seconds: Double
    public var gbytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e9 : .infinity }

    public var jsonLine: String {
        "{\"bench\":\"trainer_gradient_sync\",\"bytes\":\(bytes),\"buckets\":\(buckets),\"ranks\":\(ranks),"
            + "\"iterations\":\(iterations),\"seconds\":\(seconds),\"gbytes_per_s\":\(gbytesPerSecond)}"
    }
}

/// Collective: every rank calls it with the same arguments.
public func gradientSyncBenchmark(comm: Communicator, arena: ParameterArena, bucketBytes: Int,
                                  iterations: Int) throws -> GradientSyncBenchResult {
    let sync = GradientSync(comm: comm, arena: arena, bucketBytes: bucketBytes)
    let g = arena.grads
    for i in 0..<arena.parameterCount { g[i] = Float(comm.rank + 1) * 1e-3 }
    let iters = max(1, iterations)
    let seconds = try timeCollective(comm: comm, iterations: iters) {
        sync.beginStep()
        sync.ready(from: 0)
        try sync.finish()
    }
    return GradientSyncBenchResult(bytes: arena.parameterCount * MemoryLayout<Float>.stride,
                                   buckets: sync.buckets.count, ranks: comm.size,
                                   iterations: iters, seconds: seconds)
}
