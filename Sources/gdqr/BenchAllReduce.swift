// `gdqr bench allreduce` (under mpirun): the trainer's gradient averaging of a real
// model's gradient arena (GradientSync: buckets, non-blocking all-reduces, the
// division by the world size) beside one plain blocking all-reduce of the same
// bytes, timed the same way in the same process. Cluster/bench-scaling.sh adds the
// raw C MPI_Allreduce of the same size and prints the ratios.

import ArgumentParser
import Distributed
import Layers
import Trainer
import ModelTools

struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Gradient all-reduce bandwidth of the trainer against a plain MPI_Allreduce (run under mpirun).")

    @OptionGroup var o: ModelBenchOptions

    @Option(name: .customLong("bucket-mb"), help: "Gradient bucket size in MiB (the config's sync.bucket_mb).")
    var bucketMB: Double = 4

    @Option(help: "Timed gradient averages per measurement.")
    var iterations: Int = 200

    func run() throws {
        let comm = try CommunicatorFactory.make()
        runOrAbort(comm) {
            let net = Network(try o.bench().spec, maxBatch: 1, threads: 1, seed: 1)
            let bucketBytes = max(4, Int(bucketMB * 1_048_576))
            let ours = try gradientSyncBenchmark(comm: comm, arena: net.arena, bucketBytes: bucketBytes,
                                                 iterations: iterations)
            let plain = try allReduceBenchmark(comm: comm, bytes: ours.bytes, iterations: iterations)
            guard comm.rank == 0 else { return }
            if o.json {
                print(ours.jsonLine)
                print(plain.jsonLine)
            } else {
                print(String(format: "%@: %d gradient bytes in %d buckets, %d ranks", o.model, ours.bytes, ours.buckets, comm.size))
                print(String(format: "trainer gradient sync  %.3f GB/s  (%.3f ms per step)", ours.gbytesPerSecond, ours.seconds * 1e3))
                print(String(format: "one MPI_Allreduce      %.3f GB/s  (%.3f ms)  trainer/plain %.2fx",
                             plain.gbytesPerSecond, plain.seconds * 1e3, ours.gbytesPerSecond / plain.gbytesPerSecond))
            }
        }
        try comm.finalize()
    }
}
