// Loads a YAML config plus `--set section.key=value` overrides into a validated RunConfig.
//
// Strict: an unknown section or key, a duplicate key, a wrong type, an
// out-of-range value or a bad enum value is a ConfigError naming the file and
// line (or the override), the key, the value and what is allowed.

import Foundation
import Yams

public enum ConfigLoader {
    /// Loads the YAML file at `path`, then applies `overrides` ("section.key=value", in order).
    public static func load(path: String, overrides: [String] = []) throws -> RunConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigError(.io, "\(path): no such config file")
        }
        guard !isDirectory.boolValue else { throw ConfigError(.io, "\(path): is a directory, not a config file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(.io, "\(path): cannot read config file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(.io, "\(path): config file is not valid UTF-8")
        }
        return try load(yaml: text, sourceName: path, overrides: overrides)
    }

    /// Loads YAML text; `sourceName` names it in errors and gives the default run name (its stem).
    public static func load(yaml text: String, sourceName: String, overrides: [String] = []) throws -> RunConfig {
        var r = Resolution(source: sourceName)
        try r.apply(document: text)
        for o in overrides { try r.apply(override: o) }
        try r.crossCheck()
        let yaml = ConfigSchema.canonicalYAML(r.values)
        var read = Set<String>()
        return RunConfig(values: r.values, sourcePath: sourceName, yaml: yaml, read: &read)
    }

    /// The run name a file gives by default: its name without directory and extension.
    public static func defaultName(for sourceName: String) -> String {
        let base = URL(fileURLWithPath: sourceName).deletingPathExtension().lastPathComponent
        return base.isEmpty ? "run" : base
    }
}

/// Values being resolved, with where each was set (for error messages).
struct Resolution {
    let source: String
    var values: [String: ConfigValue]
    /// path -> "file:line" or "--set ..." for values not left at their default.
    var origins: [String: String] = [:]

    init(source: String) {
        self.source = source
        values = ConfigSchema.defaults(runName: ConfigLoader.defaultName(for: source))
    }

    func origin(_ path: String) -> String { origins[path] ?? source }

    func location(_ node: Node) -> String {
        guard let mark = node.mark else { return source }
        return "\(source):\(mark.line)"
    }

    // MARK: The YAML document

