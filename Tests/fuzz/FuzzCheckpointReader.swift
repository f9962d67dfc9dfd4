// libFuzzer harness for the checkpoint and safetensors readers. Built by
// Tests/scripts/fuzz-readers.sh together with the format sources (no Layers):
//   FUZZ_TARGET=checkpoint|safetensors  which reader to fuzz (default checkpoint)
//   GDQR_FUZZ_WRITE_SEEDS=DIR           write a seed corpus to DIR and exit
// Any input must end in a value or a thrown error: a crash, a sanitizer report or
// an allocation over libFuzzer's -malloc_limit_mb is a finding.
//
// For the checkpoint reader each input is tried twice: as is, and with its header
// and trailer checksums recomputed, so mutations reach the JSON parser, the
// table checks and zstd instead of stopping at the header checksum.

import Foundation

nonisolated(unsafe) var fuzzSafetensors = false

func seedCheckpoint(params: Int, shuffle: Bool, level: Int) -> [UInt8] {
    var x: UInt32 = 12345
    func next() -> Float { x = x &* 1_664_525 &+ 1_013_904_223; return Float(Int32(bitPattern: x)) / Float(1 << 31) * 0.1 }
    let p = (0..<params).map { _ in next() }
    let run = CheckpointRunInfo(step: 7, epoch: 1, stepInEpoch: 3, worldSize: 2, threads: 2, projectVersion: "0.1",
                                configYAML: "lr: 0.1\n", configHash: "h", rngState: ["s": 9], metadata: ["k": "v"])
    let c = CheckpointContents(run: run, sections: [CheckpointSection(name: "params", floats: p),
                                                    CheckpointSection(name: "momentum", floats: [Float](repeating: 0, count: params)),
                                                    CheckpointSection(name: "statistics", floats: [1, 2, 3])],
                               tensors: [CheckpointTensor(name: "w", section: "params", offset: 0, count: params, shape: [params]),
                                         CheckpointTensor(name: "s", section: "statistics", offset: 1, count: 2, shape: [2, 1])])
    return try! CheckpointFile.encode(c, level: level, shuffle: shuffle)
}

func writeSeeds(_ dir: String) {
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    func put(_ name: String, _ b: [UInt8]) { FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(b)) }
    if fuzzSafetensors {
        let t = [SafeTensor(name: "a", shape: [2, 2], floats: [1, 2, 3, 4]), SafeTensor(name: "b", shape: [3], int32s: [1, 2, 3])]
        let b = try! SafetensorsFile.encode(tensors: t, metadata: ["format": "pt"])
        put("valid.safetensors", b)
        put("trunc.safetensors", Array(b.prefix(b.count / 2)))
        return
    }
    for (i, (n, sh, lv)) in [(16, true, 1), (200, false, 3), (1000, true, 3)].enumerated() {
        let b = seedCheckpoint(params: n, shuffle: sh, level: lv)
        put("valid-\(i).gdqrckpt", b)
        put("trunc-\(i).gdqrckpt", Array(b.prefix(b.count - 20)))
        put("head-\(i).gdqrckpt", Array(b.prefix(b.count / 3)))
    }
}

/// Recomputes the header and trailer CRCs of a checkpoint-shaped input, if it has room for them.
func fixChecksums(_ b: inout [UInt8]) -> Bool {
    guard b.count >= 40 else { return false }
    var h = 0
    for i in 0..<8 { h |= Int(b[12 + i]) << (8 * i) }
    guard h >= 0, h <= b.count - 40 else { return false }
    let hc = b.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[24..<(24 + h)])) }
    for i in 0..<4 { b[20 + i] = UInt8(truncatingIfNeeded: hc >> (8 * UInt32(i))) }
    let tc = b.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(b.count - 16)])) }
    for i in 0..<4 { b[b.count - 16 + i] = UInt8(truncatingIfNeeded: tc >> (8 * UInt32(i))) }
    return true
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let env = ProcessInfo.processInfo.environment
    fuzzSafetensors = env["FUZZ_TARGET"] == "safetensors"
    if let dir = env["GDQR_FUZZ_WRITE_SEEDS"] {
        writeSeeds(dir)
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let buf = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
    if fuzzSafetensors {
        _ = try? SafetensorsFile.decode(buf, name: "fuzz")
        return 0
    }
    _ = try? CheckpointFile.decode(buf, name: "fuzz", keep: true)
    var copy = Array(buf)
    if fixChecksums(&copy) {
        _ = try? copy.withUnsafeBytes { try CheckpointFile.decode($0, name: "fuzz", keep: true) }
    }
    return 0
}
