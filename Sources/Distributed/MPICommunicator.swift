// Open MPI implementation of Communicator.
//
// Threading: MPI is initialised with MPI_Init_thread(MPI_THREAD_SERIALIZED). The
// trainer calls MPI from one thread at a time (its main thread) while the tensor
// engine's worker threads compute; FUNNELED would be enough for exactly that, but
// SERIALIZED also allows the MPI-calling thread to change (e.g. a loop moved onto a
// dedicated thread, or Swift code that hops threads) as long as calls never overlap.
// In Open MPI 4.1 FUNNELED and SERIALIZED cost the same (no locks; only
// MPI_THREAD_MULTIPLE adds locking), so the looser contract is free. The level the
// library actually granted is in `providedThreadLevel`.
//
// Errors: MPI_ERRORS_RETURN is installed on MPI_COMM_WORLD (and the node-local
// communicator), so a failing MPI call becomes a thrown `MPIError` carrying the
// MPI_Error_string text instead of killing the process inside the library. Errors
// during MPI_Init_thread itself cannot be caught (the handler is not yet installed):
// Open MPI prints them and exits.
//
// Failure semantics (measured with Open MPI 4.1.4, see Cluster/README-mpi.md): a rank
// that throws should go through `runOrAbort`, which calls MPI_Abort and ends every rank
// within about a second. A rank killed by a signal (SIGKILL, OOM killer) is noticed by
// mpirun, which kills the remaining ranks, including those blocked in a collective.

import CMPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed MPI call: the function, the MPI error code and class, and MPI's message.
public struct MPIError: Error, CustomStringConvertible {
    public let function: String
    public let code: Int32
    public let errorClass: Int32
    public let message: String

    public init(function: String, code: Int32, errorClass: Int32, message: String) {
        self.function = function
        self.code = code
        self.errorClass = errorClass
        self.message = message
    }

    public var description: String {
        "\(function) failed: \(message) (MPI error \(code), class \(errorClass))"
    }
}

func mpiErrorString(_ code: Int32) -> String {
    var buf = [CChar](repeating: 0, count: Int(gdqr_mpi_max_error_string()) + 1)
    var len: Int32 = 0
    if MPI_Error_string(code, &buf, &len) != 0 { return "unknown MPI error" }
    return String(cString: buf)
}

@inline(__always)
func mpiCheck(_ rc: Int32, _ function: @autoclosure () -> String) throws {
    if rc != 0 {
        var cls: Int32 = 0
        if MPI_Error_class(rc, &cls) != 0 { cls = -1 }
        throw MPIError(function: function(), code: rc, errorClass: cls, message: mpiErrorString(rc))
    }
}

