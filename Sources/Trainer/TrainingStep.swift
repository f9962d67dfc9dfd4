// One training step of a phase, top to bottom as DESIGN.md draws it ("The one
// training step"), on every rank:
//
//   1. batch       the loader's next batch: this rank's slice of the global batch
//                  (trainEpoch).
//   2. forward, loss, backward   model.trainStep (PhaseModel.swift): the layers'
//                  explicit forward and backward; the loss gradient is scaled by
//                  1/ranks, so that the all-reduced sums are the means.
//   3. bucketed all-reduce   overlapped with backward: as backward finishes the
//                  gradients of a stretch of the arena (last layer first), it
//                  calls rt.gradientsReady, wired below to GradientSync.ready,
//                  which starts a non-blocking all-reduce of each complete bucket;
//                  after backward, GradientSync.finish reduces the rest and waits.
//   4. statistics all-reduce   the running BN and Scale-Clip statistics, every
//                  distributed.sync_stats_every steps (SyncBN reduces its batch
//                  sums inside forward, through rt.syncBatchNorm).
//   5. non-finite guard   never step on a NaN or infinity: stop naming the first
//                  tensor, or skip the step (checkpoint.nonfinite).
//   6. optimizer   SGD with momentum, identical on every rank; every
//                  distributed.checksum_every steps the ranks compare checksums
//                  of their parameters.
//   7. checkpoint hook   every checkpoint.every_steps, and on preemption (every
//                  rank stops after the same step; rank 0 writes it).
//
// Logging, evaluation and the epoch-end checkpoints are in TrainingPhase.swift;
// the test seams (fault injection) in FaultInjection.swift.

import Foundation
import TensorEngine
import Layers
import Datasets
import Distributed

extension TrainingPhase {
    /// The distributed wiring of a phase's runtime: the bucketed gradient all-reduce
    /// (step 3; nil on one rank), overlapped with backward when the model reports
    /// finished gradients, and SyncBN (also on one rank, where the all-reduce is the
    /// identity, so that a run's arithmetic does not depend on the world size).
    static func wire(_ rt: Runtime, model: PhaseModel, ctx: TrainingContext) -> GradientSync? {
        let c = ctx.config, comm = ctx.comm
        var sync: GradientSync?
        if comm.size > 1 {
            let s = GradientSync(comm: comm, arena: model.arena, bucketBytes: Int(c.distributed.bucketMB * 1_048_576))
            if model.overlapsGradientSync { rt.gradientsReady = { offset in s.ready(from: offset) } }
            sync = s
        }
        if c.distributed.syncBN {
            rt.syncBatchNorm = { buffer in
                do { try comm.allReduce(buffer, op: .sum) } catch {
                    comm.abort(code: 1, message: "SyncBN all-reduce failed: \(error)")
                }
            }
        }
        return sync
    }

