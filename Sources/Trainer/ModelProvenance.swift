// What a model file records of the data it was trained on (the `info` of a .gdqr),
// so that `gdqr eval` and `gdqr infer` score that data and name its classes
// without the run folder.

import Foundation
import Datasets

extension RunConfig {
    /// data.dataset, data.root, data.classes (when set) and, for an image folder, its
    /// class names as a JSON array.
    public var dataInfo: [String: String] {
        var d = ["data.dataset": data.dataset.rawValue, "data.root": data.root]
        if !data.classes.isEmpty { d["data.classes"] = data.classes.map(String.init).joined(separator: ",") }
        if data.dataset == .imageFolder,
           let names = try? ImageFolderIndex.classNames(trainDirectory: data.root + "/train"),
           let json = try? JSONSerialization.data(withJSONObject: names) {
            d["class_names"] = String(decoding: json, as: UTF8.self)
        }
        return d
    }
}