public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public let localSize: Int
    public let hostName: String
    public var backendName: String { "mpi" }
    /// MPI_THREAD_SINGLE=0, FUNNELED=1, SERIALIZED=2, MULTIPLE=3 as granted by MPI.
    public let providedThreadLevel: Int32
    /// Largest element count per MPI call; longer buffers are split (MPI counts are
    /// 32-bit). Tests lower it to exercise the splitting.
    public var maxElementsPerCall: Int = 1 << 28

    private let world: MPI_Comm
    private var localComm: MPI_Comm?
    private var finalized = false
    private let ownsInit: Bool

    /// Initialises MPI (once per process) and queries the rank layout.
    public init() throws {
        var flag: Int32 = 0
        try mpiCheck(MPI_Finalized(&flag), "MPI_Finalized")
        if flag != 0 {
            throw DistributedError.unavailable("MPI has already been finalized in this process")
        }
        try mpiCheck(MPI_Initialized(&flag), "MPI_Initialized")
        var provided: Int32 = 0
        if flag == 0 {
            try mpiCheck(MPI_Init_thread(nil, nil, gdqr_mpi_thread_serialized(), &provided), "MPI_Init_thread")
            ownsInit = true
        } else {
            try mpiCheck(MPI_Query_thread(&provided), "MPI_Query_thread")
            ownsInit = false
        }
        providedThreadLevel = provided
        world = gdqr_mpi_comm_world()
        try mpiCheck(MPI_Comm_set_errhandler(world, gdqr_mpi_errors_return()), "MPI_Comm_set_errhandler")

        var r: Int32 = 0, s: Int32 = 0
        try mpiCheck(MPI_Comm_rank(world, &r), "MPI_Comm_rank")
        try mpiCheck(MPI_Comm_size(world, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)

        var local: MPI_Comm? = nil
        try mpiCheck(MPI_Comm_split_type(world, gdqr_mpi_comm_type_shared(), r, gdqr_mpi_info_null(), &local),
                     "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)")
        try mpiCheck(MPI_Comm_set_errhandler(local, gdqr_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var lr: Int32 = 0, ls: Int32 = 0
        try mpiCheck(MPI_Comm_rank(local, &lr), "MPI_Comm_rank(local)")
        try mpiCheck(MPI_Comm_size(local, &ls), "MPI_Comm_size(local)")
        localComm = local
        localRank = Int(lr)
        localSize = Int(ls)

        var name = [CChar](repeating: 0, count: Int(gdqr_mpi_max_processor_name()) + 1)
        var nameLen: Int32 = 0
        if MPI_Get_processor_name(&name, &nameLen) == 0 {
            hostName = String(cString: name)
        } else {
            hostName = localHostName()
        }
    }

    deinit {
        // Finalizing here would be a collective hidden in a deinit; the owner calls
        // finalize() explicitly. An un-finalized MPI at exit is reported by mpirun
        // only if the process exits with status 0 before finalize, so be explicit.
    }

    private func ensureActive() throws {
        if finalized { throw DistributedError.unavailable("communicator used after finalize()") }
    }

    private func op(_ op: ReduceOp) -> MPI_Op {
        switch op {
        case .sum: return gdqr_mpi_sum()
        case .max: return gdqr_mpi_max()
        case .min: return gdqr_mpi_min()
        }
    }

    // MARK: all-reduce

    private func allReduceRaw<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ type: MPI_Datatype, _ o: MPI_Op) throws {
        try ensureActive()
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let chunk = max(1, min(maxElementsPerCall, Int(Int32.max)))
        var offset = 0
        while offset < buffer.count {
            let n = min(chunk, buffer.count - offset)
            try mpiCheck(MPI_Allreduce(gdqr_mpi_in_place(), base + offset, Int32(n), type, o, world),
                         "MPI_Allreduce(\(n) elements)")
            offset += n
        }
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, op o: ReduceOp) throws {
        try allReduceRaw(buffer, gdqr_mpi_float(), op(o))
    }
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, op o: ReduceOp) throws {
        try allReduceRaw(buffer, gdqr_mpi_double(), op(o))
    }
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, op o: ReduceOp) throws {
        try allReduceRaw(buffer, gdqr_mpi_int64(), op(o))
    }

    public func startAllReduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> AllReduceHandle {
        try ensureActive()
        guard let base = buffer.baseAddress, buffer.count > 0 else { return CompletedHandle() }
        let chunk = max(1, min(maxElementsPerCall, Int(Int32.max)))
        var requests: [MPI_Request?] = []
        var offset = 0
        while offset < buffer.count {
            let n = min(chunk, buffer.count - offset)
            var req: MPI_Request? = gdqr_mpi_request_null()
            let rc = MPI_Iallreduce(gdqr_mpi_in_place(), base + offset, Int32(n), gdqr_mpi_float(),
                                    gdqr_mpi_sum(), world, &req)
            if rc != 0 {
                // Complete what was started so no request outlives its buffer.
                if !requests.isEmpty {
                    _ = MPI_Waitall(Int32(requests.count), &requests, nil)
                }
                try mpiCheck(rc, "MPI_Iallreduce(\(n) elements)")
            }
            requests.append(req)
            offset += n
        }
        return MPIAllReduceHandle(requests: requests)
    }

    // MARK: broadcast

    private func broadcastRaw<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ type: MPI_Datatype, root: Int) throws {
        try ensureActive()
        try checkRoot(root, size: size)
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let chunk = max(1, min(maxElementsPerCall, Int(Int32.max)))
        var offset = 0
        while offset < buffer.count {
            let n = min(chunk, buffer.count - offset)
            try mpiCheck(MPI_Bcast(base + offset, Int32(n), type, Int32(root), world), "MPI_Bcast(\(n) elements)")
            offset += n
        }
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws {
        try broadcastRaw(buffer, gdqr_mpi_float(), root: root)
    }
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Double>, root: Int) throws {
        try broadcastRaw(buffer, gdqr_mpi_double(), root: root)
    }
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Int64>, root: Int) throws {
        try broadcastRaw(buffer, gdqr_mpi_int64(), root: root)
    }
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<UInt8>, root: Int) throws {
        try broadcastRaw(buffer, gdqr_mpi_uint8(), root: root)
    }

    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        try checkRoot(root, size: size)
        var length = Int64(rank == root ? bytes.count : 0)
        try withUnsafeMutablePointer(to: &length) {
            try broadcastRaw(UnsafeMutableBufferPointer(start: $0, count: 1), gdqr_mpi_int64(), root: root)
        }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length))
        try out.withUnsafeMutableBufferPointer { try broadcastRaw($0, gdqr_mpi_uint8(), root: root) }
        return out
    }

    public func barrier() throws {
        try ensureActive()
        try mpiCheck(MPI_Barrier(world), "MPI_Barrier")
    }

    // MARK: all-gather

    private func allGatherRaw<T: BitwiseCopyable>(_ value: T, _ type: MPI_Datatype, zero: T) throws -> [T] {
        try ensureActive()
        var v = value
        var out = [T](repeating: zero, count: size)
        try withUnsafeMutablePointer(to: &v) { p in
            try out.withUnsafeMutableBufferPointer { o in
                try mpiCheck(MPI_Allgather(p, 1, type, o.baseAddress, 1, type, world), "MPI_Allgather")
            }
        }
        return out
    }

    public func allGather(_ value: Int64) throws -> [Int64] {
        try allGatherRaw(value, gdqr_mpi_int64(), zero: 0)
    }
    public func allGather(_ value: Double) throws -> [Double] {
        try allGatherRaw(value, gdqr_mpi_double(), zero: 0)
    }

    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] {
        let lengths = try allGather(Int64(bytes.count))
        let total = lengths.reduce(0, +)
        guard total <= Int64(Int32.max) else {
            throw DistributedError.invalidArgument("allGather(bytes:) of \(total) bytes in total exceeds 2 GiB")
        }
        var counts = lengths.map { Int32($0) }
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<max(size, 1) where i < size { displs[i] = displs[i - 1] + counts[i - 1] }
        // One spare byte on each side so that the base addresses are never nil (an
        // empty Swift buffer has none); the counts exclude it.
        var flat = [UInt8](repeating: 0, count: Int(total) + 1)
        var mine = bytes + [0]
        try mine.withUnsafeMutableBufferPointer { m in
            try flat.withUnsafeMutableBufferPointer { f in
                try mpiCheck(MPI_Allgatherv(m.baseAddress, Int32(bytes.count), gdqr_mpi_uint8(),
                                            f.baseAddress, &counts, &displs, gdqr_mpi_uint8(), world),
                             "MPI_Allgatherv")
            }
        }
        return (0..<size).map { i in
            let start = Int(displs[i])
            return Array(flat[start..<start + Int(counts[i])])
        }
    }

    // MARK: lifecycle

    public func abort(code: Int32, message: String) -> Never {
        writeStderr("[rank \(rank)] \(message)\n")
        if !finalized {
            _ = MPI_Abort(world, code)
        }
        exit(code)
    }

    public func finalize() throws {
        if finalized { return }
        finalized = true
        if localComm != nil {
            _ = MPI_Comm_free(&localComm)
            localComm = nil
        }
        if ownsInit {
            try mpiCheck(MPI_Finalize(), "MPI_Finalize")
        }
    }
}

final class MPIAllReduceHandle: AllReduceHandle {
    private var requests: [MPI_Request?]
    private(set) var isComplete = false

    init(requests: [MPI_Request?]) {
        self.requests = requests
    }

    func wait() throws {
        if isComplete { return }
        let rc = MPI_Waitall(Int32(requests.count), &requests, nil)
        isComplete = true
        try mpiCheck(rc, "MPI_Waitall(MPI_Iallreduce)")
    }

    func test() throws -> Bool {
        if isComplete { return true }
        var flag: Int32 = 0
        let rc = MPI_Testall(Int32(requests.count), &requests, &flag, nil)
        if rc != 0 {
            isComplete = true
            try mpiCheck(rc, "MPI_Testall(MPI_Iallreduce)")
        }
        if flag != 0 { isComplete = true }
        return isComplete
    }

    deinit {
        if !isComplete {
            _ = MPI_Waitall(Int32(requests.count), &requests, nil)
        }
    }
}
