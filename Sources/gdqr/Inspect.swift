// `gdqr inspect`: what an integer model file or a training checkpoint holds,
// after verifying every checksum.

import ArgumentParser
import Foundation
import IntegerInference
import Checkpoint
import Export
import ModelTools

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a .gdqr model or a .gdqrckpt checkpoint and list what it holds.")

    @Argument(help: "A .gdqr model file or a .gdqrckpt checkpoint.")
    var model: String

    func run() throws {
        if model.hasSuffix(".gdqrckpt") { return try inspectCheckpoint(model) }
        let m = try ModelFile.read(model)   // checks every checksum and validates the model
        print("\(model): format version \(ModelFile.version(for: m)), \(fileSize(model)) bytes, checksums OK")
        let x = m.input
        print("input \(x.channels)x\(x.height)x\(x.width) uint8, normalization mean \(m.normMean) std \(m.normStd), \(m.classes) classes\(m.task == .classification ? "" : ", task \(m.task.rawValue)")")
        for (k, v) in m.info.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
        var weightBytes = 0, params = 0
        for op in m.ops {
            let y = m.values[op.output]
            let ins = op.inputs.map { m.values[$0].name }.joined(separator: ", ")
            var line = "\(op.kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(op.name.padding(toLength: 26, withPad: " ", startingAt: 0))"
            line += " \(y.channels)x\(y.height)x\(y.width)"
            if op.hasWeights {
                let b = op.weightBits <= 4 ? Int4Packing.packedCount(op.weightCount) : op.weightCount
                weightBytes += b; params += op.weightCount
                line += "  w\(op.weightBits) k\(op.kernel) s\(op.stride) p\(op.padding)  \(op.weightCount) weights, \(b) bytes"
            }
            if y.kind == .integer { line += "  -> a\(y.bits) T=\(y.threshold)" } else { line += "  -> float" }
            line += "  <- \(ins)"
            print(line)
        }
        print("\(params) weights in \(weightBytes) bytes (packed), \(m.ops.filter { $0.hasWeights }.reduce(0) { $0 + 2 * $1.outChannels }) float multipliers/biases")
    }
}

/// A checkpoint's header, sections and tensors; `verify` checks every checksum.
func inspectCheckpoint(_ path: String) throws {
    let h = try CheckpointFile.verify(path)
    let r = h.run
    print("\(path): checkpoint format version \(h.formatVersion), \(fileSize(path)) bytes, checksums OK")
    print("step \(r.step) (epoch \(r.epoch), step \(r.stepInEpoch) in the epoch), world size \(r.worldSize), "
        + "\(r.threads) threads per rank, written by \(r.projectVersion)")
    print("config hash \(r.configHash)")
    for (k, v) in r.metadata.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
    for s in h.sections {
        print("section \(s.name): \(s.count) floats, \(s.uncompressedLength) -> \(s.compressedLength) bytes"
            + (s.byteShuffled ? " (byte-shuffled)" : ""))
    }
    for t in h.tensors { print("  \(t.section) \(t.name) \(t.shape)") }
}