    mutating func apply(document text: String) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw Resolution.syntaxError(e, source: source)
        }
        guard let root else { return }
        if Resolution.isNull(root) { return }
        guard case .mapping(let top) = root else {
            throw ConfigError(.wrongType, "\(location(root)): the top level must be a mapping of keys and sections, "
                + "not \(Resolution.display(root))")
        }
        let topSection = ConfigSchema.section(named: "")!
        var seen: [String: Int] = [:]
        for (keyNode, valueNode) in top {
            let name = try keyName(keyNode, in: "")
            try checkDuplicate(name, path: name, keyNode, &seen)
            if let section = ConfigSchema.section(named: name), !name.isEmpty {
                try apply(section: section, valueNode)
            } else if let key = topSection.key(named: name) {
                try set(key, path: name, from: valueNode, at: location(valueNode))
            } else {
                throw ConfigError(.unknownSection, "\(location(keyNode)): unknown section '\(name)'; "
                    + Resolution.validTopLevel)
            }
        }
    }

    private mutating func apply(section: ConfigSection, _ node: Node) throws {
        if Resolution.isNull(node) { return }  // "model:" with nothing under it
        guard case .mapping(let mapping) = node else {
            throw ConfigError(.wrongType, "\(location(node)): '\(section.name)' must be a mapping of keys, not "
                + "\(Resolution.display(node)); valid keys of '\(section.name)': \(Resolution.keyList(section))")
        }
        var seen: [String: Int] = [:]
        for (keyNode, valueNode) in mapping {
            let name = try keyName(keyNode, in: section.name)
            let path = section.path(of: name)
            try checkDuplicate(name, path: path, keyNode, &seen)
            guard let key = section.key(named: name) else {
                throw ConfigError(.unknownKey, "\(location(keyNode)): unknown key '\(path)'"
                    + Resolution.suggestion(name, section) + "; valid keys of '\(section.name)': "
                    + Resolution.keyList(section))
            }
            try set(key, path: path, from: valueNode, at: location(valueNode))
        }
    }

    private func keyName(_ node: Node, in section: String) throws -> String {
        guard case .scalar(let s) = node else {
            let within = section.isEmpty ? "at the top level" : "in '\(section)'"
            throw ConfigError(.wrongType, "\(location(node)): keys must be plain names, found "
                + "\(Resolution.display(node)) \(within)")
        }
        return s.string
    }

    private func checkDuplicate(_ name: String, path: String, _ node: Node, _ seen: inout [String: Int]) throws {
        let line = node.mark?.line ?? 0
        if let first = seen[name] {
            throw ConfigError(.duplicateKey, "\(location(node)): duplicate key '\(path)' (first set on line \(first))")
        }
        seen[name] = line
    }

    private mutating func set(_ key: ConfigKey, path: String, from node: Node, at loc: String) throws {
        values[path] = try Resolution.convert(node, key: key, path: path, at: loc)
        origins[path] = loc
    }

    // MARK: Overrides

    mutating func apply(override spec: String) throws {
        let loc = "--set \(spec)"
        guard let eq = spec.firstIndex(of: "=") else {
            throw ConfigError(.badOverride, "\(loc): expected section.key=value, e.g. --set optim.lr=0.05")
        }
        let path = spec[..<eq].trimmingCharacters(in: .whitespaces)
        let valueText = spec[spec.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        guard !path.isEmpty else {
            throw ConfigError(.badOverride, "\(loc): missing key before '='; expected section.key=value")
        }
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let key: ConfigKey
        switch parts.count {
        case 1:
            if let section = ConfigSchema.section(named: path), !path.isEmpty {
                throw ConfigError(.badOverride, "\(loc): '\(path)' is a section; set one of its keys, "
                    + "section.key=value; valid keys of '\(path)': \(Resolution.keyList(section))")
            }
            guard let k = ConfigSchema.section(named: "")!.key(named: path) else {
                throw ConfigError(.unknownKey, "\(loc): unknown key '\(path)'; " + Resolution.validTopLevel)
            }
            key = k
        case 2:
            guard !parts[0].isEmpty, let section = ConfigSchema.section(named: parts[0]) else {
                throw ConfigError(.unknownSection, "\(loc): unknown section '\(parts[0])'; " + Resolution.validTopLevel)
            }
            guard let k = section.key(named: parts[1]) else {
                throw ConfigError(.unknownKey, "\(loc): unknown key '\(path)'" + Resolution.suggestion(parts[1], section)
                    + "; valid keys of '\(section.name)': \(Resolution.keyList(section))")
            }
            key = k
        default:
            throw ConfigError(.unknownKey, "\(loc): unknown key '\(path)'; keys are 'key' (top level) or 'section.key'")
        }
        guard !valueText.isEmpty else {
            throw ConfigError(.badOverride, "\(loc): missing value after '='")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: valueText)
        } catch let e as YamlError {
            throw ConfigError(.badOverride, "\(loc): value '\(valueText)' is not a valid YAML scalar or flow list "
                + "(\(Resolution.problem(of: e)))")
        }
        let value = node ?? Node.scalar(Node.Scalar(""))
        values[path] = try Resolution.convert(value, key: key, path: path, at: loc)
        origins[path] = loc
    }

    // MARK: Conversion and messages

    /// The resolved tag (Tag.name is not public in Yams 5.0).
    static func tagName(_ node: Node) -> Tag.Name { Tag.Name(rawValue: node.tag.description) }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar(let s) = node, s.style == .plain || s.style == .any, tagName(node) == .null { return true }
        return false
    }

    /// The value as written, for error messages.
    static func display(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.style == .plain && !s.string.isEmpty ? s.string : "\"\(s.string)\""
        case .sequence(let seq): return "[" + seq.map(display).joined(separator: ", ") + "]"
        case .mapping: return "a mapping"
        @unknown default: return "\(node)"
        }
    }

    static func convert(_ node: Node, key: ConfigKey, path: String, at loc: String) throws -> ConfigValue {
        func typeError() -> ConfigError {
            if isNull(node) {
                return ConfigError(.wrongType, "\(loc): '\(path)' has no value; expected \(key.type.expectation)")
            }
            return ConfigError(.wrongType, "\(loc): '\(path)' = \(display(node)) is not \(key.type.expectation)")
        }
        let value: ConfigValue
        switch key.type {
        case .int:
            guard let x = intValue(node) else { throw typeError() }
            value = .int(x)
        case .float:
            guard let x = floatValue(node) else { throw typeError() }
            value = .float(x)
        case .bool:
            guard tagName(node) == .bool, let b = node.bool else { throw typeError() }
            value = .bool(b)
        case .string, .enumeration:
            guard case .scalar(let s) = node, !isNull(node) else { throw typeError() }
            value = .string(s.string)
        case .intList, .floatList, .stringList:
            guard case .sequence(let seq) = node else { throw typeError() }
            var ints: [Int] = [], floats: [Double] = [], strings: [String] = []
            for element in seq {
                switch key.type {
                case .intList:
                    guard let x = intValue(element) else { throw typeError() }
                    ints.append(x)
                case .floatList:
                    guard let x = floatValue(element) else { throw typeError() }
                    floats.append(x)
                default:
                    guard case .scalar(let s) = element, !isNull(element) else { throw typeError() }
                    strings.append(s.string)
                }
            }
            value = key.type == .intList ? .intList(ints) : key.type == .floatList ? .floatList(floats)
                : .stringList(strings)
        }
        if let (kind, problem) = key.problem(with: value) {
            throw ConfigError(kind, "\(loc): '\(path)' = \(display(node)) \(problem)")
        }
        return value
    }

    private static func intValue(_ node: Node) -> Int? {
        guard case .scalar = node, tagName(node) == .int else { return nil }
        return node.int
    }

    private static func floatValue(_ node: Node) -> Double? {
        guard case .scalar = node, tagName(node) == .int || tagName(node) == .float,
              let x = node.float, x.isFinite else { return nil }
        return x
    }

    static var validTopLevel: String {
        let top = ConfigSchema.section(named: "")!.keys.map(\.name).joined(separator: ", ")
        return "valid top-level keys: \(top); valid sections: " + ConfigSchema.sectionNames.joined(separator: ", ")
    }

    static func keyList(_ section: ConfigSection) -> String { section.keys.map(\.name).joined(separator: ", ") }

    /// " (did you mean 'optim.lr'?)" for a near miss, else "".
    static func suggestion(_ name: String, _ section: ConfigSection) -> String {
        let scored = section.keys.map { ($0.name, editDistance(name, $0.name)) }.min { $0.1 < $1.1 }
        guard let (best, d) = scored, d <= max(2, best.count / 3) else { return "" }
        return " (did you mean '\(section.path(of: best))'?)"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }

    static func problem(of e: YamlError) -> String {
        switch e {
        case let .scanner(context, problem, _, _), let .parser(context, problem, _, _),
             let .composer(context, problem, _, _):
            return (context.map { $0.text + ": " } ?? "") + problem
        case let .reader(problem, _, _, _): return problem
        default: return "\(e)"
        }
    }

    static func syntaxError(_ e: YamlError, source: String) -> ConfigError {
        switch e {
        case let .scanner(_, _, mark, yaml), let .parser(_, _, mark, yaml), let .composer(_, _, mark, yaml):
            return ConfigError(.syntax, "\(source):\(mark.line):\(mark.column): YAML syntax error: \(problem(of: e))\n"
                + mark.snippet(from: yaml))
        default:
            return ConfigError(.syntax, "\(source): YAML error: \(e)")
        }
    }

    // MARK: Cross-field checks

    func crossCheck() throws {
        func v(_ p: String) -> ConfigValue { values[p]! }
        func int(_ p: String) -> Int { if case .int(let x) = v(p) { return x }; return 0 }
        func float(_ p: String) -> Double { if case .float(let x) = v(p) { return x }; return 0 }
        func string(_ p: String) -> String { if case .string(let x) = v(p) { return x }; return "" }
        func bool(_ p: String) -> Bool { if case .bool(let x) = v(p) { return x }; return false }
        func fail(_ p: String, _ message: String) -> ConfigError {
            ConfigError(.invalid, "\(origin(p)): '\(p)' = \(ConfigFormat.scalar(v(p))) \(message)")
        }

        try crossCheckModel(int: int, string: string, fail: fail)
        try crossCheckScenes(int: int, float: float, string: string, bool: bool, fail: fail)
        try crossCheckImageFolder(int: int, string: string, list: { v($0) }, fail: fail)
        try crossCheckHeldOutClasses(int: int, string: string, list: { v($0) }, fail: fail)
        let epochs = int("train.epochs")
        if case .intList(let steps) = v("schedule.step_epochs") {
            if zip(steps, steps.dropFirst()).contains(where: { $0 >= $1 }) {
                throw fail("schedule.step_epochs", "must be strictly increasing")
            }
            if let last = steps.last, last >= epochs {
                throw fail("schedule.step_epochs", "has epoch \(last), not < train.epochs (\(epochs))")
            }
        }
        if float("schedule.warmup_epochs") > Double(epochs) {
            throw fail("schedule.warmup_epochs", "exceeds train.epochs (\(epochs))")
        }
        if bool("quant.enabled") {
            let groups = int("quant.groups"), width = int("model.width")
            if width % groups != 0 {
                throw fail("quant.groups", "must divide model.width (\(width)): groups split each layer's output channels")
            }
            let head = int("model.head_channels")
            if string("model.kind") == ModelConfig.Kind.centerNet.rawValue, head % groups != 0 {
                throw fail("quant.groups", "must divide model.head_channels (\(head)): the CenterNet branches' 3x3 convs are grouped too")
            }
            if string("quant.mode") == QuantConfig.Mode.psg.rawValue, float("quant.psg_lambda") <= 0 {
                throw fail("quant.psg_lambda", "must be > 0 when quant.mode is psg")
            }
        } else if int("quant.fp32_phase_epochs") > 0 {
            throw fail("quant.fp32_phase_epochs", "needs quant.enabled: true (the phase is followed by a quantized fine-tune)")
        }
    }
}

