// The communicator the trainer sees: rank/size, in-place all-reduce, broadcast,
// all-gather, barrier, abort. Two implementations: LocalCommunicator (one process,
// no MPI calls at all) and MPICommunicator (Open MPI). CommunicatorFactory.make()
// picks one from the environment, so the same binary runs with or without mpirun.
//
// Threading contract: a communicator is not thread-safe. Call it from one thread at a
// time, in practice the trainer's main thread (MPICommunicator initialises MPI with
// MPI_THREAD_SERIALIZED; see MPICommunicator.swift). Every rank must issue the same
// collectives in the same order with the same element counts.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reduction operator for `allReduce(_:op:)`.
public enum ReduceOp: Sendable {
    case sum, max, min
}

/// A pending non-blocking all-reduce (see `Communicator.startAllReduce`).
///
/// The buffer passed to `startAllReduce` must stay allocated and must be neither read
/// nor written until `wait()` returns (or `test()` returns true). With Open MPI,
/// non-blocking collectives make progress only inside MPI calls, so a caller that
/// overlaps an all-reduce with compute should call `test()` now and then (for example
/// between layers of the backward pass); `wait()` completes it in any case.
/// If a handle is dropped without being completed, its deinitializer waits for it,
/// so the buffer is never written after the handle is gone.
public protocol AllReduceHandle: AnyObject {
    /// Blocks until the all-reduce has completed; the buffer then holds the result.
    func wait() throws
    /// Drives progress; true once complete (then `wait()` returns at once).
    func test() throws -> Bool
    var isComplete: Bool { get }
}

public protocol Communicator: AnyObject {
    /// This process's rank in the job, 0..<size.
    var rank: Int { get }
    /// Number of ranks in the job.
    var size: Int { get }
    /// Rank among the processes on this node (MPI_COMM_TYPE_SHARED), 0..<localSize.
    var localRank: Int { get }
    /// Number of ranks on this node.
    var localSize: Int { get }
    /// This node's name (MPI_Get_processor_name, or gethostname without MPI).
    var hostName: String { get }
    /// "mpi" or "local", for logs and reports.
    var backendName: String { get }

