import Foundation
import XCTest
@testable import Checkpoint
#if canImport(Glibc)
import Glibc
#endif

final class CheckpointFileTestsWriter: CheckpointFileTestCase {
    func contents(step: Int, scale: Float = 1) -> (inout CheckpointContents) -> Void {
        return { c in
            let base = sampleContents(params: 2500, seed: UInt64(step))
            c.run = base.run
            c.run.step = step
            if c.sections.count != base.sections.count { c.sections = base.sections; c.tensors = base.tensors }
            for i in base.sections.indices { c.sections[i].floats = base.sections[i].floats.map { $0.isFinite ? $0 * scale : 0 } }
        }
    }

    func testAsyncWritesPointersAndRetention() throws {
        let ck = dir + "/checkpoints"
        let w = try CheckpointWriter(directory: ck, keepLast: 2)
        let metrics: [Double] = [0.5, 0.9, 0.7, 0.6, 0.8]
        for (i, m) in metrics.enumerated() {
            try w.submit(metric: m, contents(step: 100 * (i + 1)))
        }
        XCTAssertEqual(try w.finish(), ck + "/step-00000500.gdqrckpt")
        let names = try FileManager.default.contentsOfDirectory(atPath: ck).sorted()
        XCTAssertEqual(names, ["best", "latest", "step-00000200.gdqrckpt", "step-00000400.gdqrckpt", "step-00000500.gdqrckpt"])
        XCTAssertEqual(try String(contentsOfFile: ck + "/latest", encoding: .utf8), "step-00000500.gdqrckpt\n")
        XCTAssertEqual(CheckpointDirectory.best(ck)?.name, "step-00000200.gdqrckpt")
        XCTAssertEqual(CheckpointDirectory.best(ck)?.metric, 0.9)
        let back = try CheckpointFile.read(ck + "/step-00000400.gdqrckpt")
        XCTAssertEqual(back.step, 400)
        var expect = CheckpointContents(run: CheckpointRunInfo(), sections: [])
        contents(step: 400)(&expect)
        XCTAssertEqual(bits(back), bits(expect))
        // A new writer on the same directory remembers the best metric.
        let w2 = try CheckpointWriter(directory: ck, keepLast: 1)
        try w2.submit(metric: 0.85, contents(step: 600))
        try w2.finish()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: ck).sorted(),
                       ["best", "latest", "step-00000200.gdqrckpt", "step-00000600.gdqrckpt"])
    }

    func testNewestValidFallsBackPastCorruptFiles() throws {
        let ck = dir + "/checkpoints"
        let w = try CheckpointWriter(directory: ck, keepLast: 5)
        for s in [10, 20, 30] { try w.submit(contents(step: s)) }
        try w.finish()
        XCTAssertEqual(CheckpointDirectory.newestValid(ck)?.header.step, 30)
        // Corrupt the newest (latest points at it) and truncate the one before.
        var b = Array(FileManager.default.contents(atPath: ck + "/step-00000030.gdqrckpt")!)
        b[b.count / 2] ^= 0xFF
        FileManager.default.createFile(atPath: ck + "/step-00000030.gdqrckpt", contents: Data(b))
        let b20 = FileManager.default.contents(atPath: ck + "/step-00000020.gdqrckpt")!
        FileManager.default.createFile(atPath: ck + "/step-00000020.gdqrckpt", contents: b20.prefix(b20.count - 5))
        var skipped: [(String, String)] = []
        let found = CheckpointDirectory.newestValid(ck) { skipped.append(($0, "\($1)")) }
        XCTAssertEqual(found?.path, ck + "/step-00000010.gdqrckpt")
        XCTAssertEqual(found?.header.step, 10)
        XCTAssertEqual(skipped.map(\.0), [ck + "/step-00000030.gdqrckpt", ck + "/step-00000020.gdqrckpt"])
        XCTAssertTrue(skipped[1].1.contains("truncated"), skipped[1].1)
        // A hostile pointer file is reported, never followed.
        try "../../etc/passwd\n".write(toFile: ck + "/latest", atomically: true, encoding: .utf8)
        skipped = []
        XCTAssertEqual(CheckpointDirectory.newestValid(ck) { skipped.append(($0, "\($1)")) }?.header.step, 10)
        XCTAssertEqual(skipped.first?.0, ck + "/latest")
        XCTAssertNil(CheckpointDirectory.newestValid(dir + "/nothing-here"))
    }

    func testNonFiniteStateIsNotWritten() throws {
        let ck = dir + "/checkpoints"
        let w = try CheckpointWriter(directory: ck, keepLast: 3)
        try w.submit(contents(step: 1))
        try w.submit { c in
            self.contents(step: 2)(&c)
            c.sections[0].floats[2100] = .nan
        }
        XCTAssertThrowsError(try w.finish()) {
            XCTAssertTrue("\($0)".contains("non-finite value nan in section 'params' at element 2100 (tensor 'fc.weight')"), "\($0)")
        }
        XCTAssertEqual(CheckpointDirectory.list(ck).map(\.step), [1])
        XCTAssertEqual(try CheckpointDirectory.readPointer(ck + "/latest").name, "step-00000001.gdqrckpt")
    }

    /// Makes `path` unwritable for this process; false if it cannot (root without chattr).
    func makeUnwritable(_ path: String) -> Bool {
        chmod(path, 0o555)
        if probeWritable(path) == false { return true }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        p.arguments = ["+i", path]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0 && probeWritable(path) == false
    }

    func restoreWritable(_ path: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        p.arguments = ["-i", path]
        p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil { p.waitUntilExit() }
        chmod(path, 0o755)
    }

    func probeWritable(_ dir: String) -> Bool {
        let fd = open(dir + "/.probe", O_WRONLY | O_CREAT, 0o644)
        if fd >= 0 { close(fd); unlink(dir + "/.probe"); return true }
        return false
    }

    func testUnwritableDirectoryReportsAndKeepsPrevious() throws {
        let ck = dir + "/checkpoints"
        let w = try CheckpointWriter(directory: ck, keepLast: 1)
        try w.submit(contents(step: 1))
        try w.finish()
        guard makeUnwritable(ck) else { throw XCTSkip("cannot make a directory unwritable here") }
        defer { restoreWritable(ck) }
        try w.submit(contents(step: 2))
        XCTAssertThrowsError(try w.submit(contents(step: 3))) {
            XCTAssertTrue("\($0)".contains("step-00000002.gdqrckpt"), "\($0)")
            XCTAssertTrue("\($0)".contains("cannot create"), "\($0)")
        }
        // The error was reported once; the next attempt fails again and finish says so.
        try w.submit(contents(step: 4))
        XCTAssertThrowsError(try w.finish())
        XCTAssertEqual(try CheckpointFile.verify(ck + "/step-00000001.gdqrckpt").step, 1)
        XCTAssertEqual(CheckpointDirectory.newestValid(ck)?.header.step, 1)
    }

    func testFullDiskReportsAndKeepsPrevious() throws {
        // RLIMIT_FSIZE makes writes past the limit fail with EFBIG, as a full disk would.
        let ck = dir + "/checkpoints"
        let w = try CheckpointWriter(directory: ck, keepLast: 1)
        try w.submit(contents(step: 1))
        try w.finish()
        var old = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        signal(SIGXFSZ, SIG_IGN)
        var small = old
        small.rlim_cur = 4096
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small), 0)
        try w.submit(contents(step: 2))
        let result = Result { try w.finish() }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        XCTAssertThrowsError(try result.get()) { XCTAssertTrue("\($0)".contains("write failed"), "\($0)") }
        XCTAssertEqual(CheckpointDirectory.list(ck).map(\.step), [1])
        XCTAssertEqual(CheckpointDirectory.newestValid(ck)?.header.step, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: ck).filter { $0.contains(".tmp-") }, [])
    }
}
