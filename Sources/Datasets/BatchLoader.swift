import Foundation
import TensorEngine

/// One batch: views of preallocated buffers, valid until the next call to the
/// loader that produced it (`next()` or `startEpoch`).
public struct Batch {
    /// Normalised (and, for training, augmented) images [B, C, H, W].
    public let images: Tensor
    /// Labels [B].
    public let labels: UnsafeBufferPointer<Int32>
    /// Number of examples (equals images.shape[0]).
    public let count: Int
    public let epoch: Int
    /// Step within the epoch (training) or batch number within the shard (eval).
    public let step: Int
    /// Global sample indices of the examples, in batch order.
    public let indices: [Int]
    /// Per-sample targets of a streamed annotated set (segmentation masks, S x S bytes each), else nil.
    public var targets: UnsafePointer<UInt8>? = nil
}

/// Fills batch buffers from a dataset: a pure function of (epoch, step) given
/// the configuration, used by the prefetching loader and directly by tests.
public struct BatchFiller: @unchecked Sendable {
    public let dataset: ImageDataset
    public let sampler: Sampler
    public let augmentation: Augmentation
    public let normalization: Normalization
    let luts: [Float]

    public init(dataset: ImageDataset, sampler: Sampler, augmentation: Augmentation, normalization: Normalization) throws {
        try normalization.validate(channels: dataset.channels)
        guard augmentation.cropPadding >= 0 else {
            throw DataError(message: "augmentation crop padding \(augmentation.cropPadding), expected >= 0")
        }
        self.dataset = dataset
        self.sampler = sampler
        self.augmentation = augmentation
        self.normalization = normalization
        self.luts = normalization.lookupTables(channels: dataset.channels).flatMap { $0 }
    }

    /// Renders the samples `indices` (augmented with the choices for `epoch` when
    /// `augment`) into `images` / `labels`.
    public func fill(indices: [Int], epoch: Int, augment: Bool,
                     images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) {
        let d = dataset
        let per = d.sampleBytes
        let useAug = augment && !augmentation.isIdentity
        d.pixels.withUnsafeBufferPointer { px in
            luts.withUnsafeBufferPointer { lut in
                for (b, idx) in indices.enumerated() {
                    let choice = useAug ? augmentation.choice(seed: sampler.seed, epoch: epoch, index: idx) : nil
                    renderSample(px.baseAddress! + idx * per, channels: d.channels, height: d.height,
                                 width: d.width, luts: lut.baseAddress!, padding: augmentation.cropPadding,
                                 choice: choice, into: images + b * per)
                    labels[b] = d.labels[idx]
                }
            }
        }
    }
}

/// Training batches for one rank, prefetched one batch ahead on a background
/// thread into two preallocated buffers. Content depends only on (seed, epoch,
/// step, rank, world size), never on timing.
public final class BatchLoader {
    public let filler: BatchFiller
    public var sampler: Sampler { filler.sampler }
    public var dataset: ImageDataset { filler.dataset }
    public var stepsPerEpoch: Int { sampler.stepsPerEpoch }
    public var localBatchSize: Int { sampler.localBatchSize }
    public var globalBatchSize: Int { sampler.globalBatchSize }
    public let augment: Bool

    private let state: LoaderState

    /// - Parameters:
    ///   - globalBatchSize: the batch over all ranks (must be divisible by worldSize);
    ///     each rank gets globalBatchSize / worldSize examples per step.
    ///   - augment: whether to apply `augmentation` (training) or not.
    public init(dataset: ImageDataset, globalBatchSize: Int, rank: Int = 0, worldSize: Int = 1,
                seed: UInt64, augmentation: Augmentation = .none, augment: Bool = true,
                normalization: Normalization = .fashionMNIST, shuffle: Bool = true) throws {
        let sampler = try Sampler(count: dataset.count, globalBatchSize: globalBatchSize,
                                  rank: rank, worldSize: worldSize, seed: seed, shuffle: shuffle)
        self.filler = try BatchFiller(dataset: dataset, sampler: sampler,
                                      augmentation: augmentation, normalization: normalization)
        self.augment = augment
        self.state = LoaderState(filler: filler, augment: augment)
        let st = state
        let thread = Thread { st.run() }
        thread.name = "gdqr-batch-loader"
        thread.start()
    }

    deinit { state.shutdown() }

    /// Starts (or restarts) serving `epoch` from step `fromStep` (a resumed run
    /// continues mid-epoch). Invalidates any batch previously returned.
    public func startEpoch(_ epoch: Int, fromStep: Int = 0) {
        precondition(fromStep >= 0 && fromStep <= stepsPerEpoch, "startEpoch: step \(fromStep) out of 0...\(stepsPerEpoch)")
        state.start(epoch: epoch, fromStep: fromStep)
    }

    /// The next batch of the epoch, or nil when the epoch is done (or not started).
    public func next() -> Batch? { state.next() }
}

/// The state shared between the consumer and the loader thread, guarded by `cond`.
final class LoaderState: @unchecked Sendable {
    let filler: BatchFiller
    let augment: Bool
    let cond = NSCondition()
    let images: [Tensor]
    let labels: [UnsafeMutablePointer<Int32>]
    var slotIndices: [[Int]] = [[], []]

