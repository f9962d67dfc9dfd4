import XCTest
import Foundation
import Distributed

/// Single-rank semantics of LocalCommunicator, the factory and the helpers.
final class LocalCommunicatorTests: XCTestCase {
    func testIdentityLayout() {
        let c = LocalCommunicator()
        XCTAssertEqual(c.rank, 0)
        XCTAssertEqual(c.size, 1)
        XCTAssertEqual(c.localRank, 0)
        XCTAssertEqual(c.localSize, 1)
        XCTAssertTrue(c.isRoot)
        XCTAssertFalse(c.hostName.isEmpty)
        XCTAssertEqual(c.backendName, "local")
    }

    func testAllReduceIsIdentity() throws {
        let c = LocalCommunicator()
        var f: [Float] = [1.5, -2, 3]
        for op in [ReduceOp.sum, .max, .min] {
            try f.withUnsafeMutableBufferPointer { try c.allReduce($0, op: op) }
            XCTAssertEqual(f, [1.5, -2, 3])
        }
        try f.withUnsafeMutableBufferPointer { try c.allReduceMean($0) }
        XCTAssertEqual(f, [1.5, -2, 3])
        var d: [Double] = [1e300, -0.0]
        try d.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
        XCTAssertEqual(d, [1e300, -0.0])
        var i: [Int64] = [Int64.max, Int64.min]
        try i.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
        XCTAssertEqual(i, [Int64.max, Int64.min])
        XCTAssertEqual(try c.allReduceSum([Float(4)]), [4])
        XCTAssertEqual(try c.allReduce(Double(7), op: .max), 7)
        XCTAssertEqual(try c.allReduce(Int64(-3), op: .min), -3)
        // Empty buffers are fine.
        var e: [Float] = []
        try e.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
    }

    func testNonBlockingAllReduceCompletes() throws {
        let c = LocalCommunicator()
        var f: [Float] = [1, 2]
        try f.withUnsafeMutableBufferPointer { buf in
            let h = try c.startAllReduce(buf)
            XCTAssertTrue(try h.test())
            try h.wait()
            XCTAssertTrue(h.isComplete)
        }
        XCTAssertEqual(f, [1, 2])
    }

    func testBroadcastAndGather() throws {
        let c = LocalCommunicator()
        var f: [Float] = [1, 2]
        try f.withUnsafeMutableBufferPointer { try c.broadcast($0, root: 0) }
        XCTAssertEqual(f, [1, 2])
        var u: [UInt8] = [9]
        try u.withUnsafeMutableBufferPointer { try c.broadcast($0, root: 0) }
        XCTAssertEqual(try c.broadcast(bytes: [1, 2, 3], root: 0), [1, 2, 3])
        XCTAssertEqual(try c.broadcast(string: "abc", root: 0), "abc")
        XCTAssertThrowsError(try f.withUnsafeMutableBufferPointer { try c.broadcast($0, root: 1) })
        XCTAssertThrowsError(try c.broadcast(bytes: [], root: -1))
        XCTAssertEqual(try c.allGather(Int64(5)), [5])
        XCTAssertEqual(try c.allGather(2.5), [2.5])
        XCTAssertEqual(try c.allGather(bytes: [7, 8]), [[7, 8]])
        XCTAssertEqual(try c.allGather(string: "host"), ["host"])
        try c.checkSame("x", what: "config hash")
        try c.barrier()
        try c.finalize()
        try c.finalize()
    }

    func testSelfTestPassesOnOneRank() throws {
        let summary = try communicatorSelfTest(LocalCommunicator())
        XCTAssertTrue(summary.contains("passed"), summary)
        XCTAssertTrue(summary.contains("ranks=1"), summary)
    }

    func testRunOrAbortReturnsValue() {
        XCTAssertEqual(runOrAbort(LocalCommunicator()) { 42 }, 42)
    }

    func testBandwidthResult() throws {
        let r = try allReduceBenchmark(comm: LocalCommunicator(), bytes: 4096, iterations: 10)
        XCTAssertEqual(r.bytes, 4096)
        XCTAssertEqual(r.ranks, 1)
        XCTAssertGreaterThan(r.gbytesPerSecond, 0)
        XCTAssertTrue(r.jsonLine.hasPrefix("{\"bench\":\"swift_allreduce\",\"bytes\":4096,\"ranks\":1,"), r.jsonLine)
        XCTAssertEqual(try allReduceBandwidthSweep(comm: LocalCommunicator(), minBytes: 4096, maxBytes: 65536).map(\.bytes),
                       [4096, 16384, 65536])
    }

    func testMPIErrorDescription() {
        let e = MPIError(function: "MPI_Bcast", code: 6, errorClass: 6, message: "MPI_ERR_ROOT: invalid root")
        XCTAssertEqual(e.description, "MPI_Bcast failed: MPI_ERR_ROOT: invalid root (MPI error 6, class 6)")
    }

