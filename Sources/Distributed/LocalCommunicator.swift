// One process, no MPI: every collective is the identity (the buffer already holds the
// result over the single rank). Used when the program is not launched by mpirun, and
// by single-process tests.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class LocalCommunicator: Communicator {
    public let rank = 0
    public let size = 1
    public let localRank = 0
    public let localSize = 1
    public let hostName: String
    public var backendName: String { "local" }

    public init() {
        hostName = localHostName()
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op: ReduceOp) throws {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, op: ReduceOp) throws {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, op: ReduceOp) throws {}

    public func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> AllReduceHandle {
        CompletedHandle()
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        try checkRoot(root, size: 1)
    }
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Double>, root: Int) throws {
        try checkRoot(root, size: 1)
    }
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Int64>, root: Int) throws {
        try checkRoot(root, size: 1)
    }
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<UInt8>, root: Int) throws {
        try checkRoot(root, size: 1)
    }
    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        try checkRoot(root, size: 1)
        return bytes
    }

    public func barrier() throws {}

    public func allGather(_ value: Int64) throws -> [Int64] { [value] }
    public func allGather(_ value: Double) throws -> [Double] { [value] }
    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }

    public func abort(code: Int32, message: String) -> Never {
        writeStderr("[rank 0] \(message)\n")
        exit(code)
    }

    public func finalize() throws {}
}

final class CompletedHandle: AllReduceHandle {
    func wait() throws {}
    func test() throws -> Bool { true }
    var isComplete: Bool { true }
}
