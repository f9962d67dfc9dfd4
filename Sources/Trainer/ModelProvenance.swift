// What a model file records of the run that made it (the `info` of a .gdqr), so that
// `gdqr eval` and `gdqr infer` score the data it was trained on and name its classes
// without the run folder; and the input normalisation every path that feeds or folds
// the model uses (training, the folded integer model, evaluation).

import Foundation
import Datasets

extension RunConfig {
    /// data.dataset, data.root, data.classes (when set) and, for an image folder, its
    /// class names as a JSON array.
    public var dataInfo: [String: String] {
        var d = ["data.dataset": data.dataset.rawValue, "data.root": data.root]
        if !data.classes.isEmpty { d["data.classes"] = data.classes.map(String.init).joined(separator: ",") }
        // Written only when set, so that the files of runs without it keep their bytes.
        if data.resize && data.dataset != .imageFolder { d["data.resize"] = "true" }
        if data.dataset == .imageFolder,
           let names = try? ImageFolderIndex.classNames(trainDirectory: data.root + "/train"),
           let json = try? JSONSerialization.data(withJSONObject: names) {
            d["class_names"] = String(decoding: json, as: UTF8.self)
        }
        return d
    }
}

extension RunConfig {
    /// The normalisation of the model's input: data.channel_mean / channel_std for the
    /// decoded sets (image-folder, coco, voc) when given, else the scalars data.normalize_mean / normalize_std; when
    /// only one of the two is per channel, the other is repeated for every channel.
    public var normalization: Normalization {
        let d = data, f = d.folder, perChannel = d.dataset.decodesFiles
        var mean = f.channelMean.isEmpty || !perChannel ? [Float(d.normalizeMean)] : f.channelMean.map(Float.init)
        var std = f.channelStd.isEmpty || !perChannel ? [Float(d.normalizeStd)] : f.channelStd.map(Float.init)
        if mean.count == 1 && std.count > 1 { mean = [Float](repeating: mean[0], count: std.count) }
        if std.count == 1 && mean.count > 1 { std = [Float](repeating: std[0], count: mean.count) }
        return Normalization(mean: mean, std: std)
    }

    /// The provenance a folded model records: the safetensors it came from, this
    /// config's hash, the model's description, the bit widths and the data (`dataInfo`).
    public func modelInfo(source: String, model: String) -> [String: String] {
        ["source": source, "config_hash": hashHex, "model": model, "quant": TrainingPipeline.bitsTag(self)]
            .merging(dataInfo) { a, _ in a }
    }
}
