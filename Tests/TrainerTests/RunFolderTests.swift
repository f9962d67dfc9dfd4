// RunFolder.resumeMetrics: what a resumed run keeps of metrics.jsonl, and the
// warning on standard error when it drops lines that are not JSON objects.
import XCTest
import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import Trainer

final class RunFolderTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("runfolder-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// What `body` writes to standard error (file descriptor 2, where the log lines go).
    private func standardError(of body: () throws -> Void) throws -> String {
        let capture = (dir as NSString).appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: capture, contents: nil)
        let fd = open(capture, O_WRONLY)
        let saved = dup(2)
        XCTAssert(fd >= 0 && saved >= 0)
        dup2(fd, 2)
        close(fd)
        do {
            try body()
        } catch {
            dup2(saved, 2); close(saved)
            throw error
        }
        dup2(saved, 2)
        close(saved)
        return try String(contentsOfFile: capture, encoding: .utf8)
    }

    private func resume(_ metrics: String, atStep step: Int) throws -> (kept: String, stderr: String) {
        let folder = try RunFolder(path: dir)
        let path = folder.file("metrics.jsonl")
        try metrics.write(toFile: path, atomically: true, encoding: .utf8)
        let stderr = try standardError { try folder.resumeMetrics(atStep: step) }
        return (try String(contentsOfFile: path, encoding: .utf8), stderr)
    }

    func testKeepsRecordsUpToTheStepWithoutWarning() throws {
        let r = try resume("""
            {"split":"train","step":2,"loss":1.5}
            {"split":"test","step":4,"accuracy":0.5}
            {"split":"train","step":6,"loss":1.2}

            """, atStep: 4)
        XCTAssertEqual(r.kept, "{\"split\":\"train\",\"step\":2,\"loss\":1.5}\n{\"split\":\"test\",\"step\":4,\"accuracy\":0.5}\n")
        XCTAssertEqual(r.stderr, "")
    }

    func testMalformedLinesAreDroppedWithOneWarningCountingThem() throws {
        // A line edited by hand, a JSON value that is not an object, and the torn last line of a killed run.
        let r = try resume("""
            {"split":"train","step":2,"loss":1.5}
            {"split":
            [1, 2]
            {"split":"train","step":4,"loss":1.4}
            {"split":"train","step":6,"lo
            """, atStep: 6)
        XCTAssertEqual(r.kept, "{\"split\":\"train\",\"step\":2,\"loss\":1.5}\n{\"split\":\"train\",\"step\":4,\"loss\":1.4}\n")
        let path = (dir as NSString).appendingPathComponent("metrics.jsonl")
        XCTAssertEqual(r.stderr, "warning: resume: \(path): dropped 3 malformed lines (not JSON objects; "
                                 + "a run killed while writing leaves a torn last line)\n")
    }

    func testOneTornLineIsCountedInTheSingular() throws {
        let r = try resume("{\"split\":\"train\",\"step\":2,\"loss\":1.5}\n{\"split\":\"tr", atStep: 2)
        XCTAssertEqual(r.kept, "{\"split\":\"train\",\"step\":2,\"loss\":1.5}\n")
        XCTAssertTrue(r.stderr.hasSuffix("metrics.jsonl: dropped 1 malformed line (not JSON objects; "
                                         + "a run killed while writing leaves a torn last line)\n"), r.stderr)
    }
}
