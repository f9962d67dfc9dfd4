// Data-parallel gradient averaging, overlapped with backward.
//
// The gradient arena is cut into contiguous buckets of about `bucketBytes`, on
// parameter boundaries, from the END (the last layers' gradients, which backward
// finishes first). When backward reports that everything from some offset on is
// final, each bucket lying wholly past it starts a non-blocking all-reduce and
// in-flight ones are given a chance to progress; `finish` reduces the rest and
// waits (the loss gradient was scaled by 1/ranks, so the sums are means). The
// time spent in `finish` (and in starting) is the exposed, not overlapped,
// communication.

import Foundation
import Layers
import TensorEngine
import Distributed

final class GradientSync {
    let comm: Communicator
    let arena: ParameterArena
    /// Bucket ranges in the order they become ready (highest offsets first).
    let buckets: [Range<Int>]
    private var handles: [AllReduceHandle?]
    private var next = 0
    /// Seconds this step spent blocked in communication.
    private(set) var exposedSeconds = 0.0

    init(comm: Communicator, arena: ParameterArena, bucketBytes: Int) {
        self.comm = comm
        self.arena = arena
        let limit = max(bucketBytes / 4, 1)
        var buckets: [Range<Int>] = []
        var hi = arena.parameterCount
        var lo = hi
        for e in arena.params.reversed() {
            lo = e.offset
            if hi - lo >= limit { buckets.append(lo..<hi); hi = lo }
        }
        if hi > 0 { buckets.append(0..<hi) }
        self.buckets = buckets
        handles = Array(repeating: nil, count: buckets.count)
    }

    func beginStep() {
        next = 0
        exposedSeconds = 0
        for i in handles.indices { handles[i] = nil }
    }

    /// The first error met while backward was running; `finish` throws it.
    private var pendingError: Error?

    /// Gradients from `offset` to the end are final. Called from inside backward,
    /// which cannot throw: an error is kept for `finish`.
    func ready(from offset: Int) {
        // At offset 0 backward is over: nothing is left to overlap, so what is not
        // started yet waits for finish's blocking all-reduces.
        guard pendingError == nil, offset > 0 else { return }
        let t0 = now()
        do {
            while next < buckets.count && buckets[next].lowerBound >= offset { try start(next); next += 1 }
            for h in handles { if let h, !h.isComplete { _ = try h.test() } }
        } catch {
            pendingError = error
        }
        exposedSeconds += now() - t0
    }

    private func start(_ i: Int) throws {
        let r = buckets[i]
        handles[i] = try comm.startAllReduce(UnsafeMutableBufferPointer(start: arena.grads + r.lowerBound, count: r.count))
    }

    /// Waits for the started buckets and reduces the rest. The sums are the means:
    /// backward scaled the loss gradient by 1/ranks (Network.backward's gradientScale).
    /// Buckets not started during backward have nothing left to overlap with, so
    /// they take the blocking MPI_Allreduce: Open MPI runs non-blocking collectives
    /// through libnbc, measured 2.6x slower for a 1 MB buffer on 2 ranks here
    /// (Cluster/bench-scaling.sh). Every rank issues the same collectives in the
    /// same order, as MPI requires.
    func finish() throws {
        if let e = pendingError { pendingError = nil; throw e }
        let t0 = now()
        while next < buckets.count {
            let r = buckets[next]
            try comm.allReduce(UnsafeMutableBufferPointer(start: arena.grads + r.lowerBound, count: r.count), op: .sum)
            next += 1
        }
        for h in handles { try h?.wait() }
        exposedSeconds += now() - t0
    }
}

/// Cross-rank consistency: a checksum of every parameter tensor, compared across
/// ranks; a mismatch names the first tensor that differs.
enum ParameterChecksum {
    static func perTensor(_ arena: ParameterArena) -> [Int64] {
        arena.params.map { e in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            let words = UnsafeRawPointer(arena.values + e.offset).assumingMemoryBound(to: UInt32.self)
            for i in 0..<e.count { h = (h ^ UInt64(words[i])) &* 0x0000_0100_0000_01b3 }
            return Int64(bitPattern: h)
        }
    }

    static func verify(_ arena: ParameterArena, comm: Communicator, step: Int) throws {
        let mine = perTensor(arena)
        var lo = mine, hi = mine
        try lo.withUnsafeMutableBufferPointer { try comm.allReduce($0, op: .min) }
        try hi.withUnsafeMutableBufferPointer { try comm.allReduce($0, op: .max) }
        if let i = mine.indices.first(where: { lo[$0] != hi[$0] }) {
            throw TrainerError("parameters differ across ranks at step \(step): first differing tensor is "
                + "'\(arena.params[i].name)' (rank \(comm.rank) checksum \(String(UInt64(bitPattern: mine[i]), radix: 16)))")
        }
    }
}
