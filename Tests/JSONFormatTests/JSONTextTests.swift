import Foundation
import XCTest
import JSONFormat

final class JSONTextTests: XCTestCase {
    func testEscapesAndRoundTripsThroughJSONSerialization() throws {
        let cases = ["", "plain", "quote \" and backslash \\", "line\nfeed\r\ttab", "bell \u{07} nul \u{00} us \u{1f} del \u{7f}",
                     "ünïcödé ✓ 𝄞", "layer1.0.conv1.weight"]
        for s in cases {
            let q = JSONText.quoted(s)
            let back = try JSONSerialization.jsonObject(with: Data(q.utf8), options: [.fragmentsAllowed]) as? String
            XCTAssertEqual(back, s, "round trip of \(q)")
        }
        XCTAssertEqual(JSONText.quoted("a\"b\\c\nd\u{01}"), "\"a\\\"b\\\\c\\nd\\u0001\"")
        // The other control characters and DEL as \uXXXX with upper-case hex (the config YAML writes the same).
        XCTAssertEqual(JSONText.quoted("\u{1f}\u{7f}\r\t~"), #""\u001F\u007F\r\t~""#)
    }
}