    /// The steps of an epoch the loader has started: batch, step, log line, checkpoint
    /// hook, preemption. `checkpoint(epoch, stepInEpoch, &result)` saves (rank 0).
    func trainEpoch(_ epoch: Int, sgd: SGD, schedule: LRSchedule, runStart: Double, window: inout StepWindow,
                    result: inout PhaseResult, checkpoints: RunCheckpoints?,
                    checkpoint: (Int, Int, inout PhaseResult) throws -> Void) throws {
        let c = ctx.config, steps = loader.stepsPerEpoch
        while true {
            // 1. Batch. Time blocked waiting for the data (decoding behind, or the in-memory fill).
            let w0 = now()
            guard let batch = try loader.next() else { break }
            let wait = now() - w0
            result.dataWaitSeconds += wait
            let step = epoch * steps + batch.step
            let lr = schedule.lr(at: step)
            rt.step = step
            let t0 = now()
            let r = try trainStep(batch, sgd: sgd, lr: Float(lr), result: &result)
            let dt = now() - t0
            result.trainSeconds += dt
            result.trainImages += c.train.batchSize
            result.steps += 1
            window.add(loss: Double(r.loss) * Double(r.counted), correct: r.correct, count: r.counted, seconds: dt, dataWait: wait)
            if (step + 1) % c.train.logEverySteps == 0 || batch.step == steps - 1 {
                try logTrain(&window, step: step + 1, epoch: epoch, lr: lr, stepInEpoch: batch.step + 1,
                             steps: steps, runStart: runStart)
            }
            // 7. Checkpoint hook.
            if c.checkpoint.everySteps > 0 && (step + 1) % c.checkpoint.everySteps == 0 {
                try checkpoint(epoch, batch.step + 1, &result)
            }
            // Preemption (SIGTERM/SIGUSR1, Distributed/StopSignal.swift): every rank stops
            // after this same step; rank 0 checkpoints it before any rank exits.
            if try StopSignal.agreed(ctx.comm) {
                try checkpoint(epoch, batch.step + 1, &result)
                try checkpoints?.finish()
                try ctx.comm.barrier()
                let global = stepOffset + step + 1
                throw Preempted(step: global, checkpoint: checkpoints == nil ? nil
                                    : String(format: "checkpoints/step-%08d.gdqrckpt", global),
                                signal: StopSignal.received)
            }
        }
    }

    /// Steps 2 to 6: forward, loss, backward with the bucketed all-reduce, statistics
    /// all-reduce, non-finite guard, SGD update.
    func trainStep(_ batch: Batch, sgd: SGD, lr: Float, result: inout PhaseResult) throws -> StepLoss {
        rt.training = true
        StepFaults.active?.beforeStep()
        sync?.beginStep()
        // 2. Forward, loss, backward (3. starts bucket all-reduces from inside backward).
        let r = try model.trainStep(batch, rt: rt, gradientScale: 1 / Float(ctx.comm.size))
        gradientHook?(rt)
        StepFaults.active?.afterBackward(model.arena, step: rt.step)
        let a = model.arena, comm = ctx.comm, d = ctx.config.distributed
        if let sync {
            // 3. The buckets backward did not start, then wait for all.
            try sync.finish()
            exposedWindow += sync.exposedSeconds
            // 4. Statistics all-reduce.
            if (rt.step + 1) % d.syncStatsEvery == 0 {
                let t0 = now()
                try comm.allReduceMean(UnsafeMutableBufferPointer(start: a.statistics, count: a.statisticCount))
                exposedWindow += now() - t0
            }
        }
        // 5. Non-finite guard: stop naming the first tensor, or skip the step
        // (identically on every rank: the gradients are already averaged).
        if let bad = firstNonFinite(loss: r.loss) {
            let what = "non-finite \(bad) at epoch \(batch.epoch + 1) step \(batch.step + 1) (global step \(rt.step + 1))"
            guard ctx.config.checkpoint.nonfinite == .skip else { throw TrainerError("\(name): \(what)") }
            result.skippedSteps += 1
            ctx.progress.line("\(name): skipped a step: \(what)")
            return r
        }
        // 6. Optimizer, and the cross-rank consistency check.
        sgd.step(lr: lr)
        if comm.size > 1 && d.checksumEvery > 0 && (rt.step + 1) % d.checksumEvery == 0 {
            try ParameterChecksum.verify(a, comm: comm, step: rt.step + 1)
        }
        return r
    }

    /// The first non-finite thing of a step: the loss, else the first gradient
    /// tensor (in layer order) holding a NaN or infinity.
    func firstNonFinite(loss: Float) -> String? {
        if !loss.isFinite { return "training loss \(loss)" }
        let a = model.arena
        if allFinite(a.grads, count: a.parameterCount) { return nil }   // the common case: one SIMD pass
        for e in a.params {
            let g = a.grads + e.offset
            for i in 0..<e.count where !g[i].isFinite {
                return "gradient \(g[i]) in tensor '\(e.name)' (element \(i))"
            }
        }
        return nil
    }
}