    /// In-place element-wise reduction over all ranks; every rank gets the result.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp) throws
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, op: ReduceOp) throws
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, op: ReduceOp) throws

    /// Starts an in-place sum all-reduce (MPI_Iallreduce) and returns at once.
    func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> AllReduceHandle

    /// Copies `root`'s buffer into every rank's buffer (same count on every rank).
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Double>, root: Int) throws
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Int64>, root: Int) throws
    func broadcast(_ buffer: UnsafeMutableBufferPointer<UInt8>, root: Int) throws
    /// Variable-length broadcast: returns `root`'s bytes on every rank (the argument is
    /// ignored on the other ranks).
    func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8]

    func barrier() throws

    /// One value per rank in, all of them (indexed by rank) out, on every rank.
    func allGather(_ value: Int64) throws -> [Int64]
    func allGather(_ value: Double) throws -> [Double]
    /// Variable-length byte strings, one per rank, indexed by rank.
    func allGather(bytes: [UInt8]) throws -> [[UInt8]]

    /// Prints "[rank R] message" to stderr and ends the whole job (MPI_Abort) with `code`.
    func abort(code: Int32, message: String) -> Never

    /// Shuts the communicator down (MPI_Finalize). Idempotent; no collective may follow.
    func finalize() throws
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(buffer, op: .sum)
    }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(buffer, op: .sum)
    }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        try allReduce(buffer, op: .sum)
    }

    /// Sum over ranks divided by the number of ranks (gradient averaging).
    public func allReduceMean(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(buffer, op: .sum)
        if size > 1 {
            let scale = 1 / Float(size)
            for i in buffer.indices { buffer[i] *= scale }
        }
    }
    public func allReduceMean(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(buffer, op: .sum)
        if size > 1 {
            let scale = 1 / Double(size)
            for i in buffer.indices { buffer[i] *= scale }
        }
    }

    /// Array conveniences (copy in, reduce, copy out).
    public func allReduceSum(_ values: [Float]) throws -> [Float] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try allReduce($0, op: .sum) }
        return v
    }
    public func allReduceSum(_ values: [Double]) throws -> [Double] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try allReduce($0, op: .sum) }
        return v
    }
    public func allReduceSum(_ values: [Int64]) throws -> [Int64] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try allReduce($0, op: .sum) }
        return v
    }
    public func allReduce(_ value: Double, op: ReduceOp) throws -> Double {
        var v = value
        try withUnsafeMutablePointer(to: &v) {
            try allReduce(UnsafeMutableBufferPointer(start: $0, count: 1), op: op)
        }
        return v
    }
    public func allReduce(_ value: Int64, op: ReduceOp) throws -> Int64 {
        var v = value
        try withUnsafeMutablePointer(to: &v) {
            try allReduce(UnsafeMutableBufferPointer(start: $0, count: 1), op: op)
        }
        return v
    }

    /// Variable-length strings (UTF-8), one per rank, indexed by rank: hostnames,
    /// config hashes, versions.
    public func allGather(string: String) throws -> [String] {
        try allGather(bytes: Array(string.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Broadcasts `root`'s string to every rank.
    public func broadcast(string: String, root: Int) throws -> String {
        String(decoding: try broadcast(bytes: Array(string.utf8), root: root), as: UTF8.self)
    }

    /// Throws `DistributedError.mismatch` on every rank unless all ranks passed the
    /// same string (e.g. a hash of the resolved config or the build version).
    /// The error names the ranks that differ from rank 0.
    public func checkSame(_ value: String, what: String) throws {
        let all = try allGather(string: value)
        let differing = all.indices.filter { all[$0] != all[0] }
        if !differing.isEmpty {
            let shown = differing.prefix(8).map { "rank \($0): \"\(all[$0])\"" }.joined(separator: ", ")
            throw DistributedError.mismatch(
                "\(what) differs between ranks: rank 0: \"\(all[0])\", \(shown)"
                    + (differing.count > 8 ? " (and \(differing.count - 8) more)" : ""))
        }
    }

    /// Prints to stderr prefixed with "[rank R] ".
    public func logError(_ message: String) {
        writeStderr("[rank \(rank)] \(message)\n")
    }
}

/// Errors raised by the Distributed module itself (MPI failures are `MPIError`).
public enum DistributedError: Error, CustomStringConvertible {
    case invalidArgument(String)
    case mismatch(String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .mismatch(let m): return m
        case .unavailable(let m): return m
        }
    }
}

/// An error that chooses the process's exit status (the CLI's convention: 1 for a
/// runtime failure, 2 for a usage or configuration error).
public protocol ExitStatusError: Error {
    var exitStatus: Int32 { get }
}

/// Runs `body`; if it throws, prints "[rank R] error: <error>" to stderr and aborts the
/// whole job (MPI_Abort with the error's `ExitStatusError.exitStatus`, else `code`), so
/// that no other rank is left waiting in a collective. Use it around everything a
/// rank does after the communicator exists.
public func runOrAbort<T>(_ comm: Communicator, code: Int32 = 1, _ body: () throws -> T) -> T {
    do {
        return try body()
    } catch {
        comm.abort(code: (error as? ExitStatusError)?.exitStatus ?? code, message: "error: \(error)")
    }
}

/// Writes `s` to standard error with write(2) calls only (no buffering), so a
/// line is not split by another thread's or rank's output.
public func writeStderr(_ s: String) {
    var bytes = Array(s.utf8)
    bytes.withUnsafeMutableBytes { raw in
        var p = raw.baseAddress!
        var left = raw.count
        while left > 0 {
            let n = write(2, p, left)
            if n <= 0 { break }
            p += n
            left -= n
        }
    }
}

func localHostName() -> String {
    var buf = [CChar](repeating: 0, count: 256)
    if gethostname(&buf, buf.count - 1) != 0 { return "localhost" }
    return String(cString: buf)
}

func checkRoot(_ root: Int, size: Int) throws {
    guard root >= 0 && root < size else {
        throw DistributedError.invalidArgument("broadcast root \(root) is not a rank (size \(size))")
    }
}
