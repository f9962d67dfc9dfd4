import XCTest
import TensorEngine

/// The pooled reductions must give the sequential result bit for bit, whatever
/// the thread count (the block sums are added in block order).
final class ParallelReductionTests: XCTestCase {
    func testPooledMeanAbsAndMaxAbsEqualSequentialBits() {
        var rng = CounterRNG(seed: 11, stream: 4)
        for count in [1, 4095, 8 * 4096, 8 * 4096 + 17, 200_003] {
            let x = (0..<count).map { _ in rng.nextNormal() * 3 }
            x.withUnsafeBufferPointer { p in
                let mean = reduceMeanAbs(p.baseAddress!, count: count)
                let mx = reduceMaxAbs(p.baseAddress!, count: count)
                for threads in [2, 3] {
                    let pool = ThreadPool(threads: threads)
                    XCTAssertEqual(reduceMeanAbs(p.baseAddress!, count: count, pool: pool).bitPattern, mean.bitPattern,
                                   "meanAbs count \(count) threads \(threads)")
                    XCTAssertEqual(reduceMaxAbs(p.baseAddress!, count: count, pool: pool), mx,
                                   "maxAbs count \(count) threads \(threads)")
                }
            }
        }
    }
}
