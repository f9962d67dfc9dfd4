import XCTest
@testable import Distributed

final class DistributedBuildsTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
