// Batches decoded from files while the model trains: `workers` threads fill a ring
// of `prefetch` preallocated batch slots, sample by sample, ahead of the consumer.
// Memory is the slots plus each worker's scratch, whatever the data set's size; only
// this rank's samples of each step (Sampler.indices) or of its eval shard are read.
// A sample's floats are a pure function of (seed, epoch, index) and land at a fixed
// position of its slot, so the batches are the same bits for any worker count.

import Foundation
import TensorEngine

/// Training batches of one rank: BatchLoader (in memory) and StreamingLoader (files).
public protocol TrainBatchSource: AnyObject {
    var stepsPerEpoch: Int { get }
    func startEpoch(_ epoch: Int, fromStep: Int)
    /// The next batch (valid until the next call), nil at the end of the epoch.
    func next() throws -> Batch?
}

/// This rank's evaluation batches, in order: EvalBatches and StreamingEvalBatches.
public protocol EvalBatchSource: AnyObject {
    func reset()
    func next() throws -> Batch?
}

extension BatchLoader: TrainBatchSource {}
extension EvalBatches: EvalBatchSource {}

/// The worker pool and slot ring shared by the training and evaluation loaders.
final class PrefetchRing: @unchecked Sendable {
    let source: StreamedSource
    let slots: Int
    let capacity: Int
    let images: [Tensor]
    let labels: [UnsafeMutablePointer<Int32>]
    /// Per-slot targets (masks), source.targetBytes per sample; nil when the source has none.
    let targets: [UnsafeMutablePointer<UInt8>]?
    let cond = NSCondition()
    /// Samples a worker claims at a time (fewer lock round trips for small images).
    let chunk = 4

    // Guarded by `cond`.
    var generation = 0
    var epoch = 0
    var augment = false
    var endStep = 0
    var consumeStep = 0
    var held: Int? = nil
    var claimStep = 0
    var claimPos = 0
    var slotIndices: [[Int]]
    var slotStep: [Int]
    var remaining: [Int]
    var slotError: [(position: Int, error: Error)?]
    var inFlight = 0
    var stopping = false
    var indicesOf: (Int) -> [Int] = { _ in [] }

    init(source: StreamedSource, capacity: Int, slots: Int, workers: Int) {
        self.source = source
        self.slots = slots
        self.capacity = capacity
        images = (0..<slots).map { _ in Tensor(shape: [capacity, source.channels, source.imageSize, source.imageSize]) }
        let tb = source.targetBytes
        targets = tb == 0 ? nil : (0..<slots).map { _ in
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(capacity, 1) * tb)
            p.initialize(repeating: 0, count: max(capacity, 1) * tb)
            return p
        }
        labels = (0..<slots).map { _ in
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: max(capacity, 1))
            p.initialize(repeating: 0, count: max(capacity, 1))
            return p
        }
        slotIndices = Array(repeating: [], count: slots)
        slotStep = Array(repeating: -1, count: slots)
        remaining = Array(repeating: 0, count: slots)
        slotError = Array(repeating: nil, count: slots)
        for w in 0..<workers {
            let t = Thread { [self] in work() }
            t.name = "gdqr-decode-\(w)"
            t.start()
        }
    }

    deinit {
        labels.forEach { $0.deallocate() }
        targets?.forEach { $0.deallocate() }
    }

    /// Serves steps fromStep..<steps of a schedule; waits for samples in flight of the
    /// previous one (they write into the slots being reused).
    func start(epoch: Int, augment: Bool, fromStep: Int, steps: Int, indices: @escaping (Int) -> [Int]) {
        cond.lock()
        generation += 1
        endStep = 0   // no new claims while the old ones finish
        while inFlight > 0 { cond.wait() }
        self.epoch = epoch
        self.augment = augment
        endStep = steps
        consumeStep = fromStep
        claimStep = fromStep
        claimPos = 0
        held = nil
        indicesOf = indices
        for i in 0..<slots { slotStep[i] = -1; remaining[i] = 0; slotError[i] = nil }
        cond.broadcast()
        cond.unlock()
    }

    func shutdown() {
        cond.lock()
        stopping = true
        generation += 1
        cond.broadcast()
        cond.unlock()
    }

    /// Called with the lock held: may a worker start on step `claimStep`?
    private func claimable() -> Bool {
        claimStep < endStep && claimStep < (held ?? consumeStep) + slots
    }

    private func work() {
        var scratch = ImageFolderSource.Scratch()
        cond.lock()
        while true {
            while !stopping && !claimable() { cond.wait() }
            if stopping { break }
            let step = claimStep, slot = step % slots
            if claimPos == 0 {
                slotIndices[slot] = indicesOf(step)
                slotStep[slot] = step
                remaining[slot] = slotIndices[slot].count
                slotError[slot] = nil
            }
            let idx = slotIndices[slot]
            let lo = claimPos, hi = min(lo + chunk, idx.count)
            claimPos = hi
            if hi == idx.count { claimStep += 1; claimPos = 0 }
            let (g, e, aug) = (generation, epoch, augment)
            inFlight += 1
            cond.unlock()
            // Outside the lock: this worker alone writes positions lo..<hi of the slot,
            // which the consumer cannot read before `remaining` reaches 0.
            var failure: (Int, Error)?
            let per = source.channels * source.imageSize * source.imageSize, tb = source.targetBytes
            for p in lo..<hi {
                do {
                    labels[slot][p] = try source.render(idx[p], epoch: e, augment: aug, scratch: &scratch,
                                                        into: images[slot].data + p * per,
                                                        target: targets.map { $0[slot] + p * tb })
                } catch {
                    if failure == nil { failure = (p, error) }
                }
            }
            cond.lock()
            inFlight -= 1
            if g == generation {
                // The first failure by batch position, whichever worker met it first.
                if let f = failure, slotError[slot].map({ f.0 < $0.position }) ?? true { slotError[slot] = f }
                remaining[slot] -= hi - lo
            }
            cond.broadcast()
        }
        cond.unlock()
    }

    /// The next step's batch once all its samples are in; throws the batch's first error.
    func next(batchEpoch: Int) throws -> Batch? {
        cond.lock()
        defer { cond.unlock() }
        held = nil
        cond.broadcast()
        guard consumeStep < endStep else { return nil }
        let s = consumeStep, slot = s % slots
        while !(slotStep[slot] == s && remaining[slot] == 0) && !stopping { cond.wait() }
        if let f = slotError[slot] {
            endStep = consumeStep   // the epoch stops here
            throw f.error
        }
        held = s
        consumeStep += 1
        let n = slotIndices[slot].count, sh = images[slot].shape
        let view = n == capacity ? images[slot]
            : Tensor(viewing: images[slot].data, shape: [n, sh[1], sh[2], sh[3]], owner: images[slot])
        return Batch(images: view, labels: UnsafeBufferPointer(start: labels[slot], count: n), count: n,
                     epoch: batchEpoch, step: s, indices: slotIndices[slot],
                     targets: targets.map { UnsafePointer($0[slot]) })
    }
}

