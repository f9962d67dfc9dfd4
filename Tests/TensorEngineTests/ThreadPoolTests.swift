import XCTest
@testable import TensorEngine

final class ThreadPoolTests: XCTestCase {
    func testChunksCoverRangeExactlyOnce() {
        for parts in 1...5 {
            for count in [0, 1, 2, 7, 64, 129] {
                var seen = [Int](repeating: 0, count: count)
                for t in 0..<parts { for i in ThreadPool.chunk(t, of: parts, count: count) { seen[i] += 1 } }
                XCTAssertEqual(seen, [Int](repeating: 1, count: count), "parts \(parts) count \(count)")
            }
        }
    }

    func testRunVisitsEveryThreadEveryTime() {
        let pool = ThreadPool(threads: 3)
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 3)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 3)
        for _ in 0..<2000 { pool.run { t in hits[t] += 1 } }
        XCTAssertEqual([hits[0], hits[1], hits[2]], [2000, 2000, 2000])
    }
}
