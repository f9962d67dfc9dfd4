import Foundation
import TensorEngine
import XCTest
import Datasets

/// A synthetic dataset: n images C x H x W with pixel bytes derived from the index.
func syntheticDataset(_ n: Int, c: Int = 1, h: Int = 6, w: Int = 5, classes: Int = 10) throws -> ImageDataset {
    let per = c * h * w
    let pixels = (0..<(n * per)).map { UInt8(truncatingIfNeeded: ($0 / per) * 13 + ($0 % per) * 5 + 1) }
    let labels = (0..<n).map { Int32($0 % classes) }
    return try ImageDataset(pixels: pixels, labels: labels, channels: c, height: h, width: w, classes: classes)
}

/// Straightforward reference of crop-with-zero-padding then flip, in pixel space.
func referenceAugment(_ img: [UInt8], h: Int, w: Int, pad: Int, choice: Augmentation.Choice) -> [UInt8] {
    let ph = h + 2 * pad, pw = w + 2 * pad
    var padded = [UInt8](repeating: 0, count: ph * pw)
    for y in 0..<h { for x in 0..<w { padded[(y + pad) * pw + x + pad] = img[y * w + x] } }
    var out = [UInt8](repeating: 0, count: h * w)
    for y in 0..<h { for x in 0..<w { out[y * w + x] = padded[(y + choice.top) * pw + x + choice.left] } }
    if choice.flip {
        let c = out
        for y in 0..<h { for x in 0..<w { out[y * w + x] = c[y * w + (w - 1 - x)] } }
    }
    return out
}

final class SamplerTests: XCTestCase {
    func testEpochCoversEveryExampleOncePlusPaddedTail() throws {
        let n = 103, gb = 16
        let s = try Sampler(count: n, globalBatchSize: gb, seed: 7)
        XCTAssertEqual(s.stepsPerEpoch, 7)
        let order = s.globalOrder(epoch: 3)
        XCTAssertEqual(order.count, 7 * 16)
        XCTAssertEqual(Set(order[0..<n]).count, n)
        XCTAssertEqual(Array(order[0..<n]).sorted(), Array(0..<n))
        // the padded tail repeats the start of the permutation
        XCTAssertEqual(Array(order[n...]), Array(order[0..<(7 * 16 - n)]))
        // per-step global batches equal the order slices
        let perm = s.permutation(epoch: 3)
        for step in 0..<s.stepsPerEpoch {
            XCTAssertEqual(s.globalBatch(step: step, permutation: perm), Array(order[(step * gb)..<((step + 1) * gb)]))
        }
    }

    func testUnionOfRanksEqualsOneRankBatch() throws {
        let n = 250, gb = 32
        let one = try Sampler(count: n, globalBatchSize: gb, rank: 0, worldSize: 1, seed: 42)
        for world in [1, 2, 4] {
            let ranks = try (0..<world).map { try Sampler(count: n, globalBatchSize: gb, rank: $0, worldSize: world, seed: 42) }
            XCTAssertEqual(ranks[0].stepsPerEpoch, one.stepsPerEpoch)
            XCTAssertEqual(ranks[0].localBatchSize, gb / world)
            for epoch in 0..<2 {
                for step in 0..<one.stepsPerEpoch {
                    let joined = ranks.flatMap { $0.indices(epoch: epoch, step: step) }
                    XCTAssertEqual(joined, one.indices(epoch: epoch, step: step), "world \(world) epoch \(epoch) step \(step)")
                }
            }
        }
    }

