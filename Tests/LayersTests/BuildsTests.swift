import XCTest
@testable import Layers

final class LayersBuildsTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