    var generation = 0
    var epoch = 0
    var endStep = 0
    var produceStep = 0  // steps < produceStep of this generation are filled
    var consumeStep = 0  // next step next() returns
    var held: Int? = nil // step whose slot the consumer holds
    var stopping = false
    var threadDone = false
    var permEpoch: Int? = nil
    var perm: [Int] = []

    init(filler: BatchFiller, augment: Bool) {
        self.filler = filler
        self.augment = augment
        let d = filler.dataset, b = filler.sampler.localBatchSize
        images = (0..<2).map { _ in Tensor(shape: [b, d.channels, d.height, d.width]) }
        labels = (0..<2).map { _ in
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: max(b, 1))
            p.initialize(repeating: 0, count: max(b, 1))
            return p
        }
    }

    deinit { labels.forEach { $0.deallocate() } }

    func start(epoch: Int, fromStep: Int) {
        cond.lock()
        generation += 1
        self.epoch = epoch
        endStep = filler.sampler.stepsPerEpoch
        produceStep = fromStep
        consumeStep = fromStep
        held = nil
        cond.broadcast()
        cond.unlock()
    }

    func shutdown() {
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
    }

    private func canFill() -> Bool {
        produceStep < endStep && produceStep < (held.map { $0 + 2 } ?? consumeStep + 2)
    }

    func run() {
        cond.lock()
        while true {
            while !stopping && !canFill() { cond.wait() }
            if stopping { break }
            let (g, e, s) = (generation, epoch, produceStep)
            cond.unlock()
            // Fill outside the lock; only this thread writes the slot and the
            // consumer cannot read it until produceStep passes s in generation g.
            if permEpoch != e {
                perm = filler.sampler.permutation(epoch: e)
                permEpoch = e
            }
            let idx = filler.sampler.indices(step: s, permutation: perm)
            let slot = s & 1
            filler.fill(indices: idx, epoch: e, augment: augment,
                        images: images[slot].data, labels: labels[slot])
            cond.lock()
            if g == generation && produceStep == s {
                slotIndices[slot] = idx
                produceStep = s + 1
                cond.broadcast()
            }
        }
        threadDone = true
        cond.unlock()
    }

    func next() -> Batch? {
        cond.lock()
        defer { cond.unlock() }
        held = nil
        cond.broadcast()
        guard consumeStep < endStep else { return nil }
        let g = generation
        while produceStep <= consumeStep && g == generation { cond.wait() }
        let s = consumeStep
        held = s
        consumeStep += 1
        let slot = s & 1
        return Batch(images: images[slot], labels: UnsafeBufferPointer(start: labels[slot], count: filler.sampler.localBatchSize),
                     count: filler.sampler.localBatchSize, epoch: epoch, step: s, indices: slotIndices[slot])
    }
}

/// Evaluation batches over this rank's contiguous shard of a split, in order,
/// without augmentation; the last batch may be smaller. Filled synchronously
/// into one preallocated buffer.
public final class EvalBatches: Sequence, IteratorProtocol {
    public let dataset: ImageDataset
    public let batchSize: Int
    public let shard: Range<Int>
    private let filler: BatchFiller
    private let imageBuffer: Tensor
    private let labelBuffer: UnsafeMutablePointer<Int32>
    private var position: Int
    private var step = 0

    public init(dataset: ImageDataset, batchSize: Int, rank: Int = 0, worldSize: Int = 1,
                normalization: Normalization = .fashionMNIST) throws {
        guard batchSize > 0 else { throw DataError(message: "eval batch size \(batchSize), expected a positive value") }
        guard worldSize > 0, rank >= 0, rank < worldSize else {
            throw DataError(message: "eval: rank \(rank) is not in 0..<\(worldSize) (world size)")
        }
        self.dataset = dataset
        self.batchSize = batchSize
        self.shard = Sampler.evalShard(count: dataset.count, rank: rank, worldSize: worldSize)
        let sampler = try Sampler(count: Swift.max(dataset.count, 1), globalBatchSize: 1, seed: 0, shuffle: false)
        self.filler = try BatchFiller(dataset: dataset, sampler: sampler, augmentation: .none, normalization: normalization)
        self.imageBuffer = Tensor(shape: [batchSize, dataset.channels, dataset.height, dataset.width])
        self.labelBuffer = .allocate(capacity: batchSize)
        self.labelBuffer.initialize(repeating: 0, count: batchSize)
        self.position = shard.lowerBound
    }

    deinit { labelBuffer.deallocate() }

    /// Number of batches in this rank's shard.
    public var batchCount: Int { (shard.count + batchSize - 1) / batchSize }

    /// Rewinds to the start of the shard.
    public func reset() { position = shard.lowerBound; step = 0 }

    /// The next batch (valid until the next call), or nil at the end of the shard.
    public func next() -> Batch? {
        guard position < shard.upperBound else { return nil }
        let n = Swift.min(batchSize, shard.upperBound - position)
        let idx = Array(position..<(position + n))
        filler.fill(indices: idx, epoch: 0, augment: false, images: imageBuffer.data, labels: labelBuffer)
        let d = dataset
        let images = n == batchSize ? imageBuffer
            : Tensor(viewing: imageBuffer.data, shape: [n, d.channels, d.height, d.width], owner: imageBuffer)
        let b = Batch(images: images, labels: UnsafeBufferPointer(start: labelBuffer, count: n), count: n,
                      epoch: 0, step: step, indices: idx)
        position += n
        step += 1
        return b
    }
}