    func testPermutationDependsOnEpochAndSeed() throws {
        let s = try Sampler(count: 1000, globalBatchSize: 10, seed: 1)
        XCTAssertNotEqual(s.permutation(epoch: 0), s.permutation(epoch: 1))
        XCTAssertEqual(s.permutation(epoch: 5), try Sampler(count: 1000, globalBatchSize: 10, seed: 1).permutation(epoch: 5))
        XCTAssertNotEqual(s.permutation(epoch: 0), try Sampler(count: 1000, globalBatchSize: 10, seed: 2).permutation(epoch: 0))
        XCTAssertEqual(try Sampler(count: 10, globalBatchSize: 4, seed: 1, shuffle: false).globalOrder(epoch: 3),
                       [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
    }

    func testSamplerErrors() {
        assertThrows(["global batch size 30 is not divisible by the world size 4"]) {
            _ = try Sampler(count: 100, globalBatchSize: 30, rank: 0, worldSize: 4, seed: 0)
        }
        assertThrows(["rank 4 is not in 0..<4"]) { _ = try Sampler(count: 100, globalBatchSize: 32, rank: 4, worldSize: 4, seed: 0) }
        assertThrows(["dataset is empty"]) { _ = try Sampler(count: 0, globalBatchSize: 32, seed: 0) }
    }

    func testEvalShards() {
        for (n, w) in [(10, 3), (10000, 16), (5, 8), (7, 1)] {
            let shards = (0..<w).map { Sampler.evalShard(count: n, rank: $0, worldSize: w) }
            XCTAssertEqual(shards.first!.lowerBound, 0)
            XCTAssertEqual(shards.last!.upperBound, n)
            for i in 1..<w { XCTAssertEqual(shards[i - 1].upperBound, shards[i].lowerBound) }
            let sizes = shards.map(\.count)
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1)
        }
    }
}

final class AugmentationTests: XCTestCase {
    func testChoiceIsPureFunctionOfSeedEpochIndex() {
        let a = Augmentation(cropPadding: 2, horizontalFlip: true)
        XCTAssertEqual(a.choice(seed: 9, epoch: 3, index: 77), a.choice(seed: 9, epoch: 3, index: 77))
        var distinct = Set<String>()
        var flips = 0
        for i in 0..<2000 {
            let c = a.choice(seed: 9, epoch: 3, index: i)
            XCTAssertTrue((0...4).contains(c.top) && (0...4).contains(c.left))
            distinct.insert("\(c.top),\(c.left),\(c.flip)")
            if c.flip { flips += 1 }
        }
        XCTAssertEqual(distinct.count, 50)
        XCTAssertEqual(Double(flips) / 2000, 0.5, accuracy: 0.05)
        let e0 = (0..<100).map { a.choice(seed: 9, epoch: 0, index: $0) }
        let e1 = (0..<100).map { a.choice(seed: 9, epoch: 1, index: $0) }
        XCTAssertNotEqual(e0, e1)
        XCTAssertFalse(Augmentation(cropPadding: 2).choice(seed: 1, epoch: 0, index: 3).flip)
    }

    func testCropAndFlipOnHandMadeImage() throws {
        // 1 image 3x4 with pixel values 10..21; identity normalisation gives p / 255.
        let pixels: [UInt8] = Array(10..<22)
        let d = try ImageDataset(pixels: pixels, labels: [0], channels: 1, height: 3, width: 4, classes: 1)
        let aug = Augmentation(cropPadding: 1, horizontalFlip: true)
        // Search seeds for specific choices and check the rendered output against hand-written expectations.
        func render(_ seed: UInt64) throws -> ([Float], Augmentation.Choice) {
            let s = try Sampler(count: 1, globalBatchSize: 1, seed: seed)
            let f = try BatchFiller(dataset: d, sampler: s, augmentation: aug, normalization: .identity)
            let img = Tensor(shape: [1, 1, 3, 4])
            var lab: Int32 = -1
            f.fill(indices: [0], epoch: 0, augment: true, images: img.data, labels: &lab)
            return (img.array.map { ($0 * 255).rounded() }, aug.choice(seed: seed, epoch: 0, index: 0))
        }
        var seen = Set<String>()
        for seed in UInt64(0)..<200 {
            let (out, c) = try render(seed)
            let key = "\(c.top),\(c.left),\(c.flip)"
            // general check against the padded reference
            XCTAssertEqual(out, referenceAugment(pixels, h: 3, w: 4, pad: 1, choice: c).map(Float.init), key)
            if seen.contains(key) { continue }
            seen.insert(key)
            // hand-written cases
            switch (c.top, c.left, c.flip) {
            case (1, 1, false): XCTAssertEqual(out, pixels.map(Float.init))                 // centre: identity
            case (0, 0, false): XCTAssertEqual(out, [0, 0, 0, 0, 0, 10, 11, 12, 0, 14, 15, 16]) // shift down-right
            case (2, 2, false): XCTAssertEqual(out, [15, 16, 17, 0, 19, 20, 21, 0, 0, 0, 0, 0]) // shift up-left
            case (1, 1, true): XCTAssertEqual(out, [13, 12, 11, 10, 17, 16, 15, 14, 21, 20, 19, 18]) // exact flip
            case (0, 2, true): XCTAssertEqual(out, [0, 0, 0, 0, 0, 13, 12, 11, 0, 17, 16, 15])
            default: break
            }
        }
        XCTAssertEqual(seen.count, 18)
    }