extension Resolution {
    /// The scene models and the fashion-scenes dataset go together, and the
    /// composer's settings must describe what the network sees.
    func crossCheckScenes(int: (String) -> Int, float: (String) -> Double, string: (String) -> String,
                          bool: (String) -> Bool, fail: (String, String) -> ConfigError) throws {
        let kind = string("model.kind"), dataset = string("data.dataset")
        let scenes = DataConfig.Dataset.fashionScenes.rawValue
        let isScene = kind != ModelConfig.Kind.classifier.rawValue
        let annotated = dataset == DataConfig.Dataset.coco.rawValue || dataset == DataConfig.Dataset.voc.rawValue
        if isScene && dataset != scenes && !annotated {
            throw fail("model.kind", "needs data.dataset: \(scenes) (boxes and masks come from the scene composer), coco or voc")
        }
        if !isScene && (dataset == scenes || annotated) {
            throw fail("data.dataset", "needs a scene model: model.kind resnet-centernet or resnet-fcn")
        }
        guard isScene else { return }
        if string("model.arch") != ModelConfig.Arch.resnet.rawValue {
            throw fail("model.arch", "must be resnet for model.kind \(kind) (the scene models have a ResNet backbone)")
        }
        if annotated { return try crossCheckAnnotated(int: int, string: string, fail: fail) }
        let size = int("data.scene_size")
        if size % 4 != 0 { throw fail("data.scene_size", "is not a multiple of 4 (the backbone's output stride)") }
        if int("model.image_size") != size {
            throw fail("model.image_size", "must equal data.scene_size (\(size)): the network sees whole scenes")
        }
        if int("model.in_channels") != 1 { throw fail("model.in_channels", "must be 1: scenes are grey") }
        if int("model.num_classes") != 10 {
            throw fail("model.num_classes", "must be 10 for fashion-scenes (the Fashion-MNIST classes; background is extra)")
        }
        if int("data.scene_max_items") < int("data.scene_min_items") {
            throw fail("data.scene_max_items", "is below data.scene_min_items (\(int("data.scene_min_items")))")
        }
        if float("data.scene_max_scale") < float("data.scene_min_scale") {
            throw fail("data.scene_max_scale", "is below data.scene_min_scale (\(float("data.scene_min_scale")))")
        }
        // Augmentation would move the pixels but not the boxes and masks.
        if int("data.crop_padding") != 0 { throw fail("data.crop_padding", "must be 0 for fashion-scenes (no random crops of scenes)") }
        if bool("data.hflip") { throw fail("data.hflip", "must be false for fashion-scenes (no flips of scenes)") }
    }
}

