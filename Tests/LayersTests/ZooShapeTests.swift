// The standard networks against the PyTorch reference definitions
// (Tests/fixtures/zoo_models.py, checked there against torchvision's published
// parameter counts): Tests/fixtures/make_zoo_fixtures.py recorded, for each
// network at 1x32x32 with 10 classes, every state tensor's name and shape, the
// parameter count, the multiply-accumulates of one forward and the logits shape.
// All are integers: compared exactly.

import XCTest
import Foundation
@testable import Layers

final class ZooShapeTests: XCTestCase {
    struct Fixture: Decodable {
        struct Network: Decodable {
            struct Config: Decodable {
                var arch: String
                var depth: Int?
                var width: Int?
                var block: String?
                var stem: String?
                var width_mult: Double?
                var classifier: [Int]?
            }
            var config: Config
            var state: [StateEntry]
            var parameters: Int
            var macs: Int
            var logits: [Int]
        }
        /// [name, shape] pairs.
        struct StateEntry: Decodable {
            var name: String
            var shape: [Int]
            init(from decoder: Decoder) throws {
                var c = try decoder.unkeyedContainer()
                name = try c.decode(String.self)
                shape = try c.decode([Int].self)
            }
        }
        var image_size: Int
        var in_channels: Int
        var num_classes: Int
        var networks: [String: Network]
    }

    static func fixture() throws -> Fixture {
        let url = PyTorchStepTests.fixtures.appendingPathComponent("zoo-shapes.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testEveryNetworkHasPyTorchShapesCountsAndMACs() throws {
        let fx = try Self.fixture()
        XCTAssertEqual(fx.networks.count, 10)
        for (name, want) in fx.networks.sorted(by: { $0.key < $1.key }) {
            let c = want.config
            let spec = ModelSpec(arch: try XCTUnwrap(ModelSpec.Arch(rawValue: c.arch)), depth: c.depth ?? 20,
                                 width: c.width ?? 16, numClasses: fx.num_classes,
                                 input: FeatureShape(fx.in_channels, fx.image_size, fx.image_size),
                                 block: ModelSpec.Block(rawValue: c.block ?? "basic")!,
                                 stem: ModelSpec.Stem(rawValue: c.stem ?? "cifar")!,
                                 widthMultiplier: c.width_mult ?? 1, classifier: c.classifier ?? [])
            let net = Network(spec, maxBatch: 1, threads: 1, seed: 0)
            let mine = net.arena.namedTensors.map { [$0.entry.name: $0.entry.shape] }
            let theirs = want.state.map { [$0.name: $0.shape] }
            XCTAssertEqual(Set(mine.map(\.keys.first!)), Set(theirs.map(\.keys.first!)), "\(name): state names")
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: mine.map { ($0.keys.first!, $0.values.first!) }),
                           Dictionary(uniqueKeysWithValues: theirs.map { ($0.keys.first!, $0.values.first!) }),
                           "\(name): state shapes")
            // Parameters are registered in PyTorch's order (the arena's checkpoint order).
            let paramNames = Set(net.arena.params.map(\.name))
            XCTAssertEqual(net.arena.params.map(\.name), want.state.map(\.name).filter { paramNames.contains($0) },
                           "\(name): parameter order")
            XCTAssertEqual(net.arena.params.reduce(0) { $0 + $1.count }, want.parameters, "\(name): parameters")
            XCTAssertEqual(net.macsPerSample, want.macs, "\(name): MACs")
            XCTAssertEqual([net.body.outputShape.channels], want.logits, "\(name): logits")
        }
    }
}
