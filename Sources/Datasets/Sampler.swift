import TensorEngine

/// The epoch order of a training split, independent of the number of ranks.
///
/// One global permutation per epoch, drawn from (seed, epoch). With global batch
/// GB there are S = ceil(N / GB) steps; the permutation is extended by wrapping
/// around to S*GB entries (the tail repeats the first examples, as PyTorch's
/// DistributedSampler pads). Global step s covers entries [s*GB, (s+1)*GB); rank
/// r of W reads the contiguous slice [s*GB + r*B, s*GB + (r+1)*B), B = GB / W.
/// The union of the ranks' slices is therefore the same global batch for any W.
public struct Sampler: Sendable {
    public let count: Int
    public let globalBatchSize: Int
    public let worldSize: Int
    public let rank: Int
    public let seed: UInt64
    public let shuffle: Bool

    public var localBatchSize: Int { globalBatchSize / worldSize }
    public var stepsPerEpoch: Int { (count + globalBatchSize - 1) / globalBatchSize }

    static let stream: UInt64 = 0x5341_4D50_4C45_5221 // "SAMPLER!"

    public init(count: Int, globalBatchSize: Int, rank: Int = 0, worldSize: Int = 1,
                seed: UInt64, shuffle: Bool = true) throws {
        guard count > 0 else { throw DataError(message: "sampler: the dataset is empty, expected at least one example") }
        guard worldSize > 0, rank >= 0, rank < worldSize else {
            throw DataError(message: "sampler: rank \(rank) is not in 0..<\(worldSize) (world size)")
        }
        guard globalBatchSize > 0 else {
            throw DataError(message: "sampler: global batch size \(globalBatchSize), expected a positive value")
        }
        guard globalBatchSize % worldSize == 0 else {
            throw DataError(message: "sampler: global batch size \(globalBatchSize) is not divisible by the world size \(worldSize)")
        }
        self.count = count
        self.globalBatchSize = globalBatchSize
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
    }

    /// The permutation of 0..<count for `epoch` (identity without shuffle).
    public func permutation(epoch: Int) -> [Int] {
        if !shuffle { return Array(0..<count) }
        var rng = CounterRNG(seed: seed, stream: CounterRNG.mix(Sampler.stream ^ UInt64(truncatingIfNeeded: epoch)))
        return rng.permutation(count)
    }

    /// The whole padded epoch order: S*GB global sample indices.
    public func globalOrder(epoch: Int) -> [Int] {
        let perm = permutation(epoch: epoch)
        return (0..<(stepsPerEpoch * globalBatchSize)).map { perm[$0 % count] }
    }

    /// Sample indices of the full global batch at `step`, given the epoch's permutation.
    public func globalBatch(step: Int, permutation perm: [Int]) -> [Int] {
        precondition(step >= 0 && step < stepsPerEpoch, "sampler: step \(step) out of 0..<\(stepsPerEpoch)")
        let base = step * globalBatchSize
        return (0..<globalBatchSize).map { perm[(base + $0) % count] }
    }

    /// This rank's sample indices at `step`, given the epoch's permutation.
    public func indices(step: Int, permutation perm: [Int]) -> [Int] {
        precondition(step >= 0 && step < stepsPerEpoch, "sampler: step \(step) out of 0..<\(stepsPerEpoch)")
        let base = step * globalBatchSize + rank * localBatchSize
        return (0..<localBatchSize).map { perm[(base + $0) % count] }
    }

    /// This rank's sample indices at `step` of `epoch` (recomputes the permutation).
    public func indices(epoch: Int, step: Int) -> [Int] {
        indices(step: step, permutation: permutation(epoch: epoch))
    }

    /// Evaluation sharding: rank r's contiguous, exact slice of 0..<count in
    /// order (no padding; shard sizes differ by at most one). The caller
    /// all-reduces the counts.
    public static func evalShard(count: Int, rank: Int, worldSize: Int) -> Range<Int> {
        precondition(worldSize > 0 && rank >= 0 && rank < worldSize, "evalShard: rank \(rank) of \(worldSize)")
        let base = count / worldSize, rem = count % worldSize
        let start = rank * base + min(rank, rem)
        return start..<(start + base + (rank < rem ? 1 : 0))
    }
}
