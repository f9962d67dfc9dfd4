// Multi-rank self-test: every collective with rank-dependent data, checked on every
// rank. Meant to be run under mpirun at several world sizes (1, 2, 4, 16) by
// `gdqr selftest-mpi` (Tests/scripts/mpi-selftest.sh); with a LocalCommunicator it
// checks the single-rank semantics.

public struct SelfTestFailure: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "communicator self-test failed: \(message)" }
}

private func expect(_ ok: Bool, _ message: @autoclosure () -> String) throws {
    if !ok { throw SelfTestFailure(message: message()) }
}

/// Runs every collective and checks the results; collective (all ranks must call it).
/// Returns a one-line summary (printed by rank 0). Throws `SelfTestFailure` naming the
/// first mismatch seen by this rank.
public func communicatorSelfTest(_ comm: Communicator) throws -> String {
    let r = comm.rank, n = comm.size
    var checks = 0
    try expect(n >= 1 && r >= 0 && r < n, "rank \(r) / size \(n) out of range")
    try expect(comm.localSize >= 1 && comm.localRank >= 0 && comm.localRank < comm.localSize,
               "local rank \(comm.localRank) / local size \(comm.localSize) out of range")

    // Ranks agree on size and each rank appears once.
    let ranks = try comm.allGather(Int64(r))
    try expect(ranks == (0..<n).map(Int64.init), "allGather(Int64) of ranks gave \(ranks)")
    let sizes = try comm.allGather(Int64(n))
    try expect(sizes.allSatisfy { $0 == Int64(n) }, "ranks disagree on size: \(sizes)")
    checks += 2

    // Node layout: on each host the local ranks are 0..<localSize and localSize is the
    // number of ranks on that host.
    let hosts = try comm.allGather(string: comm.hostName)
    let localRanks = try comm.allGather(Int64(comm.localRank))
    let localSizes = try comm.allGather(Int64(comm.localSize))
    var byHost: [String: [Int]] = [:]
    for i in 0..<n { byHost[hosts[i], default: []].append(i) }
    for (host, members) in byHost {
        let lr = members.map { Int(localRanks[$0]) }.sorted()
        try expect(lr == Array(0..<members.count), "host \(host): local ranks \(lr) for \(members.count) ranks")
        try expect(members.allSatisfy { Int(localSizes[$0]) == members.count },
                   "host \(host): local sizes \(members.map { localSizes[$0] }) but \(members.count) ranks")
    }
    checks += 2

    // Float sum, with a length that is not a multiple of anything in particular; the
    // values are small integers so the sum is exact in any order.
    let count = 10_007
    var f = (0..<count).map { Float(r + 1) + Float($0 % 7) }
    try f.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
    let triangle = n * (n + 1) / 2
    for i in 0..<count {
        let want = Float(triangle + n * (i % 7))
        if f[i] != want { throw SelfTestFailure(message: "allReduceSum(Float)[\(i)] = \(f[i]), expected \(want)") }
    }
    checks += 1

    // Float mean.
    var m = (0..<257).map { Float(r * 2) + Float($0) }
    try m.withUnsafeMutableBufferPointer { try comm.allReduceMean($0) }
    for i in 0..<m.count {
        let want = Float(n - 1) + Float(i)
        if abs(m[i] - want) > 1e-4 * max(1, abs(want)) {
            throw SelfTestFailure(message: "allReduceMean(Float)[\(i)] = \(m[i]), expected \(want)")
        }
    }
    checks += 1

    // Double sum / max / min.
    var d = (0..<1000).map { Double(r) * 0.5 + Double($0) }
    try d.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
    for i in 0..<d.count {
        let want = Double(n * (n - 1)) / 4 + Double(n * i)
        if d[i] != want { throw SelfTestFailure(message: "allReduceSum(Double)[\(i)] = \(d[i]), expected \(want)") }
    }
    let dmax = try comm.allReduce(Double(r) - 0.25, op: .max)
    let dmin = try comm.allReduce(Double(r) - 0.25, op: .min)
    try expect(dmax == Double(n - 1) - 0.25 && dmin == -0.25, "Double max/min gave \(dmax)/\(dmin)")
    checks += 3

    // Int64 sum beyond 32 bits, max, min.
    var big: [Int64] = [Int64(1) << 40 + Int64(r), -Int64(r) * 3_000_000_000, Int64(r)]
    try big.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
    let rsum = Int64(n * (n - 1) / 2)
    try expect(big == [Int64(n) << 40 + rsum, -rsum * 3_000_000_000, rsum], "allReduceSum(Int64) gave \(big)")
    let imax = try comm.allReduce(Int64(r * 7), op: .max)
    let imin = try comm.allReduce(Int64(r * 7 + 1), op: .min)
    try expect(imax == Int64((n - 1) * 7) && imin == 1, "Int64 max/min gave \(imax)/\(imin)")
    checks += 3

    // Float max / min.
    var fm: [Float] = [Float(r), -Float(r)]
    try fm.withUnsafeMutableBufferPointer { try comm.allReduce($0, op: .max) }
    try expect(fm == [Float(n - 1), 0], "allReduce(Float, max) gave \(fm)")
    checks += 1

    // Non-blocking: two outstanding all-reduces, one driven by test(), one by wait().
    let nbCount = 300_001
    let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: nbCount)
    let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1000)
    defer { a.deallocate(); b.deallocate() }
    for i in 0..<nbCount { a[i] = Float(r) + Float(i % 3) }
    for i in 0..<1000 { b[i] = 1 }
    let ha = try comm.startAllReduce(a)
    let hb = try comm.startAllReduce(b)
    var spins = 0
    while try !hb.test() { spins += 1 }
    try ha.wait()
    try expect(ha.isComplete && hb.isComplete, "handles not complete after wait/test")
    try ha.wait()  // a second wait is a no-op
    for i in 0..<nbCount {
        let want = Float(n * (n - 1) / 2 + n * (i % 3))
        if a[i] != want { throw SelfTestFailure(message: "startAllReduce[\(i)] = \(a[i]), expected \(want)") }
    }
    try expect(b.allSatisfy { $0 == Float(n) }, "startAllReduce (small) gave \(b[0])")
    checks += 2

    // Splitting of long buffers into several MPI calls (blocking and non-blocking).
    if let mpi = comm as? MPICommunicator {
        let saved = mpi.maxElementsPerCall
        mpi.maxElementsPerCall = 1000
        defer { mpi.maxElementsPerCall = saved }
        var s = (0..<4_321).map { Float($0 % 5) * Float(r + 1) }
        try s.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
        for i in 0..<s.count where s[i] != Float(i % 5) * Float(triangle) {
            throw SelfTestFailure(message: "split allReduceSum[\(i)] = \(s[i])")
        }
        try s.withUnsafeMutableBufferPointer { buf in
            for i in 0..<buf.count { buf[i] = Float(r) }
            try comm.startAllReduce(buf).wait()
        }
        try expect(s.allSatisfy { $0 == Float(n * (n - 1) / 2) }, "split startAllReduce gave \(s[0])")
        var bb = [UInt8](repeating: UInt8(r % 256), count: 2_500)
        try bb.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: n - 1) }
        try expect(bb.allSatisfy { $0 == UInt8((n - 1) % 256) }, "split broadcast(UInt8) gave \(bb[0])")
        checks += 3
    }

    // Broadcasts of every type from the last rank (not 0), and from rank 0.
    let root = n - 1
    var bf = (0..<513).map { Float(r) * 1000 + Float($0) }
    try bf.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: root) }
    try expect(bf == (0..<513).map { Float(root) * 1000 + Float($0) }, "broadcast(Float) mismatch")
    var bd = [Double(r) + 0.5, -Double(r)]
    try bd.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: root) }
    try expect(bd == [Double(root) + 0.5, -Double(root)], "broadcast(Double) gave \(bd)")
    var bi = [Int64(r) << 35, Int64(r)]
    try bi.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
    try expect(bi == [0, 0], "broadcast(Int64) from 0 gave \(bi)")
    var bu = [UInt8](repeating: UInt8(r & 0xff), count: 77)
    try bu.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: root) }
    try expect(bu.allSatisfy { $0 == UInt8(root & 0xff) }, "broadcast(UInt8) gave \(bu[0])")
    let payload = Array("config from rank \(root): ".utf8) + (0..<(root * 37 % 1000)).map { UInt8($0 & 0xff) }
    let received = try comm.broadcast(bytes: r == root ? payload : [1, 2, 3], root: root)
    try expect(received == payload, "broadcast(bytes:) gave \(received.count) bytes, expected \(payload.count)")
    let empty = try comm.broadcast(bytes: r == 0 ? [] : [9], root: 0)
    try expect(empty.isEmpty, "broadcast(bytes:) of an empty array gave \(empty.count) bytes")
    let s = try comm.broadcast(string: r == 0 ? "héllo ✓" : "", root: 0)
    try expect(s == "héllo ✓", "broadcast(string:) gave \(s)")
    checks += 7

    // All-gathers: Double, and variable-length bytes (rank 0 sends nothing).
    let gd = try comm.allGather(Double(r) * 1.5)
    try expect(gd == (0..<n).map { Double($0) * 1.5 }, "allGather(Double) gave \(gd)")
    let mine = (0..<(r * 3)).map { UInt8((r + $0) & 0xff) }
    let gb = try comm.allGather(bytes: mine)
    try expect(gb.count == n, "allGather(bytes:) gave \(gb.count) entries")
    for i in 0..<n {
        let want = (0..<(i * 3)).map { UInt8((i + $0) & 0xff) }
        try expect(gb[i] == want, "allGather(bytes:)[\(i)] has \(gb[i].count) bytes, expected \(want.count)")
    }
    let strings = try comm.allGather(string: "rank-\(r)")
    try expect(strings == (0..<n).map { "rank-\($0)" }, "allGather(string:) gave \(strings)")
    try comm.checkSame("same-everywhere", what: "test value")
    if n > 1 {
        do {
            try comm.checkSame(r == n - 1 ? "odd" : "even", what: "test value")
            throw SelfTestFailure(message: "checkSame did not detect a differing rank")
        } catch DistributedError.mismatch {}
    }
    checks += 5

    try comm.barrier()
    checks += 1

    let hostSummary = byHost.keys.sorted().map { "\($0):\(byHost[$0]!.count)" }.joined(separator: ",")
    return "communicator self-test passed: backend=\(comm.backendName) ranks=\(n) hosts=\(hostSummary) checks=\(checks)"
}

/// For testing fatal-error handling: `failingRank` throws while every other rank waits
/// in a barrier. Call it inside `runOrAbort`: the job must end (MPI_Abort) rather than
/// hang. Never returns normally when `failingRank` is a valid rank.
public func communicatorFailureTest(_ comm: Communicator, failingRank: Int) throws {
    try comm.barrier()
    if comm.rank == failingRank {
        throw SelfTestFailure(message: "deliberate failure on rank \(failingRank)")
    }
    try comm.barrier()
}