extension Resolution {
    /// image-folder gives grey or RGB images, and per-channel statistics must match the channels.
    func crossCheckImageFolder(int: (String) -> Int, string: (String) -> String, list: (String) -> ConfigValue,
                               fail: (String, String) -> ConfigError) throws {
        let dataset = string("data.dataset")
        guard [DataConfig.Dataset.imageFolder, .coco, .voc].map(\.rawValue).contains(dataset) else { return }
        let channels = int("model.in_channels")
        if channels != 1 && channels != 3 {
            throw fail("model.in_channels", "must be 1 (grey) or 3 (RGB) for data.dataset \(dataset)")
        }
        for key in ["data.channel_mean", "data.channel_std"] {
            if case .floatList(let xs) = list(key), !xs.isEmpty, xs.count != channels {
                throw fail(key, "has \(xs.count) values, expected none or \(channels) (model.in_channels)")
            }
        }
    }
}

extension Resolution {
    /// data.classes names model.num_classes distinct labels of an IDX data set.
    func crossCheckHeldOutClasses(int: (String) -> Int, string: (String) -> String, list: (String) -> ConfigValue,
                                  fail: (String, String) -> ConfigError) throws {
        guard case .intList(let kept) = list("data.classes"), !kept.isEmpty else { return }
        let dataset = string("data.dataset")
        if dataset != DataConfig.Dataset.fashionMNIST.rawValue && dataset != DataConfig.Dataset.idx.rawValue {
            throw fail("data.classes", "applies to data.dataset fashion-mnist or idx, not \(dataset)")
        }
        if Set(kept).count != kept.count { throw fail("data.classes", "names a label twice") }
        if kept.count != int("model.num_classes") {
            throw fail("data.classes", "keeps \(kept.count) labels, but model.num_classes is \(int("model.num_classes"))")
        }
    }
}
