// Checkpoints in a run and resuming from them. Rank 0 writes
// runs/NAME/checkpoints/step-NNNNNNNN.gdqrckpt asynchronously (the loop only
// copies the arenas); `--resume auto|PATH` restores the arenas and the exact
// position (phase, epoch, step in epoch). Nothing else needs saving: the data
// order and augmentation are pure functions of (seed, epoch, sample), the
// learning rate a function of the step, and the quantizers' state lives in the
// arenas, so a resumed run continues bit for bit.

import Foundation
import Layers
import Checkpoint
import Distributed

/// Where a phase restarts: its name, epoch and step inside the epoch, plus the
/// run's records that the summary needs.
public struct ResumePoint {
    public var phase: String
    public var epoch: Int
    public var stepInEpoch: Int
    public var globalStep: Int
    public var bestTestAccuracy: Double
    public var metadata: [String: String]
    public var contents: CheckpointContents?
    public var path: String
}

enum ResumeLoader {
    /// Finds the checkpoint to resume from (rank 0), reads it, and tells every rank
    /// which phase and position it holds; the arenas travel later, by broadcast,
    /// once the phase's network exists. Returns nil when `auto` finds nothing.
    static func load(_ request: String, ctx: TrainingContext) throws -> ResumePoint? {
        let comm = ctx.comm
        var path = ""
        var contents: CheckpointContents?
        if comm.rank == 0 {
            if request == "auto" {
                let dir = (ctx.folder!.path as NSString).appendingPathComponent("checkpoints")
                let found = CheckpointDirectory.newestValid(dir) { skipped, error in
                    Log.warning("resume: skipping \(skipped): \(error)")
                }
                path = found?.path ?? ""
                if path.isEmpty { Log.warning("resume: no valid checkpoint in \(dir); starting from the beginning") }
            } else {
                path = request
            }
            if !path.isEmpty {
                let c = try CheckpointFile.read(path)
                guard c.run.configHash == ctx.config.hashHex else {
                    throw TrainerError("\(path): written by config \(c.run.configHash), this run's resolved config is "
                        + "\(ctx.config.hashHex); resume with the same config (its config.yaml is in the checkpoint)")
                }
                contents = c
            }
        }
        path = try comm.broadcast(string: path, root: 0)
        if path.isEmpty { return nil }
        var ints: [Int64] = contents.map { [Int64($0.run.epoch), Int64($0.run.stepInEpoch), Int64($0.run.step)] } ?? [0, 0, 0]
        try ints.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
        let meta = try comm.broadcast(string: encode(contents?.run.metadata ?? [:]), root: 0)
        let metadata = decode(meta)
        guard let phase = metadata["phase"] else { throw TrainerError("\(path): checkpoint names no training phase") }
        ctx.progress.line("resume: \(path) (phase \(phase), epoch \(ints[0] + 1), step \(ints[1]))")
        return ResumePoint(phase: phase, epoch: Int(ints[0]), stepInEpoch: Int(ints[1]), globalStep: Int(ints[2]),
                           bestTestAccuracy: Double(metadata["best_test_accuracy"] ?? "") ?? 0,
                           metadata: metadata, contents: contents, path: path)
    }

    static func encode(_ m: [String: String]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: m, options: [.sortedKeys]), as: UTF8.self)
    }

    static func decode(_ s: String) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: String] ?? [:]
    }
}

/// Rank 0's checkpoint writer for one run; other ranks hold none.
final class RunCheckpoints {
    let writer: CheckpointWriter
    let ctx: TrainingContext
    private(set) var failedWrites = 0

    init?(ctx: TrainingContext) throws {
        guard let folder = ctx.folder else { return nil }
        let c = ctx.config.checkpoint
        let dir = folder.file("checkpoints")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        writer = try CheckpointWriter(directory: dir, keepLast: c.keepLast, level: c.zstdLevel, shuffle: c.byteShuffle)
        self.ctx = ctx
    }

    /// Snapshots the arena (the only stall) and writes in the background.
    /// Returns the seconds the training loop was held up.
    func save(_ arena: ParameterArena, phase: String, globalStep: Int, epoch: Int, stepInEpoch: Int,
              best: Double, metric: Double?, extra: [String: String]) throws -> Double {
        let t0 = now()
        var meta = extra
        meta["phase"] = phase
        meta["best_test_accuracy"] = String(best)
        let run = CheckpointRunInfo(step: globalStep, epoch: epoch, stepInEpoch: stepInEpoch,
                                    worldSize: ctx.comm.size, threads: ctx.threads,
                                    projectVersion: "gdqr 0.1.0", configYAML: ctx.config.resolvedYAML,
                                    configHash: ctx.config.hashHex, metadata: meta)
        let best = ctx.config.checkpoint.keepBest ? metric : nil
        do {
            try writer.submit(arena: arena, run: run, metric: best)
        } catch let e as CheckpointError where tolerated(e) {
            // That was the previous write's failure; this snapshot is still written.
            try writer.submit(arena: arena, run: run, metric: best)
        }
        return now() - t0
    }

    func finish() throws {
        do { try writer.finish() } catch let e as CheckpointError where tolerated(e) {}
    }

    /// Storage failures (full or read-only file system) under
    /// `checkpoint.on_write_error: continue` are warned about and counted; any
    /// other error stops the run. The writer has already removed the partial file.
    private func tolerated(_ e: CheckpointError) -> Bool {
        guard e.storage, ctx.config.checkpoint.onWriteError == .continue else { return false }
        failedWrites += 1
        Log.warning("checkpoint not written (\(failedWrites) so far), training goes on (checkpoint.on_write_error: continue): \(e.message)")
        return true
    }
}
