// What the TensorBoard log adds to a log line: TensorBoardLog.record (encode one
// Event of scalars, frame it, buffer it) timed beside the metrics.jsonl line the
// same record already cost (RunFolder.appendMetrics before the TensorBoard hook),
// in the same run; and every record reaches the file after a flush.
import XCTest
import Foundation
import JSONFormat
@testable import Trainer

final class TensorBoardLogBenchTests: XCTestCase {
    func testRecordCostBesideMetricsLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 2000
        var records: [[String: Any]] = []
        for i in 0..<n {
            let x = Double(i)
            var r: [String: Any] = ["phase": "w4a4", "split": "train", "step": 50 * (i + 1)]
            r["epoch"] = x / 10
            r["loss"] = 1 / (x + 1)
            r["accuracy"] = 0.5
            r["lr"] = 0.01
            r["images_per_second"] = 400 + x
            r["comm_exposed_fraction"] = 0.01
            records.append(r)
        }
        let log = try TensorBoardLog(directory: dir)
        log.maxBufferSeconds = .infinity
        let jsonPath = (dir as NSString).appendingPathComponent("metrics.jsonl")
        FileManager.default.createFile(atPath: jsonPath, contents: nil)
        let json = try XCTUnwrap(FileHandle(forWritingAtPath: jsonPath))
        var tJSON = 0.0, tTB = 0.0
        for r in records {
            let t0 = now()
            json.write(Data((JSON.line(r) + "\n").utf8))
            let t1 = now()
            try log.record(metrics: r)
            tTB += now() - t1
            tJSON += t1 - t0
        }
        try json.close()
        try log.flush()
        let events = readTFRecords([UInt8](try Data(contentsOf: URL(fileURLWithPath: log.writer.path))))
        XCTAssertEqual(events.count, n + 1, "file_version plus one event per record")
        print(String(format: "TensorBoard record %.2f us, metrics.jsonl line %.2f us per log line (ratio %.2f)",
                     tTB / Double(n) * 1e6, tJSON / Double(n) * 1e6, tTB / tJSON))
    }
}