    func testFactory() throws {
        let saved = getenv("GDQR_COMMUNICATOR").map { String(cString: $0) }
        defer {
            if let saved { setenv("GDQR_COMMUNICATOR", saved, 1) } else { unsetenv("GDQR_COMMUNICATOR") }
        }
        setenv("GDQR_COMMUNICATOR", "local", 1)
        XCTAssertTrue(try CommunicatorFactory.make() is LocalCommunicator)
        setenv("GDQR_COMMUNICATOR", "bogus", 1)
        XCTAssertThrowsError(try CommunicatorFactory.make())
        unsetenv("GDQR_COMMUNICATOR")
        if !CommunicatorFactory.launchedByMPI {
            XCTAssertTrue(try CommunicatorFactory.make() is LocalCommunicator)
        }
    }
}

/// Multi-rank tests: the test bundle re-launches itself under mpirun, running only
/// `MPIWorkerTests.testWorker` in each rank with GDQR_MPI_WORKER set to a mode.
/// Skipped when mpirun is not installed, or when GDQR_SKIP_MPI_TESTS=1.
final class MPIWorkerTests: XCTestCase {
    /// The worker body, run only by `MPIJobTests` under mpirun. Run alone it is skipped
    /// (not counted as a pass): the multi-rank checks are MPIJobTests' assertions.
    func testWorker() throws {
        guard let mode = ProcessInfo.processInfo.environment["GDQR_MPI_WORKER"] else {
            throw XCTSkip("the worker body of MPIJobTests: it runs only under mpirun with GDQR_MPI_WORKER set")
        }
        let comm = try CommunicatorFactory.make()
        XCTAssertTrue(comm is MPICommunicator)
        switch mode {
        case "selftest":
            let s = runOrAbort(comm) { try communicatorSelfTest(comm) }
            if comm.rank == 0 { print("WORKER-RESULT \(s)") }
        case "fail":
            runOrAbort(comm) { try communicatorFailureTest(comm, failingRank: comm.size - 1) }
        case "kill":
            // All ranks loop in all-reduces; the last rank SIGKILLs itself after 1 s.
            let t0 = monotonicSeconds()
            var buf = [Float](repeating: 1, count: 1024)
            while true {
                if comm.rank == comm.size - 1 && monotonicSeconds() - t0 > 1 { kill(getpid(), SIGKILL) }
                runOrAbort(comm) { try buf.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) } }
                buf[0] = 1
            }
        default:
            XCTFail("unknown GDQR_MPI_WORKER mode \(mode)")
        }
        try comm.finalize()
    }
}

final class MPIJobTests: XCTestCase {
    struct JobResult { let status: Int32; let output: String; let seconds: Double; let timedOut: Bool }

    static func findMPIRun() -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    func runJob(ranks: Int, mode: String, timeout: Double = 120) throws -> JobResult {
        if ProcessInfo.processInfo.environment["GDQR_SKIP_MPI_TESTS"] == "1" {
            throw XCTSkip("GDQR_SKIP_MPI_TESTS=1")
        }
        if CommunicatorFactory.launchedByMPI { throw XCTSkip("already running under mpirun") }
        guard let mpirun = Self.findMPIRun() else { throw XCTSkip("mpirun not found") }
        let bundle = CommandLine.arguments[0]
        var args = ["-n", "\(ranks)", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
                    "-x", "GDQR_MPI_WORKER=\(mode)"]
        if geteuid() == 0 { args.insert("--allow-run-as-root", at: 0) }
        args += [bundle, "DistributedTests.MPIWorkerTests/testWorker"]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "GDQR_COMMUNICATOR")
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let t0 = monotonicSeconds()
        try p.run()
        // Read concurrently so a chatty job cannot block on a full pipe.
        var data = Data()
        let reader = Thread { data = out.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        var timedOut = false
        while p.isRunning {
            if monotonicSeconds() - t0 > timeout {
                timedOut = true
                p.terminate()
                break
            }
            usleep(20_000)
        }
        p.waitUntilExit()
        let seconds = monotonicSeconds() - t0
        while reader.isExecuting { usleep(10_000) }
        return JobResult(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self),
                         seconds: seconds, timedOut: timedOut)
    }

    func testSelfTestOnTwoAndFourRanks() throws {
        for n in [2, 4] {
            let r = try runJob(ranks: n, mode: "selftest")
            XCTAssertFalse(r.timedOut, "\(n) ranks timed out:\n\(r.output)")
            XCTAssertEqual(r.status, 0, "\(n) ranks:\n\(r.output)")
            XCTAssertTrue(r.output.contains("communicator self-test passed: backend=mpi ranks=\(n)"), r.output)
        }
    }

    func testErrorOnOneRankAbortsTheJob() throws {
        let r = try runJob(ranks: 3, mode: "fail", timeout: 60)
        XCTAssertFalse(r.timedOut, "job hung after an error on one rank:\n\(r.output)")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.output.contains("[rank 2] error: communicator self-test failed: deliberate failure on rank 2"),
                      r.output)
        print("error on one rank: job ended in \(String(format: "%.2f", r.seconds)) s")
    }

    func testKilledRankEndsTheJob() throws {
        let r = try runJob(ranks: 3, mode: "kill", timeout: 60)
        XCTAssertFalse(r.timedOut, "job hung after a rank was killed:\n\(r.output)")
        XCTAssertNotEqual(r.status, 0)
        print("SIGKILL of one rank: job ended in \(String(format: "%.2f", r.seconds)) s (rank killed at ~1 s)")
    }
}
