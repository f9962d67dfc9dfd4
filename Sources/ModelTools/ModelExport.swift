// `gdqr export`'s work: a trained quantized run (its folder or its safetensors, with
// the config beside it) folded into the integer model (batch norm folded, 4-bit levels)
// and written as a .gdqr file or as ONNX; or a .gdqr file rewritten as ONNX. The
// provenance and normalisation are the ones rank 0 writes at the end of a run
// (RunConfig.modelInfo, RunConfig.normalization), so both give the same files.

import Foundation
import GDQR
import IntegerInference
import Export
import Trainer

public enum ModelExport {
    public enum Format: String { case gdqr, onnx }

    /// What was written: the file and its size, the folded model, the safetensors it came from.
    public struct Written {
        public let path: String
        public let bytes: Int
        public let model: IntegerModel
        /// The run's safetensors (nil when the source was a .gdqr file).
        public let source: String?
    }

    /// `out`: the output file (default: the source's name with the format's extension).
    public static func export(_ source: String, config: String?, format: Format, out: String?) throws -> Written {
        if source.hasSuffix(".\(ModelFile.fileExtension)") {
            guard format == .onnx else {
                throw ToolError(usage: "\(source): already an integer model; --format onnx rewrites it as ONNX")
            }
            let m = try ModelFile.read(source)
            let path = out ?? ((source as NSString).deletingPathExtension + ".onnx")
            return Written(path: path, bytes: try OnnxExport.write(m, to: path), model: m, source: nil)
        }
        let (cfg, _, _) = try LoadedRun.resolve(source, config: config)
        let model: IntegerModel, safetensors: String
        if cfg.model.kind == .classifier {
            let r = try LoadedRun.load(source, config: config, maxBatch: 1)
            Log.debug("export: \(r.safetensors) with \(r.configPath) (config \(r.config.hashHex)), \(r.spec.description)")
            model = try Folding.fold(r.net, normalization: r.normalization,
                                     info: r.config.modelInfo(source: r.safetensors, model: r.spec.description))
            safetensors = r.safetensors
        } else {
            let r = try LoadedSceneRun.load(source, config: config, maxBatch: 1)
            model = try Folding.fold(r.net, normalization: r.normalization,
                                     info: r.config.modelInfo(source: r.safetensors, model: r.net.kind.rawValue))
            safetensors = r.safetensors
        }
        let path = out ?? ((safetensors as NSString).deletingPathExtension + "." + (format == .onnx ? "onnx" : ModelFile.fileExtension))
        switch format {
        case .onnx:
            return Written(path: path, bytes: try OnnxExport.write(model, to: path), model: model, source: safetensors)
        case .gdqr:
            try ModelFile.write(model, to: path)
            return Written(path: path, bytes: fileSize(path), model: model, source: safetensors)
        }
    }
}
