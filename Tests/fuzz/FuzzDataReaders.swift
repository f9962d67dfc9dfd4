// libFuzzer harness for the dataset file readers. Built by Tests/scripts/fuzz-readers.sh
// together with Sources/Datasets/{IDX,Gzip,DataError,ScenesPGM}.swift only:
//   FUZZ_TARGET=idx   IDX images and labels, raw or gzip (the reader decides by the
//                     magic bytes 1f 8b, so one target reaches both; seeds of each)
//   FUZZ_TARGET=pgm   binary PGM scene images and masks
//   GDQR_FUZZ_WRITE_SEEDS=DIR  write a seed corpus to DIR and exit
// The IDX reader takes a path, so each input is written to a file in /dev/shm first.
// Any input must end in a value or a thrown DataError: a crash, a trap (precondition,
// overflow, out-of-range index), a sanitizer report or an allocation over libFuzzer's
// -malloc_limit_mb is a finding.

import Foundation

nonisolated(unsafe) var fuzzPGM = false
nonisolated(unsafe) var fuzzPath = ""

func writeDataSeeds(_ dir: String) {
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    func put(_ name: String, _ b: [UInt8]) { _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(b)) }
    if fuzzPGM {
        let px = (0..<48).map { UInt8(truncatingIfNeeded: $0 * 5) }
        let p = PGM.encode(px, width: 8, height: 6)
        put("valid.pgm", p)
        put("comment.pgm", Array("P5\n# a comment\n8 6\n255\n".utf8) + px)
        put("trunc.pgm", Array(p.prefix(p.count - 7)))
        return
    }
    let images = IDX.encodeImages((0..<(3 * 4 * 5)).map { UInt8($0) }, count: 3, rows: 4, cols: 5)
    let labels = IDX.encodeLabels([0, 3, 9, 1])
    put("images.idx", images)
    put("labels.idx", labels)
    put("images-trunc.idx", Array(images.prefix(images.count - 3)))
    if let gz = try? Gzip.compress(images) {
        put("images.idx.gz", gz)
        put("images-trunc.idx.gz", Array(gz.prefix(gz.count / 2)))
    }
    if let gz = try? Gzip.compress(labels) { put("labels.idx.gz", gz) }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let env = ProcessInfo.processInfo.environment
    fuzzPGM = env["FUZZ_TARGET"] == "pgm"
    fuzzPath = "/dev/shm/gdqr-fuzz-\(getpid()).idx"
    if let dir = env["GDQR_FUZZ_WRITE_SEEDS"] {
        writeDataSeeds(dir)
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    if fuzzPGM {
        _ = try? PGM.decode(bytes, name: "fuzz.pgm")
        return 0
    }
    // An empty file is left out: Foundation's Data(contentsOf:) leaks its 4 KiB read
    // buffer on one (seen in FoundationEssentials of Swift 6.3.1; LeakSanitizer stops
    // the run). The empty-file message is checked by Cluster/bad-inputs.sh instead.
    guard !bytes.isEmpty else { return 0 }
    // Plain open/write (FileManager.createFile writes a temporary file and renames it: slower).
    let fd = open(fuzzPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    guard written == bytes.count else { return 0 }
    // The whole file, then the first 2 records only (a gzip file is inflated only that far).
    _ = try? IDX.readImages(path: fuzzPath)
    _ = try? IDX.readImages(path: fuzzPath, limit: 2)
    _ = try? IDX.readLabels(path: fuzzPath, classes: 10)
    _ = try? IDX.readLabels(path: fuzzPath, classes: 10, limit: 2)
    return 0
}