/// Training batches of one rank, decoded from an image folder on worker threads.
public final class StreamingLoader: TrainBatchSource {
    public let source: StreamedSource
    public let sampler: Sampler
    public let augment: Bool
    private let ring: PrefetchRing
    private var epoch = 0
    public var stepsPerEpoch: Int { sampler.stepsPerEpoch }

    /// - Parameters:
    ///   - workers: decoding threads (>= 1); prefetch: batches decoded ahead (>= 1).
    public init(source: StreamedSource, seed: UInt64, globalBatchSize: Int, rank: Int = 0, worldSize: Int = 1,
                augment: Bool, shuffle: Bool = true, workers: Int, prefetch: Int) throws {
        guard workers >= 1, prefetch >= 1 else {
            throw DataError(message: "data workers \(workers) and prefetch batches \(prefetch), expected >= 1 each")
        }
        sampler = try Sampler(count: source.count, globalBatchSize: globalBatchSize, rank: rank, worldSize: worldSize,
                              seed: seed, shuffle: shuffle)
        self.source = source
        self.augment = augment
        // prefetch slots ahead of the one the consumer holds.
        ring = PrefetchRing(source: source, capacity: sampler.localBatchSize, slots: prefetch + 1, workers: workers)
    }

    /// An image folder with its own seed.
    public convenience init(source: ImageFolderSource, globalBatchSize: Int, rank: Int = 0, worldSize: Int = 1,
                            augment: Bool, shuffle: Bool = true, workers: Int, prefetch: Int) throws {
        try self.init(source: source as StreamedSource, seed: source.settings.seed, globalBatchSize: globalBatchSize,
                      rank: rank, worldSize: worldSize, augment: augment, shuffle: shuffle, workers: workers, prefetch: prefetch)
    }

    deinit { ring.shutdown() }

    public func startEpoch(_ epoch: Int, fromStep: Int = 0) {
        precondition(fromStep >= 0 && fromStep <= stepsPerEpoch, "startEpoch: step \(fromStep) out of 0...\(stepsPerEpoch)")
        self.epoch = epoch
        let perm = sampler.permutation(epoch: epoch), sampler = self.sampler
        ring.start(epoch: epoch, augment: augment, fromStep: fromStep, steps: sampler.stepsPerEpoch) {
            sampler.indices(step: $0, permutation: perm)
        }
    }

    public func next() throws -> Batch? { try ring.next(batchEpoch: epoch) }
}

/// Evaluation batches over this rank's contiguous shard of an image folder split, in
/// order, without augmentation; the last batch may be smaller.
public final class StreamingEvalBatches: EvalBatchSource {
    public let source: StreamedSource
    public let batchSize: Int
    public let shard: Range<Int>
    private let ring: PrefetchRing

    public init(source: StreamedSource, batchSize: Int, rank: Int = 0, worldSize: Int = 1,
                workers: Int, prefetch: Int) throws {
        guard batchSize > 0 else { throw DataError(message: "eval batch size \(batchSize), expected a positive value") }
        guard worldSize > 0, rank >= 0, rank < worldSize else {
            throw DataError(message: "eval: rank \(rank) is not in 0..<\(worldSize) (world size)")
        }
        guard workers >= 1, prefetch >= 1 else {
            throw DataError(message: "data workers \(workers) and prefetch batches \(prefetch), expected >= 1 each")
        }
        self.source = source
        self.batchSize = batchSize
        shard = Sampler.evalShard(count: source.count, rank: rank, worldSize: worldSize)
        ring = PrefetchRing(source: source, capacity: batchSize, slots: prefetch + 1, workers: workers)
        reset()
    }

    deinit { ring.shutdown() }

    public var batchCount: Int { (shard.count + batchSize - 1) / batchSize }

    public func reset() {
        let shard = self.shard, b = batchSize
        ring.start(epoch: 0, augment: false, fromStep: 0, steps: batchCount) { s in
            let lo = shard.lowerBound + s * b
            return Array(lo..<min(lo + b, shard.upperBound))
        }
    }

    public func next() throws -> Batch? { try ring.next(batchEpoch: 0) }
}

extension TrainBatchSource {
    /// Starts `epoch` from its first step.
    public func startEpoch(_ epoch: Int) { startEpoch(epoch, fromStep: 0) }
}
