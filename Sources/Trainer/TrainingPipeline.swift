// A whole run: an FP32 phase, and with `quant.enabled` a GDQR phase that
// fine-tunes the FP32 weights with quantized weights and activations (or
// calibrates them, for post-training quantization). Writes the run folder's
// models and summary.json.

import Foundation
import JSONFormat
import TensorEngine
import Layers
import GDQR
import IntegerInference
import Checkpoint
import Export

public final class TrainingPipeline {
    public let ctx: TrainingContext

    public init(_ ctx: TrainingContext) { self.ctx = ctx }

    /// The policy for the config's quant section (validated against the model).
    public static func policy(for c: RunConfig, spec: ModelSpec) throws -> GDQRPolicy {
        var s = QuantSettings()
        let q = c.quant
        s.wBits = q.wBits; s.aBits = q.aBits
        s.kW = Float(q.kW); s.kA = Float(q.kA); s.rho = Float(q.rho)
        s.groups = q.groups; s.learnK = q.learnK; s.wFullRange = q.wFullRange; s.wSTEMask = q.wSTEMask
        s.firstLayerBits = q.firstLayerBits; s.lastLayerBits = q.lastLayerBits
        s.clipWarmupSteps = q.clipWarmupSteps
        s.mode = QuantMode(rawValue: q.mode.rawValue)!
        s.overrides = q.layerOverrides.map { LayerQuantOverride(layer: $0.layer, wBits: $0.wBits, aBits: $0.aBits) }
        return try GDQRPolicy(s, model: spec)
    }

    /// "w4a4" for 4-bit weights and activations.
    public static func bitsTag(_ c: RunConfig) -> String { "w\(c.quant.wBits)a\(c.quant.aBits)" }

