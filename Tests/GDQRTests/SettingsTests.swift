// QuantSettings validation and the policy's group checks.
import XCTest
import Layers
@testable import GDQR

final class SettingsTests: XCTestCase {
    func testDefaultsValidate() throws {
        XCTAssertNoThrow(try QuantSettings().validate())
    }
}
