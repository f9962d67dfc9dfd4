// Float weights in and out of the arena as safetensors, by PyTorch-style name
// (conv1.weight, layer1.0.bn1.running_mean, fc.bias, ...), so models move to and
// from PyTorch unchanged.

import Foundation
import Layers

public enum ArenaSafetensors {
    /// Writes every parameter and running statistic as F32.
    public static func save(_ arena: ParameterArena, to path: String, metadata: [String: String] = [:]) throws {
        let tensors = arena.namedTensors.map { t in
            SafeTensor(name: t.entry.name, shape: t.entry.shape,
                       floats: Array(UnsafeBufferPointer(start: t.pointer, count: t.entry.count)))
        }
        try SafetensorsFile.write(tensors: tensors, metadata: metadata, to: URL(fileURLWithPath: path))
    }

    /// Loads every parameter and statistic of the arena from `path`. A tensor the
    /// arena needs that the file lacks, or one of another shape, is an error naming
    /// it (and both shapes); tensors in the file the arena does not have are
    /// reported too, since a silently ignored weight usually means a wrong model.
    ///
    /// `optional` names arena entries the file may lack (they keep their values):
    /// quantizer parameters when a quantized model starts from float weights.
    public static func load(_ arena: ParameterArena, from path: String,
                            optional: (ArenaEntry) -> Bool = { _ in false }) throws {
        let file = try SafetensorsFile.read(URL(fileURLWithPath: path))
        var missing: [String] = []
        for t in arena.namedTensors {
            guard let s = file[t.entry.name] else {
                if !optional(t.entry) { missing.append(t.entry.name) }
                continue
            }
            guard s.shape == t.entry.shape else {
                throw SafetensorsError(file: path, tensor: t.entry.name,
                    "shape \(s.shape) in the file, the model needs \(t.entry.shape)")
            }
            guard s.dtype == .F32 || s.dtype == .F64 else {
                throw SafetensorsError(file: path, tensor: t.entry.name,
                    "dtype \(s.dtype.rawValue), expected F32 or F64")
            }
            let v = s.floats
            v.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress!, count: t.entry.count) }
        }
        if !missing.isEmpty {
            throw SafetensorsError(file: path, tensor: missing[0],
                "missing \(missing.count) tensor(s) the model needs: \(missing.prefix(5).joined(separator: ", "))"
                + (missing.count > 5 ? ", ..." : ""))
        }
        let known = Set(arena.namedTensors.map { $0.entry.name })
        let extra = file.keys.filter { !known.contains($0) }.sorted()
        if !extra.isEmpty {
            throw SafetensorsError(file: path, tensor: extra[0],
                "\(extra.count) tensor(s) in the file are not in the model: \(extra.prefix(5).joined(separator: ", "))"
                + (extra.count > 5 ? ", ..." : ""))
        }
    }
}