    func testPaddingIsZeroInPixelSpace() throws {
        let d = try ImageDataset(pixels: [200, 200, 200, 200], labels: [0], channels: 1, height: 2, width: 2, classes: 1)
        let aug = Augmentation(cropPadding: 2)
        let norm = Normalization.fashionMNIST
        for seed in UInt64(0)..<50 {
            let c = aug.choice(seed: seed, epoch: 0, index: 0)
            let f = try BatchFiller(dataset: d, sampler: try Sampler(count: 1, globalBatchSize: 1, seed: seed),
                                    augmentation: aug, normalization: norm)
            let img = Tensor(shape: [1, 1, 2, 2]); var lab: Int32 = 0
            f.fill(indices: [0], epoch: 0, augment: true, images: img.data, labels: &lab)
            let ref = referenceAugment([200, 200, 200, 200], h: 2, w: 2, pad: 2, choice: c)
            for i in 0..<4 {
                XCTAssertEqual(img[i], (Float(ref[i]) / 255 - 0.2860) / 0.3530, accuracy: 1e-6)
            }
        }
    }

    func testAugmentedBatchesIndependentOfWorldSize() throws {
        let d = try syntheticDataset(70, c: 2, h: 5, w: 6)
        let aug = Augmentation(cropPadding: 2, horizontalFlip: true)
        let gb = 8
        let per = d.sampleBytes
        func globalBatch(world: Int, epoch: Int, step: Int) throws -> ([Float], [Int32]) {
            var imgs: [Float] = [], labs: [Int32] = []
            for r in 0..<world {
                let s = try Sampler(count: d.count, globalBatchSize: gb, rank: r, worldSize: world, seed: 11)
                let f = try BatchFiller(dataset: d, sampler: s, augmentation: aug, normalization: .fashionMNIST)
                let t = Tensor(shape: [gb / world, 2, 5, 6])
                var l = [Int32](repeating: -1, count: gb / world)
                f.fill(indices: s.indices(epoch: epoch, step: step), epoch: epoch, augment: true, images: t.data, labels: &l)
                imgs += t.array; labs += l
            }
            XCTAssertEqual(imgs.count, gb * per)
            return (imgs, labs)
        }
        for epoch in [0, 3] {
            for step in [0, 4, 8] {
                let ref = try globalBatch(world: 1, epoch: epoch, step: step)
                for w in [2, 4, 8] {
                    let g = try globalBatch(world: w, epoch: epoch, step: step)
                    XCTAssertEqual(g.0, ref.0)
                    XCTAssertEqual(g.1, ref.1)
                }
            }
        }
    }

    func testNormalizationErrors() throws {
        let d = try syntheticDataset(4, c: 3)
        let s = try Sampler(count: 4, globalBatchSize: 2, seed: 0)
        assertThrows(["normalization mean has 2 values, expected 1 or 3"]) {
            _ = try BatchFiller(dataset: d, sampler: s, augmentation: .none, normalization: Normalization(mean: [0, 0], std: [1, 1, 1]))
        }
        assertThrows(["std must be positive"]) {
            _ = try BatchFiller(dataset: d, sampler: s, augmentation: .none, normalization: Normalization(mean: 0, std: 0))
        }
    }
}

final class BatchLoaderTests: XCTestCase {
    /// Direct computation of rank r's batch at (epoch, step).
    func direct(_ d: ImageDataset, gb: Int, rank: Int, world: Int, seed: UInt64, aug: Augmentation,
                epoch: Int, step: Int) throws -> ([Float], [Int32], [Int]) {
        let s = try Sampler(count: d.count, globalBatchSize: gb, rank: rank, worldSize: world, seed: seed)
        let f = try BatchFiller(dataset: d, sampler: s, augmentation: aug, normalization: .fashionMNIST)
        let t = Tensor(shape: [gb / world, d.channels, d.height, d.width])
        var l = [Int32](repeating: 0, count: gb / world)
        let idx = s.indices(epoch: epoch, step: step)
        f.fill(indices: idx, epoch: epoch, augment: true, images: t.data, labels: &l)
        return (t.array, l, idx)
    }

