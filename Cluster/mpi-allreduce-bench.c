/* Raw MPI_Allreduce bandwidth: the reference the Swift communicator is compared with.
 *
 * For each message size (4 KiB ... 16 MiB by default, powers of 4), all ranks run a few
 * warm-up all-reduces (MPI_SUM over MPI_FLOAT, in place), then `iters` timed ones between
 * barriers; the slowest rank's time counts. Rank 0 prints one JSON line per size:
 *   {"bench":"mpi_allreduce","bytes":B,"ranks":N,"iterations":I,"seconds":S,"gbytes_per_s":G}
 * where seconds is the time per all-reduce and gbytes_per_s = bytes / seconds / 1e9
 * (the buffer size over the time: the same definition as Distributed.allReduceBandwidth).
 *
 * Usage: mpi-allreduce-bench [min_bytes [max_bytes [iters]]]
 * Build and run: Cluster/bench-mpi-allreduce.sh N
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long minBytes = argc > 1 ? atol(argv[1]) : 4096;
    long maxBytes = argc > 2 ? atol(argv[2]) : 16L << 20;
    int fixedIters = argc > 3 ? atoi(argv[3]) : 0;
    if (minBytes < 4) minBytes = 4;

    float *buf = malloc((size_t)maxBytes);
    if (!buf) { fprintf(stderr, "[rank %d] out of memory\n", rank); MPI_Abort(MPI_COMM_WORLD, 1); }

    for (long bytes = minBytes; bytes <= maxBytes; bytes *= 4) {
        int count = (int)(bytes / sizeof(float));
        for (int i = 0; i < count; i++) buf[i] = (float)(rank + 1) * 1e-3f;
        /* About 256 MiB of traffic per size, at least 5 and at most 1000 iterations. */
        int iters = fixedIters > 0 ? fixedIters : (int)((256L << 20) / bytes);
        if (iters < 5) iters = 5;
        if (iters > 1000) iters = 1000;
        for (int w = 0; w < 3; w++)
            MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int it = 0; it < iters; it++)
            MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double local = MPI_Wtime() - t0, slowest = 0;
        MPI_Reduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            double per = slowest / iters;
            printf("{\"bench\":\"mpi_allreduce\",\"bytes\":%ld,\"ranks\":%d,\"iterations\":%d,"
                   "\"seconds\":%.9f,\"gbytes_per_s\":%.6f}\n",
                   bytes, size, iters, per, (double)bytes / per / 1e9);
            fflush(stdout);
        }
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
