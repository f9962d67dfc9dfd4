import Foundation
import XCTest
@testable import Trainer

// README.md's configuration reference is generated from the schema
// (`gdqr config reference`, written in place by Cluster/update-config-reference.sh);
// this test fails as soon as a key, default, range or description changes without
// the README following.
final class ConfigReadmeTests: XCTestCase {
    func testReadmeConfigReferenceIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = "<!-- BEGIN config reference -->\n", end = "<!-- END config reference -->\n"
        guard let b = readme.range(of: begin), let e = readme.range(of: end), b.upperBound <= e.lowerBound else {
            return XCTFail("README.md lacks the BEGIN/END config reference markers")
        }
        let inReadme = String(readme[b.upperBound..<e.lowerBound])
        XCTAssertTrue(inReadme == ConfigSchema.markdownReference(),
                      "README.md's configuration reference is stale: run Cluster/update-config-reference.sh")
    }
}
