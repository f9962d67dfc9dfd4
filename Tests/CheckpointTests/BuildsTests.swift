import XCTest
@testable import Checkpoint

final class CheckpointBuildsTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
