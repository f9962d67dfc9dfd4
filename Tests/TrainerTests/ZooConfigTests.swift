// The standard networks' configs: each loads, describes the layout the PyTorch
// reference counts (Tests/fixtures/zoo-shapes.json, see LayersTests/ZooShapeTests),
// resizes Fashion-MNIST to 32x32, and the W4A4 one quantizes every conv with 4
// groups (the policy throws when a group count does not divide a layer's channels).

import Foundation
import XCTest
import GDQR
import Layers
@testable import Trainer

final class ZooConfigTests: XCTestCase {
    private let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testStandardNetworkConfigsLoadAndQuantize() throws {
        // Config name, fixture network, parameter count from zoo-shapes.json.
        let expected: [(String, ModelSpec.Arch, Int)] = [
            ("vgg-small", .vgg, 4_659_594), ("resnet18", .resnet, 11_172_810),
            ("resnet50", .resnet, 23_519_690), ("mobilenetv2", .mobilenetv2, 2_236_106),
        ]
        for (name, arch, parameters) in expected {
            for precision in ["fp32", "w4a4"] {
                let path = repoRoot.appendingPathComponent("configs/fashion-mnist-\(name)-\(precision).yaml").path
                let c = try ConfigLoader.load(path: path)
                XCTAssertEqual(c.name, "fashion-mnist-\(name)-\(precision)")
                let spec = c.modelSpec
                XCTAssertEqual(spec.arch, arch, name)
                XCTAssertEqual(spec.input, FeatureShape(1, 32, 32), name)
                XCTAssertTrue(c.data.resize, name)
                XCTAssertEqual(c.quant.enabled, precision == "w4a4", name)
                let counts = GDQRPolicy.weightLayers(of: spec)
                XCTAssertEqual(counts.first?.position, .first, name)
                XCTAssertEqual(counts.last?.position, .last, name)
                let net = Network(spec, maxBatch: 1, threads: 1, seed: 0)
                XCTAssertEqual(net.arena.params.reduce(0) { $0 + $1.count }, parameters, name)
                if precision == "w4a4" {
                    let policy = try TrainingPipeline.policy(for: c, spec: spec)
                    XCTAssertEqual(policy.settings.groups, 4, name)
                }
            }
        }
    }
}
