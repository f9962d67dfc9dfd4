// `gdqr eval MODEL --ood SET ...`: the report of ModelTools/OODEval.swift, saved with
// --save and printed as JSON or as a table.

import Foundation
import ModelTools

extension Eval {
    func runOOD(_ request: EvalRequest) throws {
        let report = try OODEval.run(request)
        let bytes = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        if let save {
            do { try bytes.write(to: URL(fileURLWithPath: save)) } catch {
                throw ToolError("\(save): cannot write: \(error.localizedDescription)")
            }
        }
        if json { return print(String(decoding: bytes, as: UTF8.self)) }
        let data = report["data"] as! [String: Any], id = report["in_distribution"] as! [String: Any]
        let fit = report["mahalanobis_fit"] as! [String: Any]
        print("\(model): \(report["model_kind"]!) model; data from \(data["origin"]!)")
        print("in-distribution: \(id["images"]!) images of \(id["source"]!), accuracy "
              + String(format: "%.2f%%", 100 * (id["accuracy"] as! Double)))
        print("Mahalanobis fit: \(fit["images"]!) images of \(fit["source"]!), \(fit["features"]!) features (rank \(fit["covariance_rank"]!))")
        print("set                  score        AUROC   AUPR-in  AUPR-out  FPR95")
        for set in report["ood"] as! [[String: Any]] {
            let m = set["scores"] as! [String: [String: Any]]
            for name in OODEval.scoreNames {
                let r = m[name]!
                let cols = ["auroc", "aupr_in", "aupr_out", "fpr95"].map { String(format: "%6.4f", r[$0] as! Double) }
                print(pad(set["name"] as! String, 20) + " " + pad(name, 11) + " " + cols.joined(separator: "   "))
            }
        }
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}
