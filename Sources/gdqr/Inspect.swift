// `gdqr inspect`: what an integer model file holds.

import ArgumentParser
import Foundation
import GDQR
import Checkpoint

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List an integer model's layers, bits and sizes; verify its checksums.")

    @Argument(help: "The .gdqr model file.")
    var model: String

    func run() throws {
        let m = try ModelFile.read(model)   // checks every checksum and validates the model
        print("\(model): format version \(ModelFile.formatVersion), \(fileSize(model)) bytes, checksums OK")
        let x = m.input
        print("input \(x.channels)x\(x.height)x\(x.width) uint8, normalization mean \(m.normMean) std \(m.normStd), \(m.classes) classes")
        for (k, v) in m.info.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
        var weightBytes = 0, params = 0
        for op in m.ops {
            let y = m.values[op.output]
            let ins = op.inputs.map { m.values[$0].name }.joined(separator: ", ")
            var line = "\(op.kind.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(op.name.padding(toLength: 26, withPad: " ", startingAt: 0))"
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
