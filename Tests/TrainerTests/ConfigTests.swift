import Foundation
import XCTest
@testable import Trainer

final class ConfigTests: XCTestCase {
    private let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func load(_ yaml: String, _ overrides: [String] = []) throws -> RunConfig {
        try ConfigLoader.load(yaml: yaml, sourceName: "config.yaml", overrides: overrides)
    }

    /// Asserts that loading fails with `kind` and a message containing every fragment.
    private func assertError(_ yaml: String, _ overrides: [String] = [], kind: ConfigError.Kind,
                             _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            let config = try load(yaml, overrides)
            XCTFail("expected \(kind) error, loaded \(config)", file: file, line: line)
        } catch let error as ConfigError {
            XCTAssertEqual(error.kind, kind, error.description, file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.description.contains(fragment),
                              "'\(error.description)' does not contain '\(fragment)'", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    // MARK: Defaults and typed values

    func testDefaultsLoad() throws {
        let c = try load("")
        XCTAssertEqual(c.name, "config")
        XCTAssertEqual(c.seed, 1)
        XCTAssertEqual(c.model, ModelConfig(arch: .resnet, depth: 20, width: 16, numClasses: 10, inChannels: 1,
                                            imageSize: 28))
        XCTAssertEqual(c.model.resnetBlocksPerStage, 3)
        XCTAssertEqual(c.data.dataset, .fashionMNIST)
        XCTAssertEqual(c.data.root, "/usr/share/datasets/fashion-mnist")
        XCTAssertEqual(c.data.normalizeMean, 0.2860)
        XCTAssertEqual(c.data.normalizeStd, 0.3530)
        XCTAssertTrue(c.data.hflip)
        XCTAssertEqual(c.train.epochs, 30)
        XCTAssertEqual(c.train.batchSize, 128)
        XCTAssertEqual(c.optim.lr, 0.1)
        XCTAssertEqual(c.optim.weightDecay, 5e-4)
        XCTAssertTrue(c.optim.nesterov)
        XCTAssertEqual(c.schedule.kind, .cosine)
        XCTAssertEqual(c.schedule.stepEpochs, [])
        XCTAssertFalse(c.quant.enabled)
        XCTAssertEqual(c.quant.mode, .gdqr)
        XCTAssertEqual(c.quant.firstLayerBits, 8)
        XCTAssertEqual(c.quant.kA, 3.0)
        XCTAssertEqual(c.checkpoint.nonfinite, .stop)
        XCTAssertEqual(c.checkpoint.zstdLevel, 3)
        XCTAssertEqual(c.distributed.bucketMB, 4.0)
        XCTAssertEqual(c.distributed.checksumEvery, 100)
        XCTAssertEqual(c.sourcePath, "config.yaml")
        XCTAssertEqual(c.hashHex.count, 16)
        XCTAssertEqual(c.values.count, ConfigSchema.allPaths.count)
    }

    func testDefaultNameIsFileStem() throws {
        let c = try ConfigLoader.load(yaml: "seed: 3", sourceName: "some/dir/my-run.yaml")
        XCTAssertEqual(c.name, "my-run")
        XCTAssertEqual(c.seed, 3)
    }

    func testEmptySectionAndExplicitValues() throws {
        let c = try load("""
            name: r1
            model:
            train: {epochs: 5, batch_size: 64}
            optim:
              lr: 1          # an int is a valid float
            schedule:
              kind: step
              step_epochs: [2, 4]
            quant:
              enabled: true
              mode: ptq-minmax
              overrides: ["stem.conv:8:8", "fc:32:0"]
            """)
        XCTAssertEqual(c.name, "r1")
        XCTAssertEqual(c.train.epochs, 5)
        XCTAssertEqual(c.train.batchSize, 64)
        XCTAssertEqual(c.optim.lr, 1.0)
        XCTAssertEqual(c.schedule.kind, .step)
        XCTAssertEqual(c.schedule.stepEpochs, [2, 4])
        XCTAssertEqual(c.quant.mode, .ptqMinmax)
        XCTAssertEqual(c.quant.layerOverrides, [LayerBits(layer: "stem.conv", wBits: 8, aBits: 8),
                                                LayerBits(layer: "fc", wBits: 32, aBits: 0)])
        XCTAssertEqual(c.quant.override(forLayer: "fc")?.wBits, 32)
    }

    func testEverySchemaKeyIsReadByRunConfig() {
        var read = Set<String>()
        _ = RunConfig(values: ConfigSchema.defaults(runName: "x"), sourcePath: "x", yaml: "", read: &read)
        XCTAssertEqual(read, Set(ConfigSchema.allPaths))
    }

    // MARK: Errors

    func testUnknownKeyListsValidKeys() {
        assertError("optim:\n  lr: 0.1\n  lerning_rate: 0.1\n", kind: .unknownKey,
                    ["config.yaml:3: unknown key 'optim.lerning_rate'",
                     "valid keys of 'optim': lr, momentum, nesterov, weight_decay, decay_bn_and_bias, grad_clip_norm"])
        assertError("optim:\n  momentun: 0.5\n", kind: .unknownKey, ["did you mean 'optim.momentum'?"])
    }

    func testUnknownSection() {
        assertError("seed: 2\noptimizer:\n  lr: 0.1\n", kind: .unknownSection,
                    ["config.yaml:2: unknown section 'optimizer'", "valid top-level keys: name, seed",
                     "valid sections: model, data, train, optim, schedule, quant, checkpoint, distributed"])
    }

    func testDuplicateKey() {
        assertError("train:\n  epochs: 3\n  epochs: 4\n", kind: .duplicateKey,
                    ["config.yaml:3: duplicate key 'train.epochs' (first set on line 2)"])
    }

    func testWrongType() {
        assertError("train:\n  epochs: many\n", kind: .wrongType,
                    ["config.yaml:2: 'train.epochs' = many is not an integer"])
        assertError("train:\n  epochs: 2.5\n", kind: .wrongType, ["'train.epochs' = 2.5 is not an integer"])
        assertError("train:\n  epochs: \"30\"\n", kind: .wrongType, ["'train.epochs' = \"30\" is not an integer"])
        assertError("optim:\n  nesterov: 1\n", kind: .wrongType, ["'optim.nesterov' = 1 is not a bool"])
        assertError("optim:\n  lr: .nan\n", kind: .wrongType, ["'optim.lr' = .nan is not a number"])
        assertError("optim:\n  lr:\n", kind: .wrongType, ["'optim.lr' has no value; expected a number"])
        assertError("schedule:\n  step_epochs: 10\n", kind: .wrongType,
                    ["'schedule.step_epochs' = 10 is not a list of integers"])
        assertError("schedule:\n  step_epochs: [1, x]\n", kind: .wrongType,
                    ["'schedule.step_epochs' = [1, x] is not a list of integers"])
        assertError("model: resnet\n", kind: .wrongType, ["'model' must be a mapping of keys", "arch, depth"])
        assertError("- a\n- b\n", kind: .wrongType, ["the top level must be a mapping"])
    }

    func testOutOfRange() {
        assertError("train:\n  batch_size: -4\n", kind: .outOfRange,
                    ["config.yaml:2: 'train.batch_size' = -4 is out of range (1 ... 65536)"])
        assertError("optim:\n  lr: 0\n", kind: .outOfRange, ["'optim.lr' = 0 is out of range (> 0, <= 10)"])
        assertError("data:\n  normalize_std: 0.0\n", kind: .outOfRange,
                    ["'data.normalize_std' = 0.0 is out of range (> 0)"])
        assertError("quant:\n  first_layer_bits: 1\n", kind: .outOfRange,
                    ["'quant.first_layer_bits' = 1 is not allowed (0, or 2 ... 32"])
        assertError("schedule:\n  step_epochs: [0, 3]\n", kind: .outOfRange,
                    ["'schedule.step_epochs' = [0, 3] has element 0 that is out of range (>= 1)"])
        assertError("quant:\n  overrides: [\"conv1:9\"]\n", kind: .outOfRange,
                    ["'quant.overrides' = [\"conv1:9\"] has element \"conv1:9\" that is not allowed"])
        assertError("name: ../escape\n", kind: .outOfRange, ["'name' = ../escape is not allowed"])
    }

    func testBadEnumListsChoices() {
        assertError("model:\n  arch: alexnet\n", kind: .badChoice,
                    ["config.yaml:2: 'model.arch' = alexnet is not one of: cnn, resnet, vgg, mobilenetv2"])
        assertError("quant:\n  mode: ptq\n", kind: .badChoice,
                    ["is not one of: gdqr, naive, minmax-groups, ptq-minmax, ptq-search, ptq-easyquant, psg"])
    }

    func testYAMLSyntaxErrorNamesLine() {
        assertError("seed: 1\nmodel:\n  arch: [resnet\n  depth: 20\ntrain:\n  epochs: 3\n", kind: .syntax,
                    ["config.yaml:", "YAML syntax error"])
        assertError("seed: 1\ntrain:\n  epochs: 3\n   batch_size: 4\n", kind: .syntax,
                    ["config.yaml:4:", "YAML syntax error"])
    }

    func testCrossFieldChecks() {
        assertError("model:\n  depth: 21\n", kind: .invalid,
                    ["config.yaml:2: 'model.depth' = 21 is not 6n+2 as model.arch resnet requires"])
        XCTAssertNoThrow(try load("model:\n  arch: cnn\n  depth: 9\n"))
        assertError("model:\n  depth: 52\n", kind: .invalid,
                    ["config.yaml:2: 'model.depth' = 52 is not 6n+2 as model.arch resnet requires (8, 14, 20, 32, 44, 56, 110, ...), nor 18 or 34"])
        XCTAssertNoThrow(try load("model:\n  depth: 50\n  block: bottleneck\n  stem: imagenet\n"))
        assertError("model:\n  depth: 34\n  block: bottleneck\n", kind: .invalid,
                    ["'model.depth' = 34 is not 50, 101 or 152 as model.block bottleneck requires"])
        assertError("model:\n  arch: vgg\n  depth: 20\n", kind: .invalid,
                    ["'model.depth' = 20 is not 7 (VGG-small), 11, 13, 16 or 19 as model.arch vgg requires"])
        assertError("model:\n  arch: vgg\n  depth: 16\n  image_size: 28\n", kind: .invalid,
                    ["'model.image_size' = 28 is below 32: vgg16 halves it 5 times"])
        XCTAssertNoThrow(try load("model:\n  arch: vgg\n  depth: 7\n  image_size: 28\n"))
        assertError("schedule:\n  step_epochs: [20, 10]\n", kind: .invalid,
                    ["'schedule.step_epochs' = [20, 10] must be strictly increasing"])
        assertError("schedule:\n  step_epochs: [10, 30]\n", kind: .invalid,
                    ["'schedule.step_epochs' = [10, 30] has epoch 30, not < train.epochs (30)"])
        assertError("schedule:\n  warmup_epochs: 31\n", kind: .invalid, ["exceeds train.epochs (30)"])
        assertError("quant:\n  enabled: true\n  groups: 3\n", kind: .invalid,
                    ["'quant.groups' = 3 must divide model.width (16)"])
        assertError("quant:\n  fp32_phase_epochs: 5\n", kind: .invalid, ["needs quant.enabled: true"])
    }

    // MARK: --set overrides

    func testOverrides() throws {
        let c = try load("train:\n  epochs: 10\n", [
            "train.epochs=12", "optim.lr=0.05", "optim.nesterov=false", "model.arch=cnn", "name=override-run",
            "schedule.step_epochs=[3, 6]", "quant.overrides=[\"fc:8:8\"]", "seed = 7",
        ])
        XCTAssertEqual(c.train.epochs, 12)
        XCTAssertEqual(c.optim.lr, 0.05)
        XCTAssertFalse(c.optim.nesterov)
        XCTAssertEqual(c.model.arch, .cnn)
        XCTAssertEqual(c.name, "override-run")
        XCTAssertEqual(c.schedule.stepEpochs, [3, 6])
        XCTAssertEqual(c.quant.overrides, ["fc:8:8"])
        XCTAssertEqual(c.seed, 7)
        // Later overrides win.
        XCTAssertEqual(try load("", ["train.epochs=3", "train.epochs=4"]).train.epochs, 4)
        XCTAssertEqual(try load("", ["schedule.step_epochs=[]"]).schedule.stepEpochs, [])
    }

    func testOverrideErrors() {
        assertError("", ["train.epochs"], kind: .badOverride,
                    ["--set train.epochs: expected section.key=value"])
        assertError("", ["=3"], kind: .badOverride, ["missing key before '='"])
        assertError("", ["train.epochs="], kind: .badOverride, ["--set train.epochs=: missing value"])
        assertError("", ["train=3"], kind: .badOverride, ["'train' is a section", "valid keys of 'train': epochs"])
        assertError("", ["optim.lerning_rate=0.1"], kind: .unknownKey,
                    ["--set optim.lerning_rate=0.1: unknown key 'optim.lerning_rate'",
                     "valid keys of 'optim': lr, momentum, nesterov"])
        assertError("", ["optimizer.lr=0.1"], kind: .unknownSection,
                    ["--set optimizer.lr=0.1: unknown section 'optimizer'"])
        assertError("", ["a.b.c=1"], kind: .unknownKey, ["unknown key 'a.b.c'"])
        assertError("", ["train.batch_size=-4"], kind: .outOfRange,
                    ["--set train.batch_size=-4: 'train.batch_size' = -4 is out of range (1 ... 65536)"])
        assertError("", ["train.epochs=abc"], kind: .wrongType, ["--set train.epochs=abc: 'train.epochs' = abc"])
        assertError("", ["schedule.step_epochs=[1, 2"], kind: .badOverride,
                    ["--set schedule.step_epochs=[1, 2: value '[1, 2' is not a valid YAML"])
        assertError("", ["model.depth=21"], kind: .invalid, ["--set model.depth=21: 'model.depth' = 21 is not 6n+2"])
    }

    // MARK: Resolved YAML and hash

    func testResolvedYAMLRoundTrips() throws {
        let c = try load("""
            name: "round-trip"
            optim: {lr: 0.05, weight_decay: 1e-5}
            schedule: {kind: step, step_epochs: [5, 10]}
            quant: {enabled: true, overrides: ["a:8:8", "b:4:32"], k_a: 2.5}
            data: {root: "/tmp/x y: z"}
            """, ["train.threads=2"])
        let yaml = c.resolvedYAML
        for path in ConfigSchema.allPaths {
            let key = path.split(separator: ".").last.map(String.init)!
            XCTAssertTrue(yaml.contains("\(key):"), "resolved YAML lacks \(path)")
        }
        let again = try ConfigLoader.load(yaml: yaml, sourceName: "elsewhere.yaml")
        XCTAssertEqual(again, c)
        XCTAssertEqual(again.hash, c.hash)
        XCTAssertEqual(again.resolvedYAML, yaml)
        XCTAssertEqual(again.name, "round-trip")
        XCTAssertEqual(again.data.root, "/tmp/x y: z")
        XCTAssertEqual(again.optim.weightDecay, 1e-5)
        // Same settings written differently give the same hash.
        let a = try load("optim:\n  lr: 0.1\n")
        let b = try load("optim: {lr: 1.0e-1}\nseed: 1\n")
        XCTAssertEqual(a.hash, b.hash)
    }

    func testResolvedYAMLEscapesQuotedStrings() throws {
        // Quote, backslash, tab, a C0 control, DEL (outside YAML's printable set) and non-ASCII text.
        let c = try load(#"data: {root: "a\"b\\c\td\u0001e\u007Fé"}"#)
        XCTAssertEqual(c.data.root, "a\"b\\c\td\u{01}e\u{7f}é")
        XCTAssertTrue(c.resolvedYAML.contains(#"root: "a\"b\\c\td\u0001e\u007Fé""#), c.resolvedYAML)
        let again = try ConfigLoader.load(yaml: c.resolvedYAML, sourceName: "elsewhere.yaml")
        XCTAssertEqual(again.data.root, c.data.root)
        XCTAssertEqual(again.hash, c.hash)
    }

    func testHashChangesWithAnyValue() throws {
        let base = try load("")
        XCTAssertEqual(base.hash, ConfigHash.fnv1a64(base.yaml))
        XCTAssertNotEqual(try load("", ["optim.lr=0.1000001"]).hash, base.hash)
        XCTAssertNotEqual(try load("", ["seed=2"]).hash, base.hash)
        XCTAssertNotEqual(try load("", ["quant.enabled=true"]).hashHex, base.hashHex)
    }

    func testFNV1aAndHex() {
        XCTAssertEqual(ConfigHash.fnv1a64(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(ConfigHash.fnv1a64("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(ConfigHash.hex(0xab), "00000000000000ab")
    }

    // MARK: Reference and committed configs

    func testMarkdownReferenceContainsEveryKey() {
        let md = ConfigSchema.markdownReference()
        for path in ConfigSchema.allPaths {
            XCTAssertTrue(md.contains("| `\(path)` |"), "reference lacks \(path)")
        }
        for section in ConfigSchema.sectionNames { XCTAssertTrue(md.contains("### `\(section)`")) }
        XCTAssertTrue(md.contains("| `train.batch_size` | int | `128` | 1 ... 65536 |"))
        XCTAssertTrue(md.contains("| `model.arch` | enum | `resnet` | cnn, resnet, vgg, mobilenetv2 |"))
        XCTAssertEqual(md, ConfigSchema.markdownReference(), "reference must be deterministic")
    }

    func testSchemaDefaultsAreValid() throws {
        for section in ConfigSchema.sections {
            for key in section.keys where key.defaultText == nil {
                XCTAssertNil(key.problem(with: key.defaultValue), "default of \(section.path(of: key.name))")
            }
        }
    }

    func testCommittedConfigsLoad() throws {
        let resnet = try ConfigLoader.load(path: repoRoot.appendingPathComponent("configs/fashion-mnist-resnet20-fp32.yaml").path)
        XCTAssertEqual(resnet.name, "fashion-mnist-resnet20-fp32")
        XCTAssertEqual(resnet.model.arch, .resnet)
        XCTAssertEqual(resnet.model.depth, 20)
        XCTAssertEqual(resnet.model.width, 16)
        XCTAssertEqual(resnet.train.epochs, 15)
        XCTAssertEqual(resnet.train.batchSize, 128)
        XCTAssertEqual(resnet.optim.lr, 0.1)
        XCTAssertEqual(resnet.optim.momentum, 0.9)
        XCTAssertTrue(resnet.optim.nesterov)
        XCTAssertEqual(resnet.optim.weightDecay, 5e-4)
        XCTAssertEqual(resnet.schedule.kind, .cosine)
        XCTAssertEqual(resnet.schedule.warmupEpochs, 1)

        let cnn = try ConfigLoader.load(path: repoRoot.appendingPathComponent("configs/fashion-mnist-cnn-fp32.yaml").path,
                                        overrides: ["train.epochs=2"])
        XCTAssertEqual(cnn.name, "fashion-mnist-cnn-fp32")
        XCTAssertEqual(cnn.model.arch, .cnn)
        XCTAssertEqual(cnn.model.width, 32)
        XCTAssertEqual(cnn.train.epochs, 2)
        XCTAssertEqual(cnn.train.batchSize, 128)
        XCTAssertEqual(cnn.optim.lr, 0.05)
        XCTAssertEqual(cnn.schedule.kind, .cosine)
    }

    func testMissingFile() {
        XCTAssertThrowsError(try ConfigLoader.load(path: "/nonexistent/x.yaml")) { error in
            XCTAssertEqual((error as? ConfigError)?.kind, .io)
            XCTAssertEqual("\(error)", "/nonexistent/x.yaml: no such config file")
        }
    }
}
