// Checkpoints of a ParameterArena: sections "params" (values), "momentum" and
// "statistics", and one tensor entry per arena entry (parameters in the params
// section, with the same offsets in momentum under "NAME@momentum"; statistics in
// the statistics section). Kept apart from the format code, which must not
// depend on Layers (the fuzz harness builds it alone).

import Layers

extension CheckpointContents {
    public static let paramsSection = "params"
    public static let momentumSection = "momentum"
    public static let statisticsSection = "statistics"
    public static let momentumSuffix = "@momentum"

    /// The tensor table an arena's checkpoint has.
    public static func tensorTable(for arena: ParameterArena) -> [CheckpointTensor] {
        arena.params.map { CheckpointTensor(name: $0.name, section: paramsSection, offset: $0.offset, count: $0.count, shape: $0.shape) }
        + arena.params.map { CheckpointTensor(name: $0.name + momentumSuffix, section: momentumSection, offset: $0.offset, count: $0.count, shape: $0.shape) }
        + arena.stats.map { CheckpointTensor(name: $0.name, section: statisticsSection, offset: $0.offset, count: $0.count, shape: $0.shape) }
    }

    /// Copies the arena's values, momentum and statistics.
    public init(arena: ParameterArena, run: CheckpointRunInfo) {
        self.init(run: run, sections: [], tensors: [])
        fill(from: arena)
    }

    /// Copies the arena's buffers into this value, reusing the section arrays'
    /// storage when they already have the right sizes (the snapshot of an
    /// asynchronous write: a few memcpys, no allocation).
    public mutating func fill(from arena: ParameterArena) {
        let want: [(String, UnsafeMutablePointer<Float>, Int)] = [
            (Self.paramsSection, arena.values, arena.parameterCount),
            (Self.momentumSection, arena.momentum, arena.parameterCount),
            (Self.statisticsSection, arena.statistics, arena.statisticCount),
        ]
        if sections.map(\.name) != want.map(\.0) || zip(sections, want).contains(where: { $0.floats.count != $1.2 }) {
            sections = want.map { CheckpointSection(name: $0.0, floats: [Float](repeating: 0, count: $0.2)) }
            tensors = Self.tensorTable(for: arena)
        }
        for i in want.indices where want[i].2 > 0 {
            sections[i].floats.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: want[i].1, count: want[i].2) }
        }
    }

    /// Copies the three sections back into the arena after checking that the
    /// tensor table matches the arena's (names, shapes, offsets, in order); the
    /// error names the first tensor that differs.
    public func restore(into arena: ParameterArena, file: String = "<checkpoint>") throws {
        let expected = Self.tensorTable(for: arena)
        for (i, e) in expected.enumerated() {
            guard i < tensors.count else {
                throw CheckpointError(file: file, section: e.section, "tensor '\(e.name)' (shape \(e.shape)) is missing from the checkpoint, which has \(tensors.count) tensors where the model has \(expected.count)")
            }
            let t = tensors[i]
            guard t.name == e.name else {
                throw CheckpointError(file: file, section: e.section, "tensor \(i) is '\(t.name)' in the checkpoint, the model has '\(e.name)' there")
            }
            guard t.shape == e.shape else {
                throw CheckpointError(file: file, section: e.section, "tensor '\(e.name)': shape \(t.shape) in the checkpoint, the model needs \(e.shape)")
            }
            guard t.section == e.section, t.offset == e.offset, t.count == e.count else {
                throw CheckpointError(file: file, section: e.section, "tensor '\(e.name)': at \(t.section)[\(t.offset)..<\(t.offset + t.count)] in the checkpoint, the model has it at \(e.section)[\(e.offset)..<\(e.offset + e.count)]")
            }
        }
        if tensors.count > expected.count {
            throw CheckpointError(file: file, "tensor '\(tensors[expected.count].name)' in the checkpoint is not in the model (\(tensors.count - expected.count) extra)")
        }
        let targets: [(String, UnsafeMutablePointer<Float>, Int)] = [
            (Self.paramsSection, arena.values, arena.parameterCount),
            (Self.momentumSection, arena.momentum, arena.parameterCount),
            (Self.statisticsSection, arena.statistics, arena.statisticCount),
        ]
        for (name, p, n) in targets {
            guard let s = sections.first(where: { $0.name == name }) else {
                throw CheckpointError(file: file, section: name, "section '\(name)' is missing")
            }
            guard s.floats.count == n else {
                throw CheckpointError(file: file, section: name, "section '\(name)' has \(s.floats.count) elements, the model has \(n)")
            }
            if n > 0 { s.floats.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: n) } }
        }
    }
}

extension CheckpointWriter {
    /// Snapshots the arena (values, momentum, statistics) with `run` and writes it
    /// in the background; see `submit(metric:_:)`.
    public func submit(arena: ParameterArena, run: CheckpointRunInfo, metric: Double? = nil) throws {
        try submit(metric: metric) { c in
            c.run = run
            c.fill(from: arena)
        }
    }
}
