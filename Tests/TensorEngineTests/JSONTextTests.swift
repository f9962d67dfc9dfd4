import Foundation
import XCTest
import TensorEngine

final class JSONTextTests: XCTestCase {
    func testEscapesAndRoundTripsThroughJSONSerialization() throws {
        let cases = ["", "plain", "quote \" and backslash \\", "line\nfeed\r\ttab", "bell \u{07} nul \u{00} us \u{1f}",
                     "ünïcödé ✓ 𝄞", "layer1.0.conv1.weight"]
        for s in cases {
            let q = JSONText.quoted(s)
            let back = try JSONSerialization.jsonObject(with: Data(q.utf8), options: [.fragmentsAllowed]) as? String
            XCTAssertEqual(back, s, "round trip of \(q)")
        }
        XCTAssertEqual(JSONText.quoted("a\"b\\c\nd\u{01}"), "\"a\\\"b\\\\c\\nd\\u0001\"")
    }
}
