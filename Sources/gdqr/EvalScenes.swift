// `gdqr eval` on a scene model (a .gdqr whose task is centernet or segmentation):
// the report of ModelTools/SceneEval.swift, printed.

import Foundation
import IntegerInference
import ModelTools

extension Eval {
    func evaluateScenes(_ request: EvalRequest, _ m: IntegerModel) throws {
        let (report, headlineKeys, parity) = try SceneEval.run(m, request)
        if json { return try printJSON(report) }
        print("\(model): \(report["task"]!), \(report["source"]!), batch \(report["batch"]!), \(report["threads"]!) threads, \(arithmetic) GEMM")
        func line(_ name: String, _ metrics: [String: Any], _ rate: Any?) {
            let parts = headlineKeys.map { "\($0) \(String(format: "%.4f", metrics[$0] as? Double ?? .nan))" }
            print("\(name) \(parts.joined(separator: "  "))  \(String(format: "%.0f", rate as? Double ?? 0)) images/s")
        }
        line("integer engine:  ", report["integer"] as! [String: Any], report["images_per_second_integer"])
        if let fq = report["fakequant"] as? [String: Any] {
            line("fake-quant float:", fq, report["images_per_second_fakequant"])
            print(String(format: "largest metric difference %.4f", report["max_metric_difference"] as! Double))
            parity?.printRows()
        }
        if let path = report["coco_results"] { print("wrote \(report["coco_detections"]!) detections to \(path)") }
    }
}