    func testLoaderMatchesDirectComputation() throws {
        let d = try syntheticDataset(45, c: 1, h: 7, w: 7)
        let aug = Augmentation(cropPadding: 3, horizontalFlip: true)
        for (rank, world) in [(0, 1), (1, 2), (3, 4)] {
            let loader = try BatchLoader(dataset: d, globalBatchSize: 8, rank: rank, worldSize: world, seed: 5,
                                         augmentation: aug, normalization: .fashionMNIST)
            XCTAssertEqual(loader.stepsPerEpoch, 6)
            for epoch in 0..<3 {
                loader.startEpoch(epoch)
                var step = 0
                while let b = loader.next() {
                    if epoch == 1 { usleep(UInt32.random(in: 0...300)) } // timing must not matter
                    let ref = try direct(d, gb: 8, rank: rank, world: world, seed: 5, aug: aug, epoch: epoch, step: step)
                    XCTAssertEqual(b.step, step)
                    XCTAssertEqual(b.epoch, epoch)
                    XCTAssertEqual(b.count, 8 / world)
                    XCTAssertEqual(b.images.shape, [8 / world, 1, 7, 7])
                    XCTAssertEqual(b.images.array, ref.0)
                    XCTAssertEqual(Array(b.labels), ref.1)
                    XCTAssertEqual(b.indices, ref.2)
                    step += 1
                }
                XCTAssertEqual(step, 6)
                XCTAssertNil(loader.next())
            }
        }
    }

    func testResumeMidEpochAndRestart() throws {
        let d = try syntheticDataset(40)
        let aug = Augmentation(cropPadding: 1, horizontalFlip: true)
        let loader = try BatchLoader(dataset: d, globalBatchSize: 4, seed: 3, augmentation: aug)
        loader.startEpoch(2)
        var full: [[Float]] = []
        while let b = loader.next() { full.append(b.images.array) }
        XCTAssertEqual(full.count, 10)
        loader.startEpoch(2, fromStep: 6)
        var resumed: [[Float]] = []
        while let b = loader.next() { resumed.append(b.images.array) }
        XCTAssertEqual(resumed, Array(full[6...]))
        // restarting in the middle of an epoch abandons the old one cleanly
        loader.startEpoch(0)
        _ = loader.next(); _ = loader.next()
        loader.startEpoch(2, fromStep: 9)
        XCTAssertEqual(loader.next()?.images.array, full[9])
        XCTAssertNil(loader.next())
        let fresh = try BatchLoader(dataset: d, globalBatchSize: 4, seed: 3, augmentation: aug)
        XCTAssertNil(fresh.next(), "no batches before startEpoch")
    }

    func testNoAugmentationWhenDisabled() throws {
        let d = try syntheticDataset(10)
        let loader = try BatchLoader(dataset: d, globalBatchSize: 10, seed: 1,
                                     augmentation: Augmentation(cropPadding: 2, horizontalFlip: true), augment: false,
                                     normalization: .identity, shuffle: false)
        loader.startEpoch(0)
        let b = try XCTUnwrap(loader.next())
        XCTAssertEqual(b.images.array, d.pixels.map { Float($0) / 255 })
        XCTAssertEqual(Array(b.labels), d.labels)
    }

    func testEvalBatches() throws {
        let d = try syntheticDataset(23)
        var all: [Int] = []
        for r in 0..<3 {
            let e = try EvalBatches(dataset: d, batchSize: 3, rank: r, worldSize: 3, normalization: .identity)
            var seen: [Int] = []
            var sizes: [Int] = []
            while let b = e.next() {
                XCTAssertEqual(b.images.shape[0], b.count)
                XCTAssertEqual(Array(b.labels), b.indices.map { d.labels[$0] })
                let per = d.sampleBytes
                XCTAssertEqual(b.images.array, b.indices.flatMap { i in d.pixels[(i * per)..<((i + 1) * per)].map { Float($0) / 255 } })
                seen += b.indices; sizes.append(b.count)
            }
            XCTAssertEqual(sizes.count, e.batchCount)
            XCTAssertEqual(sizes.dropLast().allSatisfy { $0 == 3 }, true)
            XCTAssertEqual(seen, Array(e.shard))
            all += seen
            e.reset()
            XCTAssertEqual(e.next()?.indices.first, e.shard.lowerBound)
        }
        XCTAssertEqual(all, Array(0..<23))
    }
}
