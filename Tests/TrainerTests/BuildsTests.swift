import XCTest
@testable import Trainer

final class TrainerBuildsTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