    public func run() throws -> [String: Any] {
        let c = ctx.config
        let start = now()
        var summary: [String: Any] = [
            "epochs": c.train.epochs, "world_size": ctx.comm.size, "threads_per_rank": ctx.threads,
            "seed": c.seed, "config_hash": c.hashHex,
        ]
        let resume = try ctx.options.resume.flatMap { try ResumeLoader.load($0, ctx: ctx) }
        if let resume { try ctx.folder?.resumeMetrics(atStep: resume.globalStep) }
        let checkpoints = try RunCheckpoints(ctx: ctx)
        var fp32: TrainingPhase?
        var fp32Result: PhaseResult?
        var stalls: [Double] = []
        let quantized = c.quant.enabled && c.quant.mode != .psg
        let ptq = [.ptqMinmax, .ptqSearch, .ptqEasyQuant].contains(c.quant.mode)
        let tag = Self.bitsTag(c)
        let fp32Epochs = quantized ? c.quant.fp32PhaseEpochs : c.train.epochs
        let resumeInQuant = resume != nil && resume!.phase != "fp32"
        if fp32Epochs > 0 && !(quantized && ctx.options.initFrom != nil) && !resumeInQuant {
            // PSG: float training whose weight gradients are scaled by lambda*|w - Q(w)|,
            // the quantizers running in bypass only to provide Q(w); quantized afterwards.
            let psg = c.quant.enabled && c.quant.mode == .psg ? try Self.policy(for: c, spec: ctx.modelSpec) : nil
            psg?.bypass = true
            let phase = try TrainingPhase(name: psg == nil ? "fp32" : "psg", ctx: ctx, policy: psg,
                                          epochs: fp32Epochs, lr: c.optim.lr)
            if let psg {
                let lambda = Float(c.quant.psgLambda)
                phase.gradientHook = { rt in
                    psgScaleGradients(arena: rt.arena, quantizers: psg.weightQuantizers, lambda: lambda)
                }
            }
            if resume == nil {
                if let path = ctx.options.initFrom {
                    try ArenaSafetensors.load(phase.model.arena, from: path,
                                              optional: { psg != nil && ($0.role == .quantScale || $0.role == nil) })
                }
                try phase.broadcastState()
            }
            var r = try phase.run(resume: resume, checkpoints: checkpoints)
            try save(phase.model, "model-fp32.safetensors")
            if let psg {
                // Then quantize the PSG-trained weights (min-max thresholds) and evaluate.
                PostTraining.calibrateMinMax(policy: psg, arena: phase.model.arena) {
                    phase.calibrate(batches: c.quant.ptqCalibrationBatches)
                }
                let e = try phase.evaluate()
                summary["psg_float_test_\(phase.model.primaryMetric)"] = r.testAccuracy
                r.bestTestAccuracy = 0
                r.record(e)
                try phase.writeQuantizationSnapshot(phase: tag, step: r.epochs * phase.stepsPerEpoch, epoch: r.epochs)
                summary["quant_mode"] = "psg"
                summary["quant_bits"] = tag
                ctx.progress.line(String(format: "psg: after %@ quantization, test %@ %.2f%%", tag,
                                         phase.model.primaryMetric, e.primary * 100))
            } else {
                try phase.writePicture()
            }
            fp32 = phase
            fp32Result = r
            stalls += r.checkpointStalls
            for (key, v) in Self.summaryMetrics(r, primary: phase.model.primaryMetric) { summary["fp32_" + key] = v }
            summary["fp32_images_per_second"] = r.imagesPerSecond
        } else if let resume, resumeInQuant {
            // The FP32 phase's figures travelled in the checkpoint's metadata.
            for (key, text) in resume.metadata where key.hasPrefix("fp32_") && key != "fp32_steps" {
                if let v = Double(text) { summary[key] = v }
            }
        }
        var final = fp32Result
        var finalModel = fp32?.model
        if quantized {
            let policy = try Self.policy(for: c, spec: ctx.modelSpec)
            let fp32Steps = fp32Result.map { $0.epochs * (fp32?.stepsPerEpoch ?? 0) }
                ?? Int(resume?.metadata["fp32_steps"] ?? "") ?? 0
            let phase = try TrainingPhase(name: tag, ctx: ctx, policy: policy, epochs: c.train.epochs,
                                          lr: c.quant.qatLR, stepOffset: fp32Steps)
            if !resumeInQuant {
                if let fp32 {
                    phase.model.arena.copyMatching(from: fp32.model.arena)
                } else if let path = ctx.options.initFrom {
                    try ArenaSafetensors.load(phase.model.arena, from: path,
                                              optional: { $0.role == .quantScale || $0.role == nil })
                }
                try phase.broadcastState()
            }
            var extra = ["fp32_steps": String(fp32Steps)]
            for (key, v) in summary where key.hasPrefix("fp32_") {
                if let v = v as? Double { extra[key] = String(v) }
            }
            var r: PhaseResult
            if ptq {
                // Post-training quantization: calibrate thresholds on N batches of the
                // trained FP32 model, no training, then evaluate.
                let run = { phase.calibrate(batches: c.quant.ptqCalibrationBatches) }
                if c.quant.mode == .ptqSearch {
                    PostTraining.searchThresholds(policy: policy, arena: phase.model.arena, runBatches: run)
                } else if c.quant.mode == .ptqEasyQuant {
                    let choices = try PostTraining.searchLayerScales(policy: policy, arena: phase.model.arena,
                                                                     pool: ctx.pool, runBatches: run)
                    for l in choices {
                        ctx.progress.line(String(format: "  %@: output cosine %.5f (min-max %.5f)", l.name, l.cosine,
                                                 l.minMaxCosine))
                    }
                } else {
                    PostTraining.calibrateMinMax(policy: policy, arena: phase.model.arena, runBatches: run)
                }
                r = PhaseResult(name: tag)
                r.record(try phase.evaluate())
                try phase.writeQuantizationSnapshot(phase: tag, step: fp32Steps, epoch: 0)
                ctx.progress.line(String(format: "%@ post-training (%@, %d batches): test %@ %.2f%%", tag,
                                         c.quant.mode.rawValue, c.quant.ptqCalibrationBatches, phase.model.primaryMetric,
                                         r.testAccuracy * 100))
            } else {
                r = try phase.run(resume: resumeInQuant ? resume : nil, checkpoints: checkpoints, extra: extra)
            }
            try phase.writePicture()
            try save(phase.model, "model-\(tag).safetensors")
            for (key, v) in exportIntegerModel(phase.model, policy: policy, tag: tag) { summary[key] = v }
            stalls += r.checkpointStalls
            final = r
            finalModel = phase.model
            summary["quant_mode"] = c.quant.mode.rawValue
            summary["quant_bits"] = tag
        }
        guard let final, let finalModel else { throw TrainerError("nothing to train: train.epochs and quant phases are empty") }
        for (key, v) in Self.summaryMetrics(final, primary: finalModel.primaryMetric) { summary[key] = v }
        if let loss = final.testLoss { summary["test_loss"] = loss }
        summary["train_seconds"] = final.trainSeconds
        summary["images_per_second"] = final.imagesPerSecond
        summary["skipped_steps"] = final.skippedSteps
        summary["data_wait_seconds"] = final.dataWaitSeconds
        summary["data_wait_fraction"] = final.dataWaitSeconds / max(final.trainSeconds + final.dataWaitSeconds, 1e-9)
        if let names = ctx.classNames { summary["class_names"] = names }
        if let bad = try ctx.badFileCount() { summary["data_bad_files"] = bad }
        summary["parameters"] = finalModel.arena.parameterCount
        summary["model"] = finalModel.description
        summary["checkpoints_written"] = stalls.count - (checkpoints?.failedWrites ?? 0)
        if let failed = checkpoints?.failedWrites, failed > 0 { summary["checkpoint_write_failures"] = failed }
        if !stalls.isEmpty {
            summary["checkpoint_stall_ms_mean"] = stalls.reduce(0, +) / Double(stalls.count) * 1000
            summary["checkpoint_stall_ms_max"] = (stalls.max() ?? 0) * 1000
        }
        if let resume { summary["resumed_from"] = resume.path }
        summary["wall_seconds"] = now() - start
        summary["cpu_model"] = BuildInfo.hostCPUModel
        summary["cpu_features"] = CPULevel.cpuFeatures.joined(separator: " ")
        summary["isa_level"] = CPULevel.current.description
        for (name, kernel) in CPULevel.current.kernels { summary["kernel_" + name] = kernel }
        try ctx.folder?.write("summary.json", JSON.pretty(summary))
        return summary
    }

