// A persistent pool of worker threads for parallel outer loops.
//
// `run` hands every thread (the caller is thread 0) the same body with its thread
// index; `parallelFor` splits a range into one contiguous chunk per thread. The
// split depends only on the range and the thread count, so kernels that reduce
// per-chunk partial results in chunk order are bit-reproducible for a given
// thread count. Workers spin briefly for the next job (training dispatches
// hundreds of small regions per step) and then sleep on a condition variable,
// so an idle or oversubscribed pool does not burn a core. A pool lives for the
// whole process (its workers hold it), so make one per process, not per call.

import Atomics
#if canImport(Glibc)
import Glibc
#endif

public final class ThreadPool: @unchecked Sendable {
    public let threads: Int

    private let generation = ManagedAtomic<Int>(0)
    private let pending = ManagedAtomic<Int>(0)
    private let stopping = ManagedAtomic<Bool>(false)
    private var job: ((Int) -> Void)?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var workers: [pthread_t] = []
    /// Iterations a worker polls for new work before sleeping (~tens of microseconds).
    private let spinLimit = 20_000

    /// A pool of `threads` threads in all, the caller included (so `threads - 1` workers).
    public init(threads: Int) {
        precondition(threads >= 1, "ThreadPool: threads must be >= 1, got \(threads)")
        self.threads = threads
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for index in 1..<threads {
            let box = Unmanaged.passRetained(WorkerStart(pool: self, index: index))
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { arg in
                let start = Unmanaged<WorkerStart>.fromOpaque(arg!).takeRetainedValue()
                start.pool.workerLoop(index: start.index)
                return nil
            }, box.toOpaque())
            precondition(rc == 0, "ThreadPool: pthread_create failed with \(rc)")
            workers.append(thread)
        }
    }

    /// Parallel regions run so far (calls of `run` with more than one thread).
    /// Each one costs one small heap allocation: `withoutActuallyEscaping` boxes
    /// the closure it hands to the workers. TrainingStepAllocationTests checks
    /// that these boxes are all a multi-threaded training step allocates.
    public private(set) var regions = 0

    /// Runs `body(t)` for t in 0..<threads concurrently and returns when all are done.
    public func run(_ body: (Int) -> Void) {
        if threads == 1 { body(0); return }
        regions &+= 1
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            pending.store(threads - 1, ordering: .relaxed)
            pthread_mutex_lock(mutex)
            generation.wrappingIncrement(ordering: .releasing)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
            escapable(0)
            var spins = 0
            while pending.load(ordering: .acquiring) != 0 {
                spins += 1
                if spins > spinLimit { sched_yield() }
            }
            job = nil
        }
    }

    /// Splits 0..<count into `threads` contiguous chunks (fixed by count and thread
    /// count alone) and runs `body(chunk, threadIndex)` on each non-empty one.
    public func parallelFor(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        if threads == 1 || count <= 1 { if count > 0 { body(0..<count, 0) }; return }
        run { t in
            let r = ThreadPool.chunk(t, of: self.threads, count: count)
            if !r.isEmpty { body(r, t) }
        }
    }

    /// The t-th of `parts` contiguous, balanced chunks of 0..<count.
    public static func chunk(_ t: Int, of parts: Int, count: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let lo = t * base + min(t, extra)
        return lo..<(lo + base + (t < extra ? 1 : 0))
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen && spins < spinLimit {
                spins += 1
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                pthread_mutex_lock(mutex)
                while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                pthread_mutex_unlock(mutex)
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            job!(index)
            pending.wrappingDecrement(ordering: .releasing)
        }
    }
}

private final class WorkerStart {
    let pool: ThreadPool
    let index: Int
    init(pool: ThreadPool, index: Int) { self.pool = pool; self.index = index }
}
