// gdqr-fuzz: fuzzes (or replays inputs through) the readers that need the
// package's modules: the .gdqr model file, the YAML config, COCO JSON, PNG/JPEG.
//
//   gdqr-fuzz TARGET --seeds DIR FILE...   seed inputs for TARGET from valid FILEs
//   gdqr-fuzz TARGET FILE|DIR...           replay: every file through the readers;
//                                          exits 1 if a rejection's message does not
//                                          name the input (a crash ends it anyway)
// Built with `-sanitize=fuzzer,address -DFUZZING` (Cluster/fuzz-package-readers.sh)
// it is a libFuzzer binary instead: FUZZ_TARGET=TARGET gdqr-fuzz [flags] CORPUS...
// The normal build keeps the replay mode, so the test command runs the committed
// corpora (Tests/fuzz/corpus/TARGET) through the release readers.
import Foundation

@main
enum ReaderFuzz {
    static func main() throws {
        #if FUZZING
        exit(fuzzMain())
        #endif
        let args = CommandLine.arguments
        guard args.count >= 2, let target = FuzzTarget(rawValue: args[1]) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: gdqr-fuzz \(names) (--seeds DIR FILE... | FILE|DIR...)\n".utf8))
            exit(2)
        }
        // Inputs of readers that take a path are written here (memory, not disk).
        let scratch = "/dev/shm/gdqr-fuzz-\(getpid())"
        let status: Int32
        if args.count >= 4, args[2] == "--seeds" {
            try writeSeeds(target, dir: args[3], from: Array(args.dropFirst(4)))
            status = 0
        } else {
            status = try replay(target, scratch: scratch, paths: Array(args.dropFirst(2)))
        }
        unlink(scratch)
        exit(status)
    }

    /// Seeds from valid files: each whole file, a truncated copy and, for models,
    /// the structured form that reaches the header checks.
    static func writeSeeds(_ target: FuzzTarget, dir: String, from paths: [String]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var written = 0
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { throw FuzzError("cannot read \(path)") }
            let bytes = [UInt8](data)
            let base = (path as NSString).lastPathComponent
            var seeds = [(base, bytes)]
            if bytes.count > 8 { seeds.append((base + ".trunc", Array(bytes.prefix(bytes.count * 2 / 3)))) }
            if target == .model, let s = FuzzTarget.structuredModelSeed(bytes) { seeds.append((base + ".structured", s)) }
            for (name, b) in seeds {
                guard FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(b)) else {
                    throw FuzzError("cannot write \(dir)/\(name)")
                }
                written += 1
            }
        }
        print("\(target.rawValue): \(written) seeds in \(dir)")
    }

    /// Every file (or every file of a folder) through the target's readers; returns
    /// the exit status: 1 when a rejection's message does not name the input.
    static func replay(_ target: FuzzTarget, scratch: String, paths: [String]) throws -> Int32 {
        var files: [String] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FuzzError("no such file: \(path)") }
            if isDir.boolValue {
                files += try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        var accepted = 0, rejected = 0, unclear: [String] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw FuzzError("cannot read \(file)") }
            for o in target.run([UInt8](data), scratch: scratch) {
                switch o {
                case .accepted: accepted += 1
                case .rejected(let message, let names):
                    rejected += 1
                    if !message.contains(names) { unclear.append("\(file): \(message)") }
                }
            }
        }
        print("\(target.rawValue): \(files.count) inputs, \(accepted) readings accepted, \(rejected) rejected "
              + "with a message naming the input or flag, \(unclear.count) without")
        for u in unclear.prefix(10) { print("  unclear: \(u)") }
        return unclear.isEmpty ? 0 : 1
    }
}

struct FuzzError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = "gdqr-fuzz: " + d }
}

#if FUZZING
// libFuzzer without its main (libclang_rt.fuzzer_no_main): main hands it the
// callback through its driver entry point.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

nonisolated(unsafe) private var fuzzTarget = FuzzTarget.model
nonisolated(unsafe) private var fuzzScratch = ""

/// Runs libFuzzer (its flags and corpora are the command line) on FUZZ_TARGET.
func fuzzMain() -> Int32 {
    let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        print("gdqr-fuzz: FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue)), not '\(name)'")
        return 2
    }
    fuzzTarget = t
    fuzzScratch = "/dev/shm/gdqr-fuzz-\(getpid())"
    defer { unlink(fuzzScratch) }
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
        _ = fuzzTarget.run(bytes, scratch: fuzzScratch)
        return 0
    }
}
#endif