    func save(_ model: PhaseModel, _ file: String) throws {
        guard let folder = ctx.folder else { return }
        try ArenaSafetensors.save(model.arena, to: folder.file(file),
                                  metadata: ["config_hash": ctx.config.hashHex, "model": model.description])
    }

    /// Rank 0 folds the quantized phase into the integer model (batch norm folded, 4-bit
    /// levels) and writes RUN/model-TAG.gdqr and RUN/model-TAG.onnx, the same files and
    /// provenance as `gdqr export RUN` and `gdqr export --format onnx RUN`, then the parity
    /// report RUN/parity-TAG.json (ParityReport.swift). A model the
    /// integer engine cannot hold (a layer above 8 bits, an unquantized conv) is reported
    /// as a warning and in summary.json ("integer_model_error"): the float model stays the
    /// run's result, and the run does not fail after its training is done.
    func exportIntegerModel(_ model: PhaseModel, policy: GDQRPolicy, tag: String) -> [String: Any] {
        guard let folder = ctx.folder else { return [:] }
        let c = ctx.config
        let normalization = (mean: c.normalization.mean, std: c.normalization.std)
        let source = folder.file("model-\(tag).safetensors")
        do {
            let integer: IntegerModel
            if let m = model as? ClassifierModel {
                integer = try Folding.fold(m.net, normalization: normalization,
                                           info: c.modelInfo(source: source, model: m.net.spec.description))
            } else if let m = model as? SceneModel {
                integer = try Folding.fold(m.net, normalization: normalization,
                                           info: c.modelInfo(source: source, model: m.net.kind.rawValue))
            } else {
                return [:]
            }
            let gdqr = folder.file("model-\(tag).\(ModelFile.fileExtension)")
            try ModelFile.write(integer, to: gdqr)
            let onnx = folder.file("model-\(tag).onnx")
            let onnxBytes = try OnnxExport.write(integer, to: onnx)
            let gdqrBytes = ((try? FileManager.default.attributesOfItem(atPath: gdqr))?[.size] as? NSNumber)?.intValue ?? 0
            ctx.progress.line("wrote \(gdqr) (\(integer.ops.count) ops, \(gdqrBytes) bytes) and \(onnx) (\(onnxBytes) bytes)")
            var out: [String: Any] = ["integer_model_bytes": gdqrBytes, "onnx_bytes": onnxBytes]
            do {
                out.merge(try writeParityReport(integer, model: model, policy: policy, tag: tag)) { _, new in new }
            } catch {
                Log.warning("no parity report for \(tag): \(error)")
                out["parity_error"] = "\(error)"
            }
            return out
        } catch {
            Log.warning("no integer model for \(tag): \(error)")
            return ["integer_model_error": "\(error)"]
        }
    }

    /// A phase's test results for summary.json: "test_NAME" for every metric of the
    /// last evaluation and "best_test_PRIMARY" (test_accuracy and best_test_accuracy
    /// for the classifier; test_map, test_map50, ... or test_miou, ... for scenes).
    static func summaryMetrics(_ r: PhaseResult, primary: String) -> [String: Any] {
        var out: [String: Any] = ["best_test_" + primary: r.bestTestAccuracy]
        for (key, v) in r.testMetrics { out["test_" + key] = v }
        return out
    }
}
