import XCTest
@testable import Datasets

final class DatasetsBuildsTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
