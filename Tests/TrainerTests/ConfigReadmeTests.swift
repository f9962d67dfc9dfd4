import Foundation
import XCTest
@testable import Trainer

// docs/configuration.md is generated from the config schema (`gdqr config reference`,
// written by Cluster/update-config-reference.sh); this test fails as soon as a key,
// default, range or description changes without the generated file following.
final class ConfigReadmeTests: XCTestCase {
    static let begin = "<!-- BEGIN config reference -->\n", end = "<!-- END config reference -->\n"

    /// The text between the markers, or nil when they are missing or out of order.
    static func generatedPart(of text: String) -> String? {
        guard let b = text.range(of: begin), let e = text.range(of: end, range: b.upperBound..<text.endIndex)
        else { return nil }
        return String(text[b.upperBound..<e.lowerBound])
    }

    func testDocsConfigurationReferenceIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: path, encoding: .utf8)
        guard let inDocs = Self.generatedPart(of: text) else {
            return XCTFail("docs/configuration.md lacks the BEGIN/END config reference markers: "
                           + "run Cluster/update-config-reference.sh")
        }
        let schema = ConfigSchema.markdownReference()
        XCTAssertFalse(schema.isEmpty, "the schema's reference is empty")
        XCTAssertTrue(inDocs == schema,
                      "docs/configuration.md's configuration reference is stale: run Cluster/update-config-reference.sh")
    }

    // The check above can only fail if the extraction sees a changed table: a file with
    // one default edited must not match the schema, and markers out of order find nothing.
    func testStaleOrMalformedReferenceIsDetected() throws {
        let schema = ConfigSchema.markdownReference()
        let current = "# header\n" + Self.begin + schema + Self.end
        XCTAssertEqual(Self.generatedPart(of: current), schema)
        let edited = current.replacingOccurrences(of: "| `checkpoint.zstd_level` | int | `3` |",
                                                  with: "| `checkpoint.zstd_level` | int | `1` |")
        XCTAssertNotEqual(edited, current, "the zstd_level row the test edits is not in the reference")
        XCTAssertNotEqual(Self.generatedPart(of: edited), schema)
        XCTAssertNil(Self.generatedPart(of: Self.end + schema + Self.begin))
        XCTAssertNil(Self.generatedPart(of: schema))
    }
}
